"""The check that keeps raw personal data out of a request: every `user_data` text the warehouse
wrote must be `{ENTRY,...}`, one to eleven entries `"KEY":["HASH"]` (em, ph, external_id) or
`"KEY":"HASH"`, the keys in USER_DATA_COLUMNS order, each at most once, HASH 64 lowercase hex.
Checked for a whole page on the Arrow buffers with numpy, one step per key over all rows; a
page that fails is read row by row by sync/sources/ready.py to name each bad row's key.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.contract import AS_GIVEN_MAX_LENGTH
from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS, value_offsets

_HEX = frozenset(b"0123456789abcdef")
# Per key (in USER_DATA_COLUMNS order): the entry's bytes before its value, `"em":["`
_PREFIX = [(f'"{k}":["' if k in ARRAY_USER_KEYS else f'"{k}":"').encode() for k in USER_DATA_COLUMNS]
_PREFIX_LEN = np.array([len(p) for p in _PREFIX], np.int64)
_ARRAY = np.array([k in ARRAY_USER_KEYS for k in USER_DATA_COLUMNS], np.int64)
# The prefix as two little-endian 64-bit words and the masks of its bytes (at most 16 bytes).
_WIDTH = 16
assert max(len(p) for p in _PREFIX) <= _WIDTH
_template = np.zeros((len(_PREFIX), _WIDTH), np.uint8)
_mask = np.zeros((len(_PREFIX), _WIDTH), np.uint8)
for _i, _p in enumerate(_PREFIX):
    _template[_i, :len(_p)] = np.frombuffer(_p, np.uint8)
    _mask[_i, :len(_p)] = 0xFF
_WORDS = _template.view("<u8")                 # (keys, 2)
_WORD_MASKS = _mask.view("<u8")
# From an entry's first byte to the `,` or `}` after it.
_ENTRY_LEN = _PREFIX_LEN + 64 + 1 + _ARRAY
# Bytes of an entry that are not hex digits: its prefix's, the closing `"` (and `]`), the `,` or `}`.
_NOT_HEX = np.array([sum(b not in _HEX for b in p) for p in _PREFIX], np.int64) + 1 + _ARRAY + 1
_OPEN, _CLOSE, _COMMA, _QUOTE, _BRACKET = (np.uint8(ord(c)) for c in '{},"]')
_ZERO, _LOWER_A = np.uint8(ord("0")), np.uint8(ord("a"))


# source.external_id: as_given. The raw id the sync accepts: 1 to 256 characters, none a quote,
# backslash or control character (the warehouse writes it into the JSON text unescaped).
AS_GIVEN_VALUE = '[^"\\\\\\x00-\\x1f\\x7f\ufffd]{1,%d}' % AS_GIVEN_MAX_LENGTH
# external_id is the last key: its entry ends the object.
_AS_GIVEN_ENTRY = r'(^\{|,)"external_id":\["' + AS_GIVEN_VALUE + r'"\]\}$'
_STAND_IN = r'\1"external_id":["' + "0" * 64 + '"]}'


def as_given_stand_in(values: pa.Array) -> pa.Array:
    """`values` (binary) with every acceptable raw external_id replaced by a stand-in hash, so
    that `all_hashed_user_data` then checks every other key as usual."""
    try:   # as UTF-8 text, so that the length counts characters
        text = values.cast(pa.string())
    except pa.ArrowInvalid:   # not UTF-8: left for the row by row check to name
        return values
    return pc.replace_substring_regex(text, pattern=_AS_GIVEN_ENTRY, replacement=_STAND_IN).cast(pa.binary())


def all_hashed_user_data(values: pa.Array) -> bool:
    """Every non-NULL value of `values` (binary) is a user_data object of hashed identifiers,
    exactly as the sync's reference writes it (module docstring); NULLs are fine."""
    return hashed_user_data_keys(values) is not None


