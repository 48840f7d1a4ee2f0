"""The macro that writes user_data_json in the warehouse (macros/conversions_api/user_data_json.sql):
byte for byte the sync's reference (`build_events` + orjson) for hashed identifiers, NULL
without any, and a value that is not a hash written as it is (the sync's check refuses it)."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import orjson
import pytest
from dbt_runner import compile_inline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
from offline_events_fixture import COLUMNS, insert_rows, make_row, sha, user_data_json_of  # noqa: E402

from sync.contract import MODEL_COLUMNS  # noqa: E402
from sync.events import USER_DATA_COLUMNS, EventSettings  # noqa: E402
from tests.support.events_oracle import build_events  # noqa: E402
from sync.sources.user_data_check import all_hashed_user_data  # noqa: E402

NOW = 1_800_000_000
T = NOW - 86_400
NONE = {key: None for key in USER_DATA_COLUMNS}

# order number -> overrides of the hashed columns
HASHED = {
    1: {},                                                                   # em, ph, fn, ge, zp, country, external_id
    2: {key: sha(key) for key in USER_DATA_COLUMNS},                         # all eleven
    **{10 + i: {**NONE, key: sha(key)} for i, key in enumerate(USER_DATA_COLUMNS)},   # each key alone
    30: {**NONE, "ph": sha("1"), "country": sha("us")},
}
NOT_HASHED = {40: {"em": "jane.doe@example.com"}, 41: {"fn": 'ma"ry'}}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[int, str | None]:
    """order number -> the macro's user_data_json, evaluated by DuckDB on the rows above."""
    work = tmp_path_factory.mktemp("user_data_json")
    expression = compile_inline("{{ user_data_text() }}", work)
    con = duckdb.connect(str(work / "rows.duckdb"))
    try:
        con.execute("CREATE SCHEMA analytics")
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        con.execute(f"CREATE TABLE analytics.offline_events ({cols})")
        rows = {**HASHED, **NOT_HASHED, 50: NONE}
        insert_rows(con, [make_row(n, T + n, **o) for n, o in rows.items()])
        return dict(con.execute(f"SELECT event_time - {T}, {expression} FROM analytics.offline_events").fetchall())
    finally:
        con.close()


def reference(row: dict) -> bytes:
    """user_data as the sync's reference path writes it."""
    chunk = {name: [row[name]] for name in MODEL_COLUMNS}
    chunk["value"] = [float(row["value"])]
    (event,) = build_events(chunk, EventSettings(now=NOW)).events
    return orjson.dumps(event["user_data"])


@pytest.mark.parametrize("n", sorted(HASHED))
def test_user_data_json_is_the_reference_bytes(written, n):
    row = make_row(n, T + n, **HASHED[n])
    assert written[n].encode() == reference(row)
    assert user_data_json_of(row) == written[n]     # the sync tests' stand-in for the macro


def test_without_identifiers_it_is_null(written):
    assert written[50] is None and user_data_json_of(make_row(50, T + 50, **NONE)) is None


@pytest.mark.parametrize("n", sorted(NOT_HASHED))
def test_values_that_are_not_hashes_are_written_as_they_are_and_refused_by_the_sync(written, n):
    import pyarrow as pa
    row = make_row(n, T + n, **NOT_HASHED[n])
    assert written[n] == user_data_json_of(row)
    (key, value), = NOT_HASHED[n].items()
    assert f'"{key}":["{value}"]' in written[n] or f'"{key}":"{value}"' in written[n]
    assert not all_hashed_user_data(pa.array([written[n]]))
    assert all_hashed_user_data(pa.array([written[1]]))
