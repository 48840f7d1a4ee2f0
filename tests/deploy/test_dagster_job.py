"""deploy/dagster_job.py run by Dagster in this process on DuckDB: sample data, the job's
`dbt build` op, then its `capi-sync run` op (real processes) to the local Conversions API
emulator. Every row of the view is either received by the emulator once or dead-lettered; a
refused token (exit 3) fails the op at once, without a retry. Skipped when dagster (the
`deploy` extra) is not installed."""
from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

dagster = pytest.importorskip("dagster")

from sample_data.generator import generate  # noqa: E402
from sync.emulator import ConversionsApiEmulator  # noqa: E402
from tests.support.main_job import BIN, REPO  # noqa: E402

sys.path.insert(0, str(REPO / "deploy"))
import dagster_job  # noqa: E402

TOKEN = "dagster-job-token-51f0"
DATASET_ID = "777000111"


def _step_events(result, kind: str) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == kind]


def test_dagster_job_builds_then_syncs_and_fails_at_once_on_a_refused_token(tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    generate(str(path), customers=150, orders=400, days=20, seed=5, as_of=now - dt.timedelta(minutes=5))
    config = tmp_path / "sync.yml"
    config.write_text(textwrap.dedent(f"""\
        name: dagster_job
        source: {{type: duckdb, path: "{path}"}}
        destination:
          endpoint: "{{{{ env_var('CAPI_ENDPOINT') }}}}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('META_ACCESS_TOKEN') }}}}"
        """))
    for name, value in {"CAPI_SYNC_WORKDIR": str(REPO), "CAPI_SYNC_CONFIG": str(config), "DUCKDB_PATH": str(path),
                        "DBT_BIN": str(BIN / "dbt"), "CAPI_SYNC_BIN": str(BIN / "capi-sync"),
                        "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs"),
                        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "META_ACCESS_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}) as emu:
        monkeypatch.setenv("CAPI_ENDPOINT", emu.url)
        result = dagster_job.capi_sync_job.execute_in_process(instance=dagster.DagsterInstance.ephemeral())
        assert result.success
        assert _step_events(result, "STEP_SUCCESS") == ["dbt_build", "capi_sync_run"]
        with duckdb.connect(str(path), read_only=True) as con:
            view = {r[0] for r in con.execute("select event_id from analytics.offline_events").fetchall()}
            dead = {r[0] for r in con.execute("select event_id from capi_sync.dead_letters "
                                              "where sync_name = 'dagster_job'").fetchall()}
        received = emu.accepted_event_ids()
        assert len(received) == len(set(received)) > 100
        assert set(received) | dead == view and not set(received) & dead

        # A sync of its own name (nothing sent yet), whose token the API refuses: exit 3.
        refused = tmp_path / "refused.yml"
        refused.write_text(config.read_text().replace("name: dagster_job", "name: refused")
                           .replace("META_ACCESS_TOKEN", "REFUSED_TOKEN"))
        monkeypatch.setenv("REFUSED_TOKEN", "a-token-meta-refuses")
        monkeypatch.setenv("CAPI_SYNC_CONFIG", str(refused))
        failed = dagster_job.capi_sync_job.execute_in_process(
            instance=dagster.DagsterInstance.ephemeral(), op_selection=["capi_sync_run"], raise_on_error=False)
        assert not failed.success
        assert _step_events(failed, "STEP_FAILURE") == ["capi_sync_run"]
        assert _step_events(failed, "STEP_UP_FOR_RETRY") == []
        assert emu.accepted_event_ids() == received
    with duckdb.connect(str(path), read_only=True) as con:
        runs = con.execute("select sync_name, status from capi_sync.sync_runs order by started_at").fetchall()
    assert runs == [("dagster_job", "succeeded"), ("refused", "failed")]
