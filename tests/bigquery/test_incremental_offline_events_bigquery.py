"""offline_events incremental on BigQuery (the local emulator): daily loads (new orders, late
lines, returns, cancellations, profile changes inside the window, rows leaving the
eligibility window) built incrementally (partitioned, clustered, pre-hook delete + merge)
end equal to a full rebuild of the same sources (DuckDB's, which
test_offline_events_on_bigquery shows equal to BigQuery's) row for row, every contract
column; and `capi-sync run` after each build sends every sendable order exactly once."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import textwrap
import time
from collections import Counter

import duckdb
import pytest

from sync.emulator import ConversionsApiEmulator
from tests.support.bigquery_emulator import copy_duckdb_sources
from tests.support.daily_loads import as_of_var, daily_load, first_load
from tests.support.dbt_bigquery import DBT, EMULATOR_VARS, PROJECT_DIR, REPO, run_dbt_bigquery
from tests.support.main_job import MAX_AGE_PHYSICAL_STORE, EVENT_TIME_SAFETY_MARGIN, expected_skip_reason, run_cli

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

TOKEN = "bq-incremental-token-5c1e"
DATASET_ID = "3141592653"
SOURCE_DATASET = "amperity_incremental"
EVENTS_DATASET = "analytics_incremental"
STATE_DATASET = "capi_sync_incremental"
COLUMNS = ["event_id", "event_name", "event_time", "action_source", "order_id", "currency", "value", "num_items",
           "contents", "store_id", "em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"]
MODELS = ["build", "--resource-type", "seed", "--resource-type", "model"]
DAILY = ["build", "--selector", "daily"]


def _duckdb_full_rebuild(source, work, as_of: str) -> subprocess.Popen:
    args = [str(DBT), "--no-use-colors", *MODELS, "--full-refresh", "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(PROJECT_DIR), "--target-path", str(work / "target-duckdb"),
            "--log-path", str(work / "logs-duckdb"), "--vars", json.dumps({"as_of": as_of})]
    env = dict(os.environ, DUCKDB_PATH=str(source), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _config(work, emulator) -> str:
    path = work / "sync.yml"
    path.write_text(textwrap.dedent(f"""\
        name: incremental
        source:
          type: bigquery
          project: {emulator.project}
          dataset: {EVENTS_DATASET}
          relation: offline_events
          api_endpoint: "{{{{ env_var('BIGQUERY_API_ENDPOINT') }}}}"
        cursor:
          column: event_time
          lookback: 3d
        state:
          dataset: {STATE_DATASET}
        destination:
          endpoint: "{{{{ env_var('CAPI_ENDPOINT') }}}}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('META_ACCESS_TOKEN') }}}}"
          batch_size: 200
        """))
    return str(path)


def test_daily_loads_on_bigquery_equal_a_full_rebuild_and_send_each_order_once(bigquery_emulator, tmp_path):
    client = bigquery_emulator.client()
    source = tmp_path / "sources.duckdb"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    day0 = now - dt.timedelta(days=2, hours=1)
    first_load(source, day0, customers=150, orders=700)
    config = _config(tmp_path, bigquery_emulator)
    sendable: set[str] = set()
    unclear: set[str] = set()   # rows that crossed the 62-day limit while a run was running

    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}) as emu:
        env = dict(os.environ, META_ACCESS_TOKEN=TOKEN, CAPI_ENDPOINT=emu.url,
                   BIGQUERY_API_ENDPOINT=bigquery_emulator.api_endpoint)
        previous = day0
        for day in (0, 1, 2):
            as_of = day0 + dt.timedelta(days=day)
            if day:
                changes = daily_load(source, previous, as_of, day)
                assert all(changes.values()), changes
            copy_duckdb_sources(client, source, SOURCE_DATASET)
            if day == 2:   # the full rebuild of the same sources, on DuckDB, meanwhile
                shutil.copy(source, tmp_path / "full.duckdb")
                full = _duckdb_full_rebuild(tmp_path / "full.duckdb", tmp_path, as_of_var(as_of))
            command = MODELS if day == 0 else DAILY if day == 2 else ["run"]
            run_dbt_bigquery(bigquery_emulator, command, tmp_path,
                             {"as_of": as_of_var(as_of), "amperity_schema": SOURCE_DATASET, **EMULATOR_VARS},
                             dataset=EVENTS_DATASET)
            rows = [dict(r) for r in client.query_and_wait(
                f"SELECT * FROM `{client.project}.{EVENTS_DATASET}.offline_events`")]
            started = int(time.time())
            run = run_cli(["run", "--config", config, "--json"], env)
            ended = int(time.time()) + 1
            assert run.returncode == 0, run.stderr[-3000:]
            for row in rows:
                limit = row["event_time"] + MAX_AGE_PHYSICAL_STORE - EVENT_TIME_SAFETY_MARGIN
                if started - 2 <= limit <= ended + 2:
                    unclear.add(row["event_id"])
                elif expected_skip_reason(row, started) is None:
                    sendable.add(row["event_id"])
            previous = as_of
        sent = Counter(e["event_id"] for e in emu.accepted_events())

    assert len(sendable) > 500
    assert max(sent.values()) == 1
    assert set(sent) - unclear == sendable - unclear

    out, _ = full.communicate(timeout=600)
    assert full.returncode == 0, out[-4000:]
    with duckdb.connect(str(tmp_path / "full.duckdb"), read_only=True) as con:
        expected = [dict(zip(COLUMNS, r)) for r in con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM analytics.offline_events ORDER BY event_id").fetchall()]
    got = [dict(r) for r in client.query_and_wait(
        f"SELECT {', '.join(COLUMNS)} FROM `{client.project}.{EVENTS_DATASET}.offline_events` ORDER BY event_id")]
    assert len(got) == len(expected) > 500
    for g, e in zip(got, expected):
        assert g == e, e["order_id"]
