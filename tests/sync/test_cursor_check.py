"""Which cursor values move the watermark, and which make their row an `invalid_cursor` skip."""
from __future__ import annotations

import pyarrow as pa

from sync.cursor_check import CURSOR_FUTURE_TOLERANCE, invalid_cursor_rows, watermark_cursors

NOW = 1_800_000_000


def test_only_times_the_run_has_reached_move_the_watermark():
    cursors = pa.array([NOW - 10, None, -5, 0, NOW, NOW + 1, NOW + CURSOR_FUTURE_TOLERANCE, NOW * 1000,
                        2 ** 63 - 1], pa.int64())
    values, valid = watermark_cursors(cursors, NOW)
    assert valid.tolist() == [True, False, False, True, True, False, False, False, False]
    assert values.tolist() == [NOW - 10, 0, 0, 0, NOW, 0, 0, 0, 0]
    assert watermark_cursors(pa.array([], pa.int32()), NOW)[1].tolist() == []


def test_invalid_cursor_rows_name_the_value():
    cursors = pa.array([NOW, None, -5, NOW + CURSOR_FUTURE_TOLERANCE, NOW + CURSOR_FUTURE_TOLERANCE + 1,
                        NOW * 1000, 2 ** 63 - 1], pa.int64())
    rows = invalid_cursor_rows(cursors, NOW, "updated_at")
    assert rows == {
        1: ("invalid_cursor", "cursor column updated_at is NULL: the row cannot be placed before or after the watermark"),
        2: ("invalid_cursor", "cursor column updated_at is -5, before 1970 (not unix seconds)"),
        4: ("invalid_cursor", f"cursor column updated_at is {NOW + 301}, 301 s ahead of the sync's clock (more than "
                              "300 s); the watermark does not move to it"),
        5: ("invalid_cursor", f"cursor column updated_at is {NOW * 1000}, not unix seconds (milliseconds? divide by "
                              "1000 in the model); the watermark does not move to it"),
        6: ("invalid_cursor", f"cursor column updated_at is {2 ** 63 - 1}, not unix seconds (milliseconds? divide "
                              "by 1000 in the model); the watermark does not move to it"),
    }
