"""The main job end to end on DuckDB, as README's first command runs it:
sample data -> dbt build -> capi-sync run (a real CLI process) -> the local Conversions API
emulator over 127.0.0.1. The emulator must have received exactly the view's sendable
events, each once, built exactly from the view's row; a second run sends nothing."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import textwrap
from decimal import Decimal

import duckdb
import pytest

from sample_data.generator import generate
from sync.emulator import ConversionsApiEmulator
from tests.support.main_job import BIN, REPO, check_first_run, check_second_run_and_status, run_cli

TOKEN = "main-job-token-7c1d0e"
DATASET_ID = "4815162342"


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory):
    """Sample data generated relative to now, then the real dbt build."""
    work = tmp_path_factory.mktemp("main_job")
    path = work / "warehouse.duckdb"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    generate(str(path), customers=400, orders=1500, days=70, seed=11, as_of=now - dt.timedelta(minutes=5))
    env = dict(os.environ, DUCKDB_PATH=str(path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    build = subprocess.run(
        [str(BIN / "dbt"), "--no-use-colors", "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-4000:]
    con = duckdb.connect(str(path), read_only=True)
    cur = con.execute("select * from analytics.offline_events order by event_time, event_id")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    con.close()
    return work, path, rows


def test_main_job_sends_exactly_the_view_once(built_warehouse):
    work, path, rows = built_warehouse
    config = work / "sync.yml"
    config.write_text(textwrap.dedent(f"""\
        name: main_job
        source:
          type: duckdb
          path: "{path}"
          relation: analytics.offline_events
        cursor:
          column: event_time
          lookback: 3d
        destination:
          endpoint: "{{{{ env_var('CAPI_ENDPOINT') }}}}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('META_ACCESS_TOKEN') }}}}"
          batch_size: 250
          concurrency: 4
        """))
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}) as emu:
        env = dict(os.environ, META_ACCESS_TOKEN=TOKEN, CAPI_ENDPOINT=emu.url)
        first = run_cli(["run", "--config", str(config), "--json"], env)
        summary, sendable, expected_skips = check_first_run(emu, rows, first, batch_size=250, token=TOKEN,
                                                            min_sendable=500)
        check_second_run_and_status(emu, config, env, summary, sendable, expected_skips)


def test_the_warehouse_file_is_in_the_installed_duckdbs_format(built_warehouse):
    """The file the job above ran on was written by the installed DuckDB in its own storage
    format: on DuckDB 2.x one that DuckDB 1.x cannot open (docs/warehouse.md, Versions)."""
    _, path, _ = built_warehouse
    with duckdb.connect(str(path), read_only=True) as con:
        (storage,) = con.execute("select tags['storage_version'] from duckdb_databases() "
                                 "where database_name = 'warehouse'").fetchone()
    major = int(duckdb.__version__.split(".")[0])
    assert storage == ("v2.0.0+" if major >= 2 else "v1.0.0+")


def test_view_values_are_exact_money(built_warehouse):
    """value is DECIMAL(18,2) in the view and equals the sum of its contents' line totals to the cent."""
    _, _, rows = built_warehouse
    for row in rows:
        assert isinstance(row["value"], Decimal)
        line_total = sum(Decimal(str(c["item_price"])) * c["quantity"] for c in row["contents"])
        assert abs(line_total - row["value"]) < Decimal("0.01") * len(row["contents"])
