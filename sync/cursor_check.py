"""Which cursor values may move the watermark (0 <= cursor <= the run's clock), and which rows a
cursor value alone makes unsendable (`invalid_cursor`); docs/sync.md, The cursor."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.contract import MILLISECONDS_FROM

# How far ahead of the run's clock a cursor value may be and still be a time (clock skew).
CURSOR_FUTURE_TOLERANCE = 300

INVALID_CURSOR = "invalid_cursor"


def watermark_cursors(cursors: pa.Array, now: int) -> tuple[np.ndarray, np.ndarray]:
    """(cursor values as int64 with the ones that may not move the watermark as 0, and a
    boolean mask of the ones that may: 0 <= cursor <= now)."""
    if len(cursors) == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    values = pc.fill_null(cursors, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    valid = cursors.is_valid().to_numpy(zero_copy_only=False) & (values >= 0) & (values <= now)
    return np.where(valid, values, 0), valid


def invalid_cursor_rows(cursors: pa.Array, now: int, column: str) -> dict[int, tuple[str, str]]:
    """Row -> (INVALID_CURSOR, message) for the rows whose cursor no run could have reached:
    NULL, negative, or more than CURSOR_FUTURE_TOLERANCE ahead of `now`."""
    if len(cursors) == 0:
        return {}
    values = pc.fill_null(cursors, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    null = ~cursors.is_valid().to_numpy(zero_copy_only=False)
    bad = null | (values < 0) | (values > now + CURSOR_FUTURE_TOLERANCE)
    return {i: (INVALID_CURSOR, cursor_message(column, None if null[i] else int(values[i]), now))
            for i in np.flatnonzero(bad).tolist()}


def cursor_message(column: str, value: int | None, now: int) -> str:
    if value is None:
        return f"cursor column {column} is NULL: the row cannot be placed before or after the watermark"
    if value < 0:
        return f"cursor column {column} is {value}, before 1970 (not unix seconds)"
    if value >= MILLISECONDS_FROM:
        return (f"cursor column {column} is {value}, not unix seconds (milliseconds? divide by 1000 in the "
                "model); the watermark does not move to it")
    return (f"cursor column {column} is {value}, {value - now} s ahead of the sync's clock (more than "
            f"{CURSOR_FUTURE_TOLERANCE} s); the watermark does not move to it")
