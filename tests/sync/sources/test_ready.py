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
