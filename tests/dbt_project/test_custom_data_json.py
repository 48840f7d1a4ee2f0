"""The macros that write custom_data_json in the warehouse (macros/conversions_api/custom_data_json.sql),
which the sync sends as written: byte for byte the tests' oracle (`build_events` + orjson) on
ordinary values; where DuckDB writes a value differently, its own valid JSON of the same
value (a non-finite double, not JSON, the sync sends as null: ready.py `_finite`)."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest
from dbt_runner import compile_inline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from offline_events_fixture import COLUMNS, custom_data_json_of, insert_rows, make_row  # noqa: E402

from sync.contract import MODEL_COLUMNS  # noqa: E402
from sync.events import EventSettings  # noqa: E402
from sync.sources.ready import _finite  # noqa: E402
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
# written differently by DuckDB (the oracle's bytes -> DuckDB's), the same values
DIFFERENT = {
    20: ({"order_id": "ctl\x01\x1f\x7f"}, ("\\u001f", "\\u001F")),
    21: ({"value": "9999999999999999.99"}, ('"value":1e+16', '"value":10000000000000000.0')),
    22: ({"contents": contents(("p1", 1, 5e-6))}, ("5e-6", "0.000005")),
    23: ({"contents": contents(("p1", 1, 1e16))}, ("1e+16", "10000000000000000.0")),
    24: ({"contents": contents(("p1", 1, 1.5e22))}, ("1.5e+22", "1.5e22")),
    # not JSON: the sync sends it as null, the oracle's bytes
    25: ({"contents": contents(("p1", 0, float("inf")))}, ('"item_price":null', '"item_price":Infinity')),
}
WRITTEN[27] = {"num_items": 12345678901234567}   # 17 digits: an integer, written alike
# no custom_data to write (the sync skips these rows with a named reason)
DIFFERENT_ROWS = {n: row for n, (row, _) in DIFFERENT.items()}
MISSING = {30: {"currency": None}, 31: {"currency": ""}, 32: {"value": None}, 33: {"contents": []},
           34: {"contents": None}}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, str | None]:
    """order_id -> the macros' custom_data_json, evaluated by DuckDB on the rows above."""
    work = tmp_path_factory.mktemp("custom_data_json")
    expression = compile_inline(
        "{{ custom_data_text('currency', 'value', 'contents', 'order_id', 'num_items', 'delivery_category', 'store_id') }}",
        work)
    path = work / "rows.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA analytics")
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        con.execute(f"CREATE TABLE analytics.offline_events ({cols})")
        insert_rows(con, [make_row(n, T + n, **o) for n, o in {**WRITTEN, **DIFFERENT_ROWS, **MISSING}.items()])
        return dict(con.execute(f"SELECT event_time - {T}, {expression} FROM analytics.offline_events").fetchall())
    finally:
        con.close()


def reference(row: dict) -> bytes:
    """custom_data as the sync's reference path writes it."""
    chunk = {name: [row[name]] for name in MODEL_COLUMNS}
    chunk["value"] = [None if row["value"] is None else float(row["value"])]
    (event,) = build_events(chunk, EventSettings(now=NOW)).events
    return orjson.dumps(event["custom_data"])


@pytest.mark.parametrize("n", sorted(WRITTEN))
def test_custom_data_json_is_the_reference_bytes(written, n):
    row = make_row(n, T + n, **WRITTEN[n])
    assert written[n] is not None
    assert written[n].encode() == reference(row)


@pytest.mark.parametrize("n", sorted(DIFFERENT))
def test_values_duckdb_writes_its_own_way_are_valid_json_of_the_same_value(written, n):
    row, (oracle_bytes, duckdb_bytes) = DIFFERENT[n]
    expected = reference(make_row(n, T + n, **row))
    assert written[n].encode() == expected.replace(oracle_bytes.encode(), duckdb_bytes.encode())
    sent = _finite(pa.array([written[n].encode()], pa.binary()))[0].as_py()   # what the sync sends
    assert orjson.loads(sent) == orjson.loads(expected)
    assert (sent == expected) == (n == 25)


@pytest.mark.parametrize("n", sorted(MISSING))
def test_rows_without_custom_data_are_null(written, n):
    assert written[n] is None


@pytest.mark.parametrize("n", sorted({**WRITTEN, **DIFFERENT_ROWS}))
def test_the_sync_tests_fill_the_column_with_the_reference_bytes(n):
    """tests/sync/offline_events_fixture.py stands in for the macros in the sync's tests."""
    row = make_row(n, T + n, **{**WRITTEN, **DIFFERENT_ROWS}[n])
    assert custom_data_json_of(row).encode() == reference(row)