def hashed_user_data_keys(values: pa.Array) -> np.ndarray | None:
    """Per row, a bit per key its user_data holds (bit i: USER_DATA_COLUMNS[i]; 0 for NULL) when
    `all_hashed_user_data(values)`; else None."""
    if values.type != pa.binary():
        values = values.cast(pa.binary())
    n = len(values)
    bits = np.zeros(n, np.uint16)
    present = n - values.null_count
    if present == 0:
        return bits
    offsets = value_offsets(values).astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    rows = slice(None)
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if (starts[~valid] != ends[~valid]).any():   # a NULL slot holding bytes
            return None
        starts, ends, rows = starts[valid], ends[valid], np.flatnonzero(valid)
    base = int(offsets[0])
    size = int(offsets[-1]) - base
    data = np.frombuffer(values.buffers()[2], np.uint8, size, base)
    starts, ends = starts - base, ends - base
    if ((ends - starts) < 2 + int(_ENTRY_LEN.min())).any():   # `{`, the shortest entry, `}`
        return None
    if (data[starts] != _OPEN).any() or (data[ends - 1] != _CLOSE).any():
        return None
    # Little-endian 64-bit words starting at every byte (unaligned, read in place).
    words = np.ndarray((size - 7,), "<u8", values.buffers()[2], base, strides=(1,))
    last = size - 16    # the highest position whose two words are inside the buffer
    at = starts + 1     # per row, where its next entry starts
    bad = np.zeros(len(at), np.bool_)
    found_bits = np.zeros(len(at), np.uint16)
    not_hex = present   # the `{` of every row
    # One step per key, in order, over all rows at once; a row whose next entry is that key moves past it.
    for key in range(len(USER_DATA_COLUMNS)):
        here = np.minimum(at, last)
        found = ((words[here] & _WORD_MASKS[key, 0]) == _WORDS[key, 0]) & (at <= last)
        if _WORD_MASKS[key, 1]:                      # a prefix longer than 8 bytes
            found &= (words[here + 8] & _WORD_MASKS[key, 1]) == _WORDS[key, 1]
        end = at + _ENTRY_LEN[key]                   # the `,` or `}` after the entry
        inside = np.minimum(end, size - 1)           # (read in bounds; `end < ends` is required below)
        after = data[inside]
        closed = data[inside - 1] == (_BRACKET if _ARRAY[key] else _QUOTE)
        if _ARRAY[key]:
            closed &= data[inside - 2] == _QUOTE
        bad |= found & ~((end < ends) & closed & ((after == _COMMA) | ((after == _CLOSE) & (end == ends - 1))))
        at = np.where(found, end + 1, at)
        found_bits |= found.astype(np.uint16) << np.uint16(key)
        not_hex += int(_NOT_HEX[key]) * int(np.count_nonzero(found))
    if bad.any() or not np.array_equal(at, ends):   # every row ends right after its last entry's `}`
        return None
    # Every byte is now the skeleton's or a value's: all values are hex iff the non-hex bytes are the skeleton's.
    if size - hex_digit_count(data) != not_hex:
        return None
    bits[rows] = found_bits
    return bits


_BLOCK = 1 << 18   # bytes per step of the hex count: its scratch arrays stay in the CPU's cache


def hex_digit_count(data: np.ndarray) -> int:
    """How many bytes of `data` are 0-9 or a-f (a byte is a digit when byte - '0' < 10, a
    lowercase hex letter when byte - 'a' < 6, uint8 wrapping around)."""
    block = min(_BLOCK, len(data))
    shifted, digit, letter = np.empty(block, np.uint8), np.empty(block, np.bool_), np.empty(block, np.bool_)
    count = 0
    for start in range(0, len(data), block):
        part = data[start:start + block]
        k = len(part)
        np.subtract(part, _ZERO, out=shifted[:k])
        np.less(shifted[:k], 10, out=digit[:k])
        np.subtract(part, _LOWER_A, out=shifted[:k])
        np.less(shifted[:k], 6, out=letter[:k])
        np.logical_or(digit[:k], letter[:k], out=digit[:k])
        count += int(np.count_nonzero(digit[:k]))
    return count
