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
