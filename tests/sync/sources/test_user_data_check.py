"""`all_hashed_user_data`: exactly the user_data texts the sync's reference writes for hashed
identifiers pass; anything else, one byte off, fails."""
from __future__ import annotations

import hashlib
import random
import re

import orjson
import pyarrow as pa
import pytest

from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS
from sync.sources.user_data_check import all_hashed_user_data


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def user_data(keys, seed: str = "") -> bytes:
    """The reference's bytes: orjson over the dict build_events makes."""
    return orjson.dumps({k: [sha(k + seed)] if k in ARRAY_USER_KEYS else sha(k + seed) for k in keys})


ALL = user_data(USER_DATA_COLUMNS)
# The language the reference writes (the slow, obvious check): this regular expression, with
# the keys in USER_DATA_COLUMNS order, each at most once.
_ENTRY = (rb'"(?:em|ph|external_id)":\["[0-9a-f]{64}"\]|"(?:fn|ln|db|ge|ct|st|zp|country)":"[0-9a-f]{64}"')
_REGEX = re.compile(rb"\{(?:" + _ENTRY + rb")(?:,(?:" + _ENTRY + rb")){0,10}\}")
_KEY = re.compile(rb'"([a-z_]+)":')


def reference_format(text: bytes) -> bool:
    if not _REGEX.fullmatch(text):
        return False
    order = [USER_DATA_COLUMNS.index(k.decode()) for k in _KEY.findall(text)]
    return order == sorted(set(order))


def check(*values) -> bool:
    return all_hashed_user_data(pa.array(list(values), pa.binary()))


def test_every_key_alone_and_all_together_pass():
    for key in USER_DATA_COLUMNS:
        assert check(user_data([key])), key
    assert check(ALL, user_data(["em", "country"]), user_data(["external_id"]), user_data(["ph", "zp"]))
    assert check(None, ALL, None)
    assert check() and check(None) and all_hashed_user_data(pa.array([], pa.string()))
    assert all_hashed_user_data(pa.array([ALL.decode()], pa.string()))


@pytest.mark.parametrize("text", [
    b"{}", b"", b"null", b'{"em":[]}',
    b'{"em":["jane.doe@example.com"]}',
    user_data(["em"]).replace(b"[", b"").replace(b"]", b""),           # em not as an array
    user_data(["fn"]).replace(b':"', b':["').replace(b'"}', b'"]}'),    # fn as an array
    user_data(["em"]).upper(),
    user_data(["em"])[:-4] + b'"]}',                                   # 63 hex digits
    user_data(["em"])[:-3] + b'0"]}',                                  # 65
    user_data(["em"]).replace(b'"em"', b'"EM"'),
    user_data(["em"]).replace(b'"em"', b'"email"'),
    user_data(["country"]).replace(b'"country"', b'"countrx"'),
    user_data(["em"]) + b" ",
    b" " + user_data(["em"]),
    user_data(["em", "ph"]).replace(b",", b", "),
    user_data(["em", "ph"]).replace(b"],", b"]"),
    ALL[:-1] + b',"em":["' + sha("x").encode() + b'"]}',               # twelve entries
    user_data(["ph"])[:-1] + b"," + user_data(["em"])[1:],              # keys out of order
    user_data(["fn"])[:-1] + b"," + user_data(["fn"], "2")[1:],         # a key twice
])
def test_anything_else_fails(text):
    assert not reference_format(text)
    assert not check(text)
    assert not check(ALL, text, ALL)


def test_a_null_slot_holding_bytes_fails_and_a_slice_counts_only_its_rows():
    good = pa.array([ALL, ALL], pa.binary())
    with_null = pa.Array.from_buffers(pa.binary(), 2, [pa.py_buffer(b"\x01"), *good.buffers()[1:]])
    assert with_null.null_count == 1 and not all_hashed_user_data(with_null)
    array = pa.array([b"raw", ALL, user_data(["ph"]), b"raw"], pa.binary())
    assert all_hashed_user_data(array.slice(1, 2))
    assert not all_hashed_user_data(array.slice(0, 2)) and not all_hashed_user_data(array.slice(2, 2))


def test_one_byte_off_anywhere_agrees_with_the_regular_expression():
    """Random edits of reference texts (a byte replaced, removed, inserted, two swapped),
    among valid rows: the check and the obvious regular expression agree on every one."""
    rng = random.Random(20261122)
    texts = [user_data(rng.sample(USER_DATA_COLUMNS, rng.randint(1, 11)), str(i)) for i in range(40)]
    texts = [orjson.dumps(dict(sorted(orjson.loads(t).items(), key=lambda kv: USER_DATA_COLUMNS.index(kv[0]))))
             for t in texts]
    agreed = accepted = 0
    for _ in range(2000):
        text = bytearray(rng.choice(texts))
        i, j = rng.randrange(len(text)), rng.randrange(len(text))
        edit = rng.randrange(4)
        if edit == 0:
            text[i] = rng.choice(b'0aAf9gZ"{},:[] \\\x00\xff')
        elif edit == 1:
            del text[i]
        elif edit == 2:
            text.insert(i, rng.choice(b'0a"{},:[] '))
        else:
            text[i], text[j] = text[j], text[i]
        at = rng.randrange(len(texts))
        array = pa.array(texts[:at] + [bytes(text), None] + texts[at:], pa.binary())
        want = reference_format(bytes(text))
        assert all_hashed_user_data(array) is want, bytes(text)
        agreed += 1
        accepted += want
    assert agreed == 2000 and 0 < accepted < 1000   # some edits keep the text valid (a hex digit for another)


def test_the_check_gives_each_rows_match_keys():
    """`hashed_user_data_keys`: per row the bits of the keys its text holds (0 for NULL), the same
    as `key_bits` finds in the text; None when any row fails the check."""
    from sync.match_keys import key_bits
    from sync.sources.user_data_check import hashed_user_data_keys
    rng = random.Random(7)
    rows = [None if rng.random() < 0.1 else
            user_data([k for k in USER_DATA_COLUMNS if rng.random() < 0.5] or ["zp"], seed=str(i)) for i in range(300)]
    array = pa.array(rows, pa.binary())
    bits = hashed_user_data_keys(array)
    want = [0 if text is None else sum(1 << USER_DATA_COLUMNS.index(k.decode()) for k in _KEY.findall(text))
            for text in rows]
    assert bits.tolist() == want == key_bits(array).tolist()
    assert hashed_user_data_keys(array.slice(5, 40)).tolist() == want[5:45]
    assert hashed_user_data_keys(pa.array([ALL, b'{"em":["jane@example.com"]}'], pa.binary())) is None
