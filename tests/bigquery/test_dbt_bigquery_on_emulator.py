"""dbt-core + dbt-bigquery against the emulator, with the profile block docs/bigquery.md gives:
a seed (load job), a source loaded with DML, a view with a struct array and an enforced contract,
a partitioned and clustered table with a contract, data tests and a unit test, in one `dbt build`."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.bigquery_emulator import insert_rows, load_source_fixtures

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

DBT = Path(sys.executable).with_name("dbt")

PROFILE = """\
probe:
  target: bigquery
  outputs:
    bigquery:
      type: bigquery
      method: oauth-secrets
      token: "{{ env_var('BIGQUERY_TOKEN', 'unused') }}"
      project: "{{ env_var('BIGQUERY_PROJECT') }}"
      dataset: analytics
      location: US
      api_endpoint: "{{ env_var('BIGQUERY_API_ENDPOINT') }}"
      threads: 4
      priority: interactive
      job_retries: 0
      job_execution_timeout_seconds: 120
"""

FILES = {
    "dbt_project.yml": """\
        name: probe
        version: "1.0"
        config-version: 2
        profile: probe
        models:
          probe:
            +materialized: view
        seeds:
          probe:
            countries:
              +column_types: {code: string, name: string}
        """,
    "seeds/countries.csv": "code,name\nus,United States\ngb,United Kingdom\n",
    "models/sources.yml": """\
        version: 2
        sources:
          - name: raw
            schema: "{{ var('raw_dataset') }}"
            tables: [{name: lines}]
        """,
    "models/orders.sql": """\
        select
          order_id,
          to_hex(sha256(concat('Purchase', ':', order_id))) as event_id,
          unix_seconds(timestamp_trunc(min(ts), second)) as event_time,
          sum(item_revenue) as value,
          array_agg(struct(product_id as id, item_quantity as quantity,
                           cast(item_revenue as float64) / item_quantity as item_price) order by product_id) as contents,
          max(c.name) as country_name
        from {{ source('raw', 'lines') }} as l
        left join {{ ref('countries') }} as c on c.code = l.country
        group by order_id
        """,
    "models/orders_table.sql": """\
        {{ config(materialized='table', partition_by={'field': 'order_date', 'data_type': 'date'},
                  cluster_by=['event_time']) }}
        select order_id, event_time, date(timestamp_seconds(event_time)) as order_date from {{ ref('orders') }}
        """,
    "models/schema.yml": """\
        version: 2
        models:
          - name: orders
            config: {contract: {enforced: true}}
            columns:
              - {name: order_id, data_type: string, data_tests: [unique, not_null]}
              - {name: event_id, data_type: string, data_tests: [unique]}
              - {name: event_time, data_type: int64}
              - {name: value, data_type: numeric}
              - {name: contents, data_type: "array<struct<id string, quantity int64, item_price float64>>"}
              - name: country_name
                data_type: string
                data_tests: [{accepted_values: {arguments: {values: ['United States', 'United Kingdom']}}}]
          - name: orders_table
            config: {contract: {enforced: true}}
            columns:
              - {name: order_id, data_type: string}
              - {name: event_time, data_type: int64}
              - {name: order_date, data_type: date}
        unit_tests:
          - name: orders_truncate_event_time_and_sort_contents
            model: orders
            given:
              - input: source('raw', 'lines')
                rows:
                  - {order_id: o1, product_id: b, item_quantity: 2, item_revenue: 3.00, ts: "2024-01-01 10:00:00.9", country: us}
                  - {order_id: o1, product_id: a, item_quantity: 1, item_revenue: 2.50, ts: "2024-01-01 10:00:01", country: us}
              - input: ref('countries')
                rows: [{code: us, name: United States}]
            expect:
              rows:
                - {order_id: o1, event_time: 1704103200, country_name: United States}
        """,
    "tests/contents_are_not_empty.sql": "select order_id from {{ ref('orders') }} where array_length(contents) = 0\n",
}


def test_dbt_build_seed_view_contract_table_unit_and_data_tests(bigquery_emulator, tmp_path):
    client = bigquery_emulator.client()
    raw = bigquery_emulator.create_dataset("raw")
    columns = {"order_id": "STRING", "product_id": "STRING", "item_quantity": "INT64",
               "item_revenue": "NUMERIC", "ts": "TIMESTAMP", "country": "STRING"}
    table = f"{bigquery_emulator.project}.{raw}.lines"
    client.query_and_wait(f"CREATE TABLE `{table}` ({', '.join(f'{n} {t}' for n, t in columns.items())})")
    assert insert_rows(client, table, columns, [
        ("o1", "b", 2, Decimal("3.00"), dt.datetime(2024, 1, 1, 10, 0, 0, 900000), "us"),
        ("o1", "a", 1, Decimal("2.50"), dt.datetime(2024, 1, 1, 10, 0, 1), "us"),
        ("o2", "c", 3, Decimal("1.00"), dt.datetime(2024, 1, 2), "gb"),
    ]) == 3
    project = tmp_path / "probe"
    for name, text in FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text))
    (project / "profiles.yml").write_text(PROFILE)
    env = dict(os.environ, BIGQUERY_API_ENDPOINT=bigquery_emulator.api_endpoint,
               BIGQUERY_PROJECT=bigquery_emulator.project, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    build = subprocess.run(
        [str(DBT), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--vars", f"{{raw_dataset: {raw}}}", "--log-path", str(tmp_path / "logs"),
         "--target-path", str(tmp_path / "target")],
        env=env, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-4000:]
    assert "PASS=9 WARN=0 ERROR=0 SKIP=0" in build.stdout

    got = [dict(r) for r in client.query_and_wait(
        f"SELECT * FROM `{bigquery_emulator.project}.analytics.orders` ORDER BY order_id")]
    assert got == [
        {"order_id": "o1", "event_id": "f3818b1cd8ff80bc467ca3f3c92db589e3c2304311fa1081a17d4a47b12df023",
         "event_time": 1704103200, "value": Decimal("5.5"),
         "contents": [{"id": "a", "quantity": 1, "item_price": 2.5}, {"id": "b", "quantity": 2, "item_price": 1.5}],
         "country_name": "United States"},
        {"order_id": "o2", "event_id": "5241e05fa6d69bda9a2348d76433545cef305c85034e0809a0aa7ca83211387c",
         "event_time": 1704153600, "value": Decimal("1"),
         "contents": [{"id": "c", "quantity": 3, "item_price": 1 / 3}], "country_name": "United Kingdom"}]
    partitioned = client.get_table(f"{bigquery_emulator.project}.analytics.orders_table")
    assert (partitioned.time_partitioning.field, partitioned.clustering_fields) == ("order_date", ["event_time"])


def test_load_source_fixtures_matches_the_duckdb_fixtures(bigquery_emulator):
    from sample_data import fixtures

    client = bigquery_emulator.client()
    dataset = bigquery_emulator.create_dataset("amperity")
    load_source_fixtures(client, dataset)
    counts = {r.t: r.n for r in client.query_and_wait(
        f"SELECT 'customers' AS t, COUNT(*) AS n FROM `{client.project}.{dataset}.customer_360` UNION ALL "
        f"SELECT 'lines', COUNT(*) FROM `{client.project}.{dataset}.unified_itemized_transactions`")}
    assert counts == {"customers": len(fixtures.CUSTOMERS), "lines": len(fixtures.TRANSACTIONS)}
    first = next(iter(client.query_and_wait(
        f"SELECT * FROM `{client.project}.{dataset}.unified_itemized_transactions` "
        "WHERE order_id = 'O002' ORDER BY order_datetime, product_id LIMIT 1")))
    expected = next(t for t in fixtures.TRANSACTIONS if t[1] == "O002" and t[2] == "P1" and t[3] == 1)
    assert tuple(first.values()) == expected[:5] + (expected[5].replace(tzinfo=dt.timezone.utc),) + expected[6:]
