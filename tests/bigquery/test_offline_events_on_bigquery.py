"""dbt_project on BigQuery (the local emulator) against DuckDB, on the same fixture data
(sample_data.fixtures): `dbt build --target bigquery` passes, and `offline_events` equals the
DuckDB build row by row, every column (event ids, hashes, values, contents).
Also: every model compiled for BigQuery (production SQL, without the emulator var) parses
with sqlglot's BigQuery dialect."""
from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from sample_data.fixtures import AS_OF_VAR, load_fixtures
from tests.support.bigquery_emulator import create_source_tables
from tests.support.dbt_bigquery import (DBT, EMULATOR_VARS, PROJECT_DIR, REPO, dbt_bigquery_command,
                                        dbt_bigquery_env, run_dbt_bigquery)

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

SOURCE_DATASET = "amperity_fixtures"
TARGET_DATASET = "analytics_fixtures"
COLUMNS = ["event_id", "event_name", "event_time", "action_source", "order_id", "currency", "value", "num_items",
           "contents", "store_id", "delivery_category", "em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id",
           "data_processing_options", "data_processing_options_country", "data_processing_options_state"]
JSON_COLUMNS = ["custom_data_json", "user_data_json"]   # the event's two objects, as the sync sends them

# both builds put the fixture's purchase_brand in each contents item as brand (no title, no
# category), set Limited Data Use for California residents (C001, C002: 1 / 1000) and write
# external_id as given (C016's key padded with whitespace on both: sent trimmed)
PRODUCT_VARS = {"product_brand_column": "purchase_brand", "limited_data_use_states": ["CA"],
                "external_id_format": "as_given"}
PADDED_KEY = " \tAmp-016 "


