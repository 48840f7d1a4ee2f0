"""sync/sources/ready.py: the key an invalid_hash skip names, read from the warehouse's user_data text."""
from __future__ import annotations

import hashlib

from sync.sources.ready import _first_bad_key

H = hashlib.sha256(b"x").hexdigest()


def test_the_first_entry_that_is_not_a_hash_names_the_skip():
    assert _first_bad_key(f'{{"em":["{H}"],"ph":["{H}"],"fn":"{H}","external_id":["{H}"]}}'.encode()) is None
    assert _first_bad_key(f'{{"em":["{H}"],"fn":"Mary","zp":"94035"}}'.encode()) == "fn"
    assert _first_bad_key(f'{{"em":["{H.upper()}"]}}'.encode()) == "em"
    assert _first_bad_key(f'{{"ph":["{H}0"]}}'.encode()) == "ph"
    # a raw value holding quotes is never read past: its own key is named
    assert _first_bad_key(f'{{"em":["a"],"ph":["{H}"]}}'.encode()) == "em"
    assert _first_bad_key(f'{{"ct":"{H}","country":"a\\"b"}}'.encode()) == "country"
    assert _first_bad_key('{"country":"ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé"}'.encode()) == \
        "country"


def test_a_text_that_is_not_an_object_of_the_contracts_entries_names_user_data():
    for text in ("{}", f'{{"zz":"{H}"}}', f'["{H}"]', f'{{"fn":"{H}","em":["{H}"]}}', f'{{"fn":"{H}"}} ',
                 f'{{"fn":"{H}",}}', f'{{"em":"{H}"}}'):
        assert _first_bad_key(text.encode()) == "user_data", text
    assert _first_bad_key(f'{{"fn":"{H}","em":["{H}"]}}'.encode()) == "user_data"   # keys out of order
    assert _first_bad_key(b"{}") == "user_data"


def test_external_id_as_given_checks_only_external_id_differently():
    from sync.sources.ready import _bad_keys
    import pyarrow as pa
    rows = [f'{{"em":["{H}"],"external_id":["Amp-é 1"]}}', '{"external_id":["a\\"b"]}', '{"external_id":[""]}',
            '{"fn":"Mary","external_id":["x"]}', '{"external_id":["' + "é" * 256 + '"]}',
            '{"external_id":["' + "é" * 257 + '"]}', '{"external_id":["a\x01"]}', f'{{"external_id":["{H}"]}}']
    array = pa.array([r.encode() for r in rows], pa.binary())
    assert _bad_keys(array, True) == {1: "external_id", 2: "external_id", 3: "fn", 5: "external_id", 6: "external_id"}
    assert _bad_keys(array, False) == {i: ("fn" if i == 3 else "external_id") for i in range(7)}


def test_the_invalid_hash_message_says_what_the_value_must_be():
    """One check, one reason: the message names a hash, or for external_id under as_given the
    raw id the sync takes (and never tells an as_given external_id to be a hash)."""
    from sync.contract import invalid_hash_message
    hashed = "a lowercase hex SHA-256; raw personal data is never sent"
    assert invalid_hash_message("em") == invalid_hash_message("em", True) == f"user_data em is not {hashed}"
    assert invalid_hash_message("external_id") == f"user_data external_id is not {hashed}"
    assert invalid_hash_message("external_id", True) == (
        "user_data external_id is not an id as given (source.external_id: as_given): 1 to 256 characters, none a "
        "quote, backslash, control character or U+FFFD")


def test_ready_page_skips_name_the_key_with_the_settings_message():
    import pyarrow as pa
    from sync.events import EventSettings
    from sync.sources.ready import ready_page
    texts = ['{"external_id":["a\\"b"]}', '{"fn":"Mary","external_id":["x"]}', '{"external_id":["Amp 1"]}']
    n = len(texts)
    page = {"event_id": pa.array([f"e{i}" for i in range(n)]), "order_id": pa.array([f"o{i}" for i in range(n)]),
            "event_time": pa.array([1] * n, pa.int64()), "_cursor": pa.array([1] * n, pa.int64()),
            "_copies": pa.array([1] * n, pa.int64()), "_skip": pa.array([None] * n, pa.string()),
            "action_source": pa.array(["physical_store"] * n), "value": pa.array([1.0] * n),
            "_user_data": pa.array(texts), "_head": pa.array(['{"event_name":"Purchase"'] * n),
            "_custom_data": pa.array(['{"value":1.0}'] * n)}
    as_given = ready_page(page, EventSettings(now=10, external_id_as_given=True), set())
    assert as_given.skips == {
        0: ("invalid_hash", "user_data external_id is not an id as given (source.external_id: as_given): 1 to 256 "
                            "characters, none a quote, backslash, control character or U+FFFD"),
        1: ("invalid_hash", "user_data fn is not a lowercase hex SHA-256; raw personal data is never sent")}
    assert as_given.encoded.to_pylist()[2] == (b'{"event_name":"Purchase","user_data":{"external_id":["Amp 1"]},'
                                               b'"custom_data":{"value":1.0}}')
    hashed = ready_page(page, EventSettings(now=10), set())
    assert hashed.skips[2] == ("invalid_hash",
                               "user_data external_id is not a lowercase hex SHA-256; raw personal data is never sent")
    assert hashed.encoded.to_pylist() == [None, None, None]
