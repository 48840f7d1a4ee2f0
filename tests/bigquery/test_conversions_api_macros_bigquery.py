"""The BigQuery versions of the macros that write the event's JSON (macros/conversions_api/),
evaluated on the emulator over the rows of the DuckDB macro tests: the bytes of the tests'
oracle (`build_events` + orjson), so the DuckDB and BigQuery builds send the same events."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.bigquery_emulator import create_offline_events_table
from tests.support.dbt_bigquery import run_dbt_bigquery

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dbt_project"))
from test_custom_data_json import MISSING, T as CUSTOM_T, WRITTEN, reference as custom_reference  # noqa: E402
from test_user_data_json import HASHED, NONE, NOT_HASHED, T as USER_T, reference as user_reference  # noqa: E402
from tests.sync.offline_events_fixture import make_row, user_data_json_of  # noqa: E402

pytestmark = pytest.mark.bigquery

# a BigQuery ARRAY holds no NULL element: the contents [NULL] row has no BigQuery counterpart
ON_BIGQUERY = {n: row for n, row in WRITTEN.items() if row.get("contents") != [None]}

CUSTOM_DATA = "{{ custom_data_text('currency', 'value', 'contents', 'order_id', 'num_items', 'delivery_category', 'store_id') }}"
USER_DATA = "{{ user_data_text() }}"


def compile_for_bigquery(emulator, sql: str, work: Path) -> str:
    result = run_dbt_bigquery(emulator, ["--quiet", "compile", "--output", "json", "--inline", sql], work)
    return json.loads(result.stdout)["compiled"]


@pytest.fixture(scope="module")
def written(bigquery_emulator, tmp_path_factory) -> dict[str, dict[int, str | None]]:
    """order number -> the BigQuery macros' text, per macro, on the emulator."""
    work = tmp_path_factory.mktemp("bigquery_macros")
    client = bigquery_emulator.client()
    dataset = bigquery_emulator.create_dataset("macros")
    out = {}
    for name, sql, t, rows in (
            ("custom_data", CUSTOM_DATA, CUSTOM_T, {**ON_BIGQUERY, **MISSING}),
            ("user_data", USER_DATA, USER_T, {**HASHED, **NOT_HASHED, 50: NONE})):
        table = create_offline_events_table(client, dataset, [make_row(n, t + n, **o) for n, o in rows.items()],
                                            table=name)
        expression = compile_for_bigquery(bigquery_emulator, sql, work)
        out[name] = {n: text for n, text in client.query_and_wait(
            f"SELECT event_time - {t}, {expression} FROM `{table}`")}
    return out


# The one value the emulator's TO_JSON_STRING writes its own way among those rows: -0.0 as `0`
# (`0.0` after the macro's whole-double step), the same number.
EMULATOR_WRITES = {10: (b'"item_price":-0.0', b'"item_price":0.0')}


@pytest.mark.parametrize("n", sorted(ON_BIGQUERY))
def test_custom_data_json_on_bigquery_is_the_reference_bytes(written, n):
    text = written["custom_data"][n]
    expected = custom_reference(make_row(n, CUSTOM_T + n, **ON_BIGQUERY[n]))
    if n in EMULATOR_WRITES:
        assert orjson.loads(text) == orjson.loads(expected)
        expected = expected.replace(*EMULATOR_WRITES[n])
    assert text is not None and text.encode() == expected


def test_rows_without_custom_data_are_null_on_bigquery(written):
    assert {n: written["custom_data"][n] for n in MISSING} == dict.fromkeys(MISSING)


def test_user_data_json_on_bigquery_is_the_reference_bytes(written):
    for n, overrides in HASHED.items():
        assert written["user_data"][n].encode() == user_reference(make_row(n, USER_T + n, **overrides)), n
    for n, overrides in NOT_HASHED.items():   # written as they are (the sync refuses them)
        assert written["user_data"][n] == user_data_json_of(make_row(n, USER_T + n, **overrides))
    assert written["user_data"][50] is None


PRODUCT_VARS = {"product_title_column": "product_name", "product_brand_column": "brand_name"}
PRODUCT_CONTENTS = [{"id": "p1", "quantity": 2, "item_price": 10.0, "title": "Mug", "brand": None},
                    {"id": "p2", "quantity": 1, "item_price": 10.5, "title": None, "brand": 'Ac"me'}]


def test_null_product_fields_are_left_out_alike_on_both_warehouses(bigquery_emulator, tmp_path, monkeypatch):
    """contents with title and brand (vars product_title_column, product_brand_column): a
    NULL one is left out of its item, the oracle's bytes on DuckDB and on BigQuery."""
    import duckdb
    from dbt_runner import run_dbt
    from tests.support import bigquery_emulator as support
    from tests.sync import offline_events_fixture as fixture

    monkeypatch.setitem(fixture.COLUMNS, "contents",
                        "STRUCT(id VARCHAR, quantity BIGINT, item_price DOUBLE, title VARCHAR, brand VARCHAR)[]")
    monkeypatch.setitem(support.OFFLINE_EVENTS_COLUMNS, "contents",
                        "ARRAY<STRUCT<id STRING, quantity INT64, item_price FLOAT64, title STRING, brand STRING>>")
    monkeypatch.setattr(support, "_CONTENTS_FROM_JSON", support._CONTENTS_FROM_JSON.replace(
        " FROM UNNEST", ", JSON_VALUE(c, '$.title') AS title, JSON_VALUE(c, '$.brand') AS brand FROM UNNEST"))
    row = make_row(1, CUSTOM_T + 1, contents=PRODUCT_CONTENTS)
    command = ["--quiet", "compile", "--output", "json", "--inline", CUSTOM_DATA]
    duck_sql = json.loads(run_dbt(command, tmp_path / "compile.duckdb", tmp_path, PRODUCT_VARS).stdout)["compiled"]
    bq_sql = json.loads(run_dbt_bigquery(bigquery_emulator, command, tmp_path, PRODUCT_VARS).stdout)["compiled"]
    path = tmp_path / "rows.duckdb"
    fixture.create_offline_events(path, [row])
    with duckdb.connect(str(path)) as con:
        (duck,) = con.execute(f"SELECT {duck_sql} FROM analytics.offline_events").fetchone()
    client = bigquery_emulator.client()
    table = create_offline_events_table(client, bigquery_emulator.create_dataset("products"), [row])
    (bq,) = next(iter(client.query_and_wait(f"SELECT {bq_sql} FROM `{table}`")))
    expected = custom_reference(row)
    assert duck.encode() == bq.encode() == expected
    assert orjson.loads(expected)["contents"] == [{"id": "p1", "quantity": 2, "item_price": 10.0, "title": "Mug"},
                                                  {"id": "p2", "quantity": 1, "item_price": 10.5, "brand": 'Ac"me'}]
