"""The check that keeps raw personal data out of a request when `user_data` comes from the warehouse.

A DuckDB table written by dbt holds each event's `user_data` object as JSON text, column
`user_data_json` (dbt_project/macros/conversions_api/user_data_json.sql), so a sync does not
rebuild it from the eleven hashed columns on every read. The text is sent as-is, so before a
chunk's events are sent every value of that column must be exactly what the sync's reference
writes for hashed identifiers (sync/events.py `build_events` + orjson):

    {ENTRY,ENTRY,...}    one to eleven entries, each `"KEY":["HASH"]` for em, ph and
                         external_id, `"KEY":"HASH"` for the other keys of USER_DATA_COLUMNS,
                         HASH 64 lowercase hex characters

`all_hashed_user_data` checks that on the Arrow buffers with numpy, without a Python object
per row: the skeleton of every entry is walked position by position (all rows at once, one
entry per step) and compared with the key's template, then the bytes left over (the values)
are checked to be hex by counting, over the whole buffer, the bytes that are not hex: they
must be exactly the skeleton's. Anything else, a NULL row with bytes, a value of 63 or 65
characters, a quote, an unknown key, makes the whole chunk fail; the caller then reads it
from the hashed columns instead (the exact path, which names the row and the key).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS

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
# Bytes of an entry that are not hex digits: its prefix's, the closing quote, `]` for an
# array key, and the `,` or `}` after it.
# From an entry's first byte to the `,` or `}` after it.
_ENTRY_LEN = _PREFIX_LEN + 64 + 1 + _ARRAY
_ARRAY_CLOSE = np.uint64(ord('"') | ord("]") << 8)    # `"]` as the two low bytes, little-endian
_STRING_CLOSE = np.uint64(ord('"') << 8)              # `"` as the second byte (the first is a digit)
_NOT_HEX = np.array([sum(b not in _HEX for b in p) for p in _PREFIX], np.int64) + 1 + _ARRAY + 1
# The key from the two bytes after the entry's opening quote (the first two of the key).
_KEY_OF = np.full(1 << 16, -1, np.int64)
for _i, _k in enumerate(USER_DATA_COLUMNS):
    _KEY_OF[_k.encode()[0] | (_k.encode()[1] << 8)] = _i
assert (_KEY_OF >= 0).sum() == len(USER_DATA_COLUMNS)   # no two keys start alike
_ENTRY_MIN = int(_PREFIX_LEN.min()) + 64 + 1
_OPEN, _CLOSE, _COMMA = (np.uint8(ord(c)) for c in "{},")
_ZERO, _LOWER_A = np.uint8(ord("0")), np.uint8(ord("a"))


def all_hashed_user_data(values: pa.Array) -> bool:
    """Every non-NULL value of `values` (binary) is a user_data object of hashed identifiers,
    exactly as the sync's reference writes it (module docstring); NULLs are fine."""
    if values.type != pa.binary():
        values = values.cast(pa.binary())
    n = len(values)
    present = n - values.null_count
    if present == 0:
        return True
    offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1, values.offset * 4).astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if (starts[~valid] != ends[~valid]).any():   # a NULL slot holding bytes
            return False
        starts, ends = starts[valid], ends[valid]
    base = int(offsets[0])
    size = int(offsets[-1]) - base
    data = np.frombuffer(values.buffers()[2], np.uint8, size, base)
    starts, ends = starts - base, ends - base
    if ((ends - starts) < 2 + _ENTRY_MIN).any():
        return False
    if (data[starts] != _OPEN).any() or (data[ends - 1] != _CLOSE).any():
        return False
    # Little-endian 64-bit words starting at every byte (unaligned, read in place).
    words = np.ndarray((size - 7,), "<u8", values.buffers()[2], base, strides=(1,))
    last_word = size - 16   # the highest `at` whose two words are inside the buffer
    not_hex = present   # the `{` of every row
    at = starts + 1     # where each row's next entry starts
    rows_end = ends
    for _ in range(len(USER_DATA_COLUMNS)):
        if (at > last_word).any():
            return False
        first, second = words[at], words[at + 8]
        key = _KEY_OF[(first >> np.uint64(8)) & np.uint64(0xFFFF)]
        if (key < 0).any():
            return False
        if not (((first & _WORD_MASKS[key, 0]) == _WORDS[key, 0])
                & ((second & _WORD_MASKS[key, 1]) == _WORDS[key, 1])).all():
            return False
        end = at + _ENTRY_LEN[key]                   # the `,` or `}` after the entry
        if (end >= rows_end).any():                  # the entry runs past its row
            return False
        # The three bytes up to `end`: `"]` and the separator after an array's value, the
        # value's last digit, `"` and the separator after a string.
        tail = words[end - 7] >> np.uint64(40)
        closed = np.where(_ARRAY[key] == 1, (tail & np.uint64(0xFFFF)) == _ARRAY_CLOSE,
                          (tail & np.uint64(0xFF00)) == _STRING_CLOSE)
        if not closed.all():
            return False
        after = (tail >> np.uint64(16)).astype(np.uint8)
        done = after == _CLOSE
        if not (done | (after == _COMMA)).all() or (end[done] != rows_end[done] - 1).any():
            return False
        not_hex += int(_NOT_HEX[key].sum())
        keep = ~done
        at, rows_end = end[keep] + 1, rows_end[keep]
        if not len(at):
            break
    else:
        return False   # more entries than there are keys
    # Every byte is now either the skeleton just checked or a value's: the values are all
    # hex exactly when the bytes that are not hex are the skeleton's.
    return size - _hex_digits(data) == not_hex


_BLOCK = 1 << 18   # bytes per step of the hex count: its scratch arrays stay in the CPU's cache


def _hex_digits(data: np.ndarray) -> int:
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
