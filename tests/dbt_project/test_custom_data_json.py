"""The macros that write custom_data_json in the warehouse (macros/conversions_api/custom_data_json.sql):
byte for byte the sync's reference (`build_events` + orjson), or NULL where DuckDB writes a
value differently (the sync then builds that event itself)."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import orjson
import pytest
from dbt_runner import compile_inline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from offline_events_fixture import COLUMNS, custom_data_json_of, insert_rows, make_row  # noqa: E402

from sync.events import REQUIRED_COLUMNS, EventSettings  # noqa: E402
from tests.support.events_oracle import build_events  # noqa: E402

NOW = 1_800_000_000
T = NOW - 86_400


def contents(*items):
    return [{"id": i, "quantity": q, "item_price": p} for i, q, p in items]


# order number -> overrides; the macro must write exactly the reference's bytes
WRITTEN = {
    1: {},
    2: {"order_id": None, "num_items": None},
    3: {"order_id": "ordre-é€😀-\u2028"},
    4: {"order_id": 'quote " back \\ slash / tab\t nl\n'},
    5: {"value": "0.01"}, 6: {"value": "123456789.10"}, 7: {"value": "999999999999999.99"},
    8: {"currency": "EUR", "num_items": 0},
    9: {"contents": contents(("p1", 3, 1 / 3), ("p2", 1, 1e-7), ("p3", 1, 2.5e-300), ("p4", 2, 1e15))},
    10: {"contents": contents(("ïd-😀", 1, 12.5), ('"q"', 2, 100.0), ("p0", 0, None), (None, None, -0.0))},
    11: {"contents": [None]},
}
# written differently by DuckDB: NULL, the sync builds these events in Python
DIFFERENT = {
    20: {"order_id": "ctl\x01\x1f\x7f"},
    21: {"value": "9999999999999999.99"},
    22: {"contents": contents(("p1", 1, 5e-6))},
    23: {"contents": contents(("p1", 1, 1e16))},
    24: {"contents": contents(("p1", 1, 1.5e22))},
    25: {"contents": contents(("p1", 0, float("inf")))},
    27: {"num_items": 12345678901234567},   # written alike, but 17 digits look like a double >= 1e16
}
# no custom_data to write (the sync skips these rows with a named reason)
MISSING = {30: {"currency": None}, 31: {"currency": ""}, 32: {"value": None}, 33: {"contents": []},
           34: {"contents": None}}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, str | None]:
    """order_id -> the macros' custom_data_json, evaluated by DuckDB on the rows above."""
    work = tmp_path_factory.mktemp("custom_data_json")
    expression = compile_inline(
        "{{ custom_data_json_as_sent(custom_data_text('currency', 'value', 'contents', 'order_id', 'num_items', 'delivery_category', 'store_id')) }}",
        work)
    path = work / "rows.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA analytics")
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        con.execute(f"CREATE TABLE analytics.offline_events ({cols})")
        insert_rows(con, [make_row(n, T + n, **o) for n, o in {**WRITTEN, **DIFFERENT, **MISSING}.items()])
        return dict(con.execute(f"SELECT event_time - {T}, {expression} FROM analytics.offline_events").fetchall())
    finally:
        con.close()


def reference(row: dict) -> bytes:
    """custom_data as the sync's reference path writes it."""
    chunk = {name: [row[name]] for name in REQUIRED_COLUMNS}
    chunk["value"] = [None if row["value"] is None else float(row["value"])]
    (event,) = build_events(chunk, EventSettings(now=NOW)).events
    return orjson.dumps(event["custom_data"])


@pytest.mark.parametrize("n", sorted(WRITTEN))
def test_custom_data_json_is_the_reference_bytes(written, n):
    row = make_row(n, T + n, **WRITTEN[n])
    assert written[n] is not None
    assert written[n].encode() == reference(row)


@pytest.mark.parametrize("n", sorted(DIFFERENT))
def test_values_duckdb_writes_differently_are_left_to_the_sync(written, n):
    assert written[n] is None


@pytest.mark.parametrize("n", sorted(MISSING))
def test_rows_without_custom_data_are_null(written, n):
    assert written[n] is None


@pytest.mark.parametrize("n", sorted({**WRITTEN, **DIFFERENT}))
def test_the_sync_tests_fill_the_column_with_the_reference_bytes(n):
    """tests/sync/offline_events_fixture.py stands in for the macros in the sync's tests."""
    row = make_row(n, T + n, **{**WRITTEN, **DIFFERENT}[n])
    assert custom_data_json_of(row).encode() == reference(row)
