"""The main job end to end on BigQuery (the local emulator), as on DuckDB: sample data (the
DuckDB generator, rows copied into the emulator) -> `dbt build --target bigquery` ->
`capi-sync run` with a bigquery source (a real CLI process) -> the local Conversions API
emulator. It must have received exactly the view's sendable events, each once, built from the
view's row; a second run sends nothing; `status` shows the watermark; the state tables are in
the BigQuery dataset named in the config."""
from __future__ import annotations

import datetime as dt
import json
import os
import textwrap
from collections import Counter

import pytest

from sample_data.generator import generate
from sync.emulator import ConversionsApiEmulator
from sync.match_keys import MATCH_KEYS
from tests.support.bigquery_emulator import copy_duckdb_sources
from tests.support.dbt_bigquery import EMULATOR_VARS, run_dbt_bigquery
from tests.support.events_oracle import user_data_keys
from tests.support.main_job import check_first_run, check_second_run_and_status, run_cli

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

TOKEN = "bq-main-job-token-41d7"
DATASET_ID = "2718281828"
SOURCE_DATASET = "amperity_main_job"
VIEW_DATASET = "analytics_main_job"
STATE_DATASET = "capi_sync_main_job"
STATE_TABLES = ["dataset_quality", "dead_letters", "sent_events", "sent_match_keys", "sync_locks", "sync_runs",
                           "sync_watermarks"]


@pytest.fixture(scope="module")
def built_view(bigquery_emulator, tmp_path_factory):
    """Sample data generated relative to now, copied into the emulator, then the real dbt build."""
    work = tmp_path_factory.mktemp("main_job_bigquery")
    path = work / "generated.duckdb"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    generate(str(path), customers=300, orders=900, days=70, seed=11, as_of=now - dt.timedelta(minutes=5))
    client = bigquery_emulator.client()
    copied = copy_duckdb_sources(client, path, SOURCE_DATASET)
    assert copied["customer_360"] == 300 and copied["unified_itemized_transactions"] > 900
    run_dbt_bigquery(bigquery_emulator, ["build"], work, {"amperity_schema": SOURCE_DATASET, **EMULATOR_VARS},
                     dataset=VIEW_DATASET)
    rows = [dict(r) for r in client.query_and_wait(
        f"SELECT * FROM `{client.project}.{VIEW_DATASET}.offline_events` ORDER BY event_time, event_id")]
    return work, client, rows


def test_main_job_on_bigquery_sends_exactly_the_view_once(bigquery_emulator, built_view):
    work, client, rows = built_view
    config = work / "sync.bigquery.yml"
    config.write_text(textwrap.dedent(f"""\
        name: main_job
        source:
          type: bigquery
          project: {bigquery_emulator.project}
          dataset: {VIEW_DATASET}
          relation: offline_events
          api_endpoint: "{{{{ env_var('BIGQUERY_API_ENDPOINT') }}}}"
        cursor:
          column: event_time
          lookback: 3d
        state:
          dataset: {STATE_DATASET}
          checkpoint_every_batches: 2
        destination:
          endpoint: "{{{{ env_var('CAPI_ENDPOINT') }}}}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('META_ACCESS_TOKEN') }}}}"
          batch_size: 100
          concurrency: 4
        """))
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}) as emu:
        env = dict(os.environ, META_ACCESS_TOKEN=TOKEN, CAPI_ENDPOINT=emu.url,
                   BIGQUERY_API_ENDPOINT=bigquery_emulator.api_endpoint)
        # a dry run writes the request bodies, sends nothing and creates no state
        dry = run_cli(["run", "--config", str(config), "--dry-run", "--output", str(work / "dry.jsonl"), "--json"], env)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert emu.requests == []
        assert not any(d.dataset_id == STATE_DATASET for d in client.list_datasets())

        first = run_cli(["run", "--config", str(config), "--json"], env)
        summary, sendable, expected_skips = check_first_run(emu, rows, first, batch_size=100, token=TOKEN,
                                                            min_sendable=300)
        bodies = [json.loads(line) for line in (work / "dry.jsonl").read_text().splitlines()]
        assert sorted(e["event_id"] for b in bodies for e in b["data"]) == sorted(
            e["event_id"] for e in emu.accepted_events())
        check_second_run_and_status(emu, config, env, summary, sendable, expected_skips)

        human = run_cli(["status", "--config", str(config)], env)
        assert human.returncode == 0 and (f"source:       {bigquery_emulator.project}.{VIEW_DATASET}.offline_events"
                                          in human.stdout)
        # the report's figures, read from the BigQuery state: the keys the emulator received
        report = run_cli(["report", "--config", str(config), "--json"], env)
        assert report.returncode == 0, report.stderr[-3000:]
        figures = json.loads(report.stdout)
        received = emu.accepted_events()
        assert figures["match_key_events"] == len(received) and figures["match_key_counts"] == {
            key: sum(1 for e in received if key in user_data_keys(e)) for key in MATCH_KEYS}

    # the state lives in the BigQuery dataset named in the config
    project = bigquery_emulator.project
    assert sorted(t.table_id for t in client.list_tables(f"{project}.{STATE_DATASET}")) == STATE_TABLES
    ledger = [dict(r) for r in client.query_and_wait(
        f"SELECT sync_name, event_id FROM `{project}.{STATE_DATASET}.sent_events` ORDER BY event_id")]
    # after each run the ledger forgets events older than watermark - lookback - 1 day
    kept = summary["watermark_after"] - 3 * 86400 - 86400
    assert ledger == [{"sync_name": "main_job", "event_id": e}
                      for e in sorted(r["event_id"] for r in sendable if r["event_time"] >= kept)]
    assert 0 < len(ledger) < len(sendable)
    watermark = [dict(r) for r in client.query_and_wait(
        f"SELECT sync_name, cursor_column, watermark FROM `{project}.{STATE_DATASET}.sync_watermarks`")]
    assert watermark == [{"sync_name": "main_job", "cursor_column": "event_time",
                          "watermark": summary["watermark_after"]}]
    assert list(client.query_and_wait(f"SELECT * FROM `{project}.{STATE_DATASET}.sync_locks`")) == []
    dead = Counter(r["reason"] for r in client.query_and_wait(
        f"SELECT reason FROM `{project}.{STATE_DATASET}.dead_letters` WHERE resolved_at IS NULL"))
    assert dead == expected_skips
