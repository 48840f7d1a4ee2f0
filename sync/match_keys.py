"""Which match keys (user_data keys) each sent event carries, counted without parsing its JSON
(the state keeps the counts, `sent_match_keys`, never a value)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from sync.events import USER_DATA_COLUMNS, value_offsets

MATCH_KEYS = USER_DATA_COLUMNS   # em, ph, fn, ln, db, ge, ct, st, zp, country, external_id

_QUOTE, _COLON = ord('"'), ord(":")
_TOKENS = [np.frombuffer(f'"{key}"'.encode(), np.uint8) for key in MATCH_KEYS]


def key_bits(encoded: pa.Array) -> np.ndarray:
    """Per event (orjson text from sync.events) a bit per match key it carries (bit i: MATCH_KEYS[i]),
    found as `"key":` (only user_data uses these names; a value's quotes are escaped)."""
    n = len(encoded)
    bits = np.zeros(n, np.uint16)
    if n == 0:
        return bits
    offsets = value_offsets(encoded).astype(np.int64)
    data = np.frombuffer(encoded.buffers()[2], np.uint8)
    base = int(offsets[0])
    text = data[base:int(offsets[-1])]
    ends = np.flatnonzero(text[1:] == _COLON)          # the byte before each colon
    ends = ends[text[ends] == _QUOTE]                  # ... when it closes a quoted name
    for bit, token in enumerate(_TOKENS):
        at = ends[ends >= len(token) - 1]
        found = np.ones(len(at), bool)
        for back, byte in enumerate(token[::-1]):
            found &= text[at - back] == byte
        rows = np.searchsorted(offsets, at[found] + base, side="right") - 1
        bits[rows] |= np.uint16(1 << bit)
    return bits


def count_keys(bits: np.ndarray) -> list[int]:
    """How many of the events of `bits` carry each key, in MATCH_KEYS order."""
    return [int(np.count_nonzero(bits & (1 << bit))) for bit in range(len(MATCH_KEYS))]
