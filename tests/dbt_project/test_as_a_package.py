"""The dbt project installed as a package in another dbt project (README, Use it on your data):
a consumer project of its own (dbt_project.yml, profiles.yml, packages.yml with `local:`,
`dbt deps` offline) whose source tables sit in another database, schema and table names,
set by the package's vars under its name. Its `offline_events` equals ours row for row;
nothing lands next to the source tables, and a build that would is refused (the on-run-start
guard: dbt names a package's schemas with the consumer's generate_schema_name)."""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import duckdb

from dbt_runner import DBT, PROJECT_DIR
from phone_cases import customer_rows

from sample_data.fixtures import AS_OF_VAR, load_fixtures


def _dbt(consumer: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    return subprocess.run([str(DBT), "--no-use-colors", *args, "--project-dir", str(consumer),
                           "--profiles-dir", str(consumer)], cwd=consumer, env=env, capture_output=True,
                          text=True, timeout=600)


def _consumer(tmp_path: Path) -> Path:
    """Raw tables in raw.duckdb (schema cdp: uit, c360); the consumer builds into shop.duckdb, the
package's models in schema capi_events by the consumer's generate_schema_name."""
    with duckdb.connect(str(tmp_path / "raw.duckdb")) as con:
        load_fixtures(con, extra_customers=customer_rows())
        con.execute("CREATE SCHEMA cdp")
        con.execute("CREATE TABLE cdp.uit AS SELECT * FROM amperity.unified_itemized_transactions")
        con.execute("CREATE TABLE cdp.c360 AS SELECT * FROM amperity.customer_360")
        con.execute("DROP SCHEMA amperity CASCADE")
    consumer = tmp_path / "shop_analytics"
    (consumer / "models").mkdir(parents=True)
    (consumer / "macros").mkdir()
    # The consumer's own schema rule (custom schema as is), which names the package's schemas too.
    (consumer / "macros" / "generate_schema_name.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "{{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}\n"
        "{%- endmacro %}\n")
    (consumer / "dbt_project.yml").write_text(textwrap.dedent(f"""\
        name: shop_analytics
        version: "1.0.0"
        config-version: 2
        profile: shop
        vars:
          capi_offline_events:
            amperity_database: raw
            amperity_schema: cdp
            amperity_unified_itemized_transactions_identifier: uit
            amperity_customer_360_identifier: c360
            as_of: "{AS_OF_VAR}"
        models:
          capi_offline_events:
            +schema: capi_events
        """))
    (consumer / "packages.yml").write_text(f"packages:\n  - local: {json.dumps(str(PROJECT_DIR))}\n")
    (consumer / "profiles.yml").write_text(textwrap.dedent(f"""\
        shop:
          target: dev
          outputs:
            dev:
              type: duckdb
              path: "{tmp_path / 'shop.duckdb'}"
              schema: marts
              threads: 4
              attach:
                - path: "{tmp_path / 'raw.duckdb'}"
                  alias: raw
            clash:
              type: duckdb
              path: "{tmp_path / 'raw.duckdb'}"
              schema: cdp
        """))
    (consumer / "models" / "orders_to_meta.sql").write_text(
        "select count(*) as orders from {{ ref('offline_events') }}\n")
    return consumer


def _tables(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select table_schema, table_name from information_schema.tables "
                           "order by all").fetchall()


def test_the_package_in_another_project_builds_the_same_offline_events(tmp_path, fixture_warehouse):
    consumer = _consumer(tmp_path)
    deps = _dbt(consumer, "deps")
    assert deps.returncode == 0, deps.stdout[-3000:]
    build = _dbt(consumer, "build")
    assert build.returncode == 0, build.stdout[-6000:]

    query = "select * from {} order by event_id"
    with duckdb.connect(str(fixture_warehouse["path"]), read_only=True) as con:
        ours = con.execute(query.format("analytics.offline_events")).fetchall()
    with duckdb.connect(str(tmp_path / "shop.duckdb"), read_only=True) as con:
        con.execute(f"ATTACH '{tmp_path / 'raw.duckdb'}' AS raw (READ_ONLY)")   # the views read it
        theirs = con.execute(query.format("capi_events.offline_events")).fetchall()
        (orders,) = con.execute("select orders from marts.orders_to_meta").fetchone()
    assert len(ours) > 10 and theirs == ours and orders == len(ours)
    assert _tables(tmp_path / "raw.duckdb") == [("cdp", "c360"), ("cdp", "uit")]

    # A target in the source tables' own schema (raw.cdp): refused before anything is built.
    clash = _dbt(consumer, "build", "--target", "clash")
    assert clash.returncode != 0
    assert "would be built in raw.cdp, the schema of the source tables: dbt must never write" in clash.stdout
    assert _tables(tmp_path / "raw.duckdb") == [("cdp", "c360"), ("cdp", "uit")]