def _duckdb_build(work: Path) -> subprocess.Popen:
    path = work / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        load_fixtures(con)
        for table in ("customer_360", "unified_itemized_transactions"):
            con.execute(f"UPDATE amperity.{table} SET amperity_id = ? WHERE amperity_id = 'C016'", [PADDED_KEY])
    args = [str(DBT), "--no-use-colors", "build", "--project-dir", str(PROJECT_DIR), "--profiles-dir",
            str(PROJECT_DIR), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
            "--vars", json.dumps({"as_of": AS_OF_VAR, **PRODUCT_VARS})]
    env = dict(os.environ, DUCKDB_PATH=str(path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def both_builds(bigquery_emulator, tmp_path_factory) -> dict:
    """The fixture set built by dbt on the emulator and on DuckDB (at the same time)."""
    client = bigquery_emulator.client()
    from sample_data import fixtures
    padded = {table: [(PADDED_KEY if row[0] == "C016" else row[0], *row[1:]) for row in rows]
              for table, rows in (("customer_360", fixtures.CUSTOMERS),
                                  ("unified_itemized_transactions", fixtures.TRANSACTIONS))}
    create_source_tables(client, SOURCE_DATASET, padded)
    duck_work = tmp_path_factory.mktemp("duckdb_build")
    duck = _duckdb_build(duck_work)
    bq_work = tmp_path_factory.mktemp("bigquery_build")
    bq = subprocess.Popen(
        dbt_bigquery_command(["build"], bq_work, {"as_of": AS_OF_VAR, "amperity_schema": SOURCE_DATASET,
                                                  **PRODUCT_VARS, **EMULATOR_VARS}),
        cwd=REPO, env=dbt_bigquery_env(bigquery_emulator, TARGET_DATASET), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    bq_out, _ = bq.communicate(timeout=600)
    duck_out, _ = duck.communicate(timeout=600)
    assert duck.returncode == 0, duck_out[-4000:]
    assert bq.returncode == 0, bq_out[-6000:] + "\nemulator log:\n" + bigquery_emulator.log_tail()

    with duckdb.connect(str(duck_work / "warehouse.duckdb"), read_only=True) as con:
        cur = con.execute(f"SELECT {', '.join(COLUMNS + JSON_COLUMNS)} FROM analytics.offline_events ORDER BY order_id")
        duck_rows = [dict(zip(COLUMNS + JSON_COLUMNS, row)) for row in cur.fetchall()]
    bq_rows = [dict(row) for row in client.query_and_wait(
        f"SELECT {', '.join(COLUMNS + JSON_COLUMNS)} FROM `{client.project}.{TARGET_DATASET}.offline_events` "
        "ORDER BY order_id")]
    return {"client": client, "bq_out": bq_out, "duck_rows": duck_rows, "bq_rows": bq_rows,
            "duck_path": duck_work / "warehouse.duckdb"}


def test_dbt_build_on_bigquery_passes_every_node(both_builds):
    out = both_builds["bq_out"]
    # the on-run-start guard, 3 seeds, 6 views, 3 tables, 1 incremental, 16 unit tests, 71 data tests (the LDU model is a 7th view);
    # the one warning is the fixture's zero-value order O016, as on DuckDB
    assert "PASS=110 WARN=1 ERROR=0 SKIP=0 NO-OP=1 TOTAL=112" in out
    assert "PASS int_customers__normalized::external_id_as_given_is_the_key_trimmed" in out
    assert "PASS matches_external_id_format_offline_events_external_id" in out
    assert "PASS offline_events__match_key_coverage_daily::match_key_coverage_is_the_share_of_each_day" in out
    assert "Warning in test is_positive_offline_events_value " in out
    assert "PASS int_customers__phone_normalized::phone_is_e164_digits_with_the_calling_code" in out
    assert "PASS int_customers__hashed::hashes_match_meta_reference_vectors" in out


def test_offline_events_on_bigquery_equals_duckdb_row_by_row(both_builds):
    duck_rows, bq_rows = both_builds["duck_rows"], both_builds["bq_rows"]
    assert [r["order_id"] for r in bq_rows] == [r["order_id"] for r in duck_rows]
    assert len(bq_rows) == 16
    for bq_row, duck_row in zip(bq_rows, duck_rows):
        assert bq_row == duck_row, duck_row["order_id"]
        assert duck_row["user_data_json"] is not None, duck_row["order_id"]
        assert (duck_row["custom_data_json"] is None) == (duck_row["currency"] is None), duck_row["order_id"]
        # exact types too: NUMERIC and DECIMAL(18,2) both come back as Decimal, contents as dicts
        assert isinstance(bq_row["value"], Decimal)
        assert [type(v) for c in bq_row["contents"] for v in c.values()] == \
               [type(v) for c in duck_row["contents"] for v in c.values()]
    by_order = {r["order_id"]: r for r in bq_rows}
    # a name written decomposed in the source hashes as Meta's NFC reference vector
    assert by_order["O006"]["fn"] == "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
    # the earliest line at 11:59:59.750 is truncated, not rounded (BigQuery's UNIX_SECONDS)
    assert by_order["O002"]["event_time"] == 1751111999
    assert by_order["O003"]["contents"] == [{"id": "P6", "quantity": 3, "item_price": 29.97 / 3, "brand": "acme"}]
    assert {r["delivery_category"] for r in bq_rows} == {"in_store"}
    # external_id as given: the key trimmed, case kept, not hashed; every other key still hashed
    assert (by_order["O001"]["external_id"], by_order["O022"]["external_id"]) == ("C001", "Amp-016")
    assert by_order["O001"]["em"] == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert {r["order_id"]: (r["data_processing_options"], r["data_processing_options_country"],
                            r["data_processing_options_state"]) for r in bq_rows if r["data_processing_options"]} == {
        "O001": (["LDU"], 1, 1000), "O002": (["LDU"], 1, 1000)}   # C001 and C002 live in California


def test_both_sources_send_byte_identical_events_with_external_id_as_given(both_builds, bigquery_emulator):
    """The BigQuery source on the BigQuery build and the DuckDB source on the DuckDB build, both
    with source.external_id as_given: the same events, byte for byte, and the same skips."""
    import calendar

    from sample_data.fixtures import AS_OF
    from sync.config import parse_config
    from sync.events import EventSettings
    from sync.sources.bigquery import BigQuerySource
    from sync.sources.duckdb import DuckDBSource
    from tests.support.bigquery_emulator import bigquery_sync_config

    settings = EventSettings(now=calendar.timegm(AS_OF.timetuple()), external_id_as_given=True)

    def read(source) -> list[tuple]:
        return [(chunk.order_ids[i].as_py(), chunk.encoded[i].as_py(), chunk.skips.get(i))
                for chunk in source.read_ready(None, False, settings) for i in range(len(chunk.order_ids))]

    duck_config = parse_config(
        f'name: offline_events\nsource: {{type: duckdb, path: "{both_builds["duck_path"]}", '
        'relation: analytics.offline_events, external_id: as_given}\n'
        'destination: {dataset_id: "1", access_token: "{{ env_var(\'CAPI_TEST_TOKEN\', \'x\') }}"}\n')
    bq = read(BigQuerySource(bigquery_sync_config(bigquery_emulator, TARGET_DATASET, "unused_state")))
    assert bq == read(DuckDBSource(duck_config))
    assert len(bq) == 16 and sum(skip is None for _, _, skip in bq) == 12
    sent = {order: json.loads(event)["user_data"]["external_id"] for order, event, skip in bq if skip is None}
    assert (sent["O001"], sent["O022"]) == (["C001"], ["Amp-016"])


def test_offline_events_on_bigquery_has_the_contract_schema(both_builds):
    client = both_builds["client"]
    view = client.get_table(f"{client.project}.{TARGET_DATASET}.offline_events")
    # incremental: a table partitioned by event day (integer range) and clustered for the cursor
    assert view.table_type == "TABLE"
    assert (view.range_partitioning.field, view.range_partitioning.range_.start, view.range_partitioning.range_.end,
            view.range_partitioning.range_.interval) == ("event_time", 1577836800, 2208988800, 86400)
    assert view.clustering_fields == ["event_time", "event_id"]
    assert [(f.name, f.field_type, f.mode) for f in view.schema] == [
        ("event_id", "STRING", "NULLABLE"), ("event_name", "STRING", "NULLABLE"),
        ("event_time", "INTEGER", "NULLABLE"), ("action_source", "STRING", "NULLABLE"),
        ("order_id", "STRING", "NULLABLE"), ("currency", "STRING", "NULLABLE"), ("value", "NUMERIC", "NULLABLE"),
        ("num_items", "INTEGER", "NULLABLE"), ("contents", "RECORD", "REPEATED"), ("store_id", "STRING", "NULLABLE"),
        *[(name, "STRING", "NULLABLE") for name in COLUMNS[10:-3]], ("data_processing_options", "STRING", "REPEATED"),
        ("data_processing_options_country", "INTEGER", "NULLABLE"),
        ("data_processing_options_state", "INTEGER", "NULLABLE"), ("custom_data_json", "STRING", "NULLABLE"),
        ("user_data_json", "STRING", "NULLABLE")]
    contents = view.schema[8]
    assert [(f.name, f.field_type) for f in contents.fields] == [
        ("id", "STRING"), ("quantity", "INTEGER"), ("item_price", "FLOAT"), ("brand", "STRING")]
    # the hashed customers are a table; the sources were not touched
    assert client.get_table(f"{client.project}.{TARGET_DATASET}.int_customers__hashed").table_type == "TABLE"
    assert sorted(t.table_id for t in client.list_tables(f"{client.project}.{SOURCE_DATASET}")) == [
        "customer_360", "unified_itemized_transactions"]


def _function_names(tree: exp.Expression) -> Counter:
    return Counter((f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower() for f in tree.find_all(exp.Func))


def test_every_compiled_bigquery_model_parses_with_sqlglot(bigquery_emulator, tmp_path):
    """Production SQL: compiled without the emulator var."""
    run_dbt_bigquery(bigquery_emulator, ["compile"], tmp_path, {"as_of": AS_OF_VAR}, dataset="analytics_compile")
    compiled = tmp_path / "target" / "compiled" / "capi_offline_events"
    models = sorted((compiled / "models").rglob("*.sql"))
    model_files = [m for m in models if not any(p.endswith(".yml") for p in m.parts)]
    assert sorted(m.stem for m in model_files) == sorted([
        "stg_amperity__unified_itemized_transactions", "stg_amperity__customer_360", "int_order_lines__eligible",
        "int_orders__summarized", "int_orders__contents", "int_customers__normalized",
        "int_customers__phone_normalized", "int_customers__hashed", "int_customers__consent", "int_customers__limited_data_use",
        "offline_events",
        "offline_events__consent_exclusions", "offline_events__match_key_coverage_daily"])
    anonymous: Counter = Counter()
    for path in models:  # models, and the data tests compiled under them
        sql = path.read_text()
        trees = sqlglot.parse(sql, read="bigquery")
        assert len([t for t in trees if t is not None]) == 1, path
        anonymous.update(f.name.lower() for f in trees[0].find_all(exp.Anonymous))
    all_sql = "\n".join(m.read_text() for m in model_files).lower()
    # the real BigQuery spelling, none of the emulator's or DuckDB's
    assert "normalize(" in all_sql and "nfc_normalize" not in all_sql
    assert "unix_seconds(timestamp_trunc(" in all_sql
    # functions sqlglot does not know are few and all real GoogleSQL functions
    assert set(anonymous) <= {"normalize"}, anonymous
