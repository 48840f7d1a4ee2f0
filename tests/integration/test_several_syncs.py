"""Several syncs in one file (`syncs:`), run by the real `capi-sync run --all` against the local
Conversions API emulator: each dataset receives exactly the events of its sync's relation, a
sync whose token the API refuses does not stop the next, the exit code is the worst, and each
sync keeps its own watermark and ledger."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from offline_events_fixture import TOKEN, event_id, insert_rows, make_row

from sync.emulator import ConversionsApiEmulator

CAPI_SYNC = str(Path(sys.executable).parent / "capi-sync")
ROOT = Path(__file__).resolve().parents[2]
EAST, WEST, BROKEN = "111000111", "222000222", "333000333"


def cli(*args):
    env = {**os.environ, "TOKEN_EAST": TOKEN, "TOKEN_WEST": TOKEN, "TOKEN_BROKEN": "a-token-the-api-refuses"}
    return subprocess.run([CAPI_SYNC, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_two_syncs_to_two_datasets_with_all(tmp_path, warehouse, now):
    rows = [make_row(i, now - 7200 + i, store_id="east" if i % 3 else "west") for i in range(250)]
    insert_rows(warehouse, rows)
    with duckdb.connect(str(warehouse)) as con:
        for store in ("east", "west"):
            con.execute(f"CREATE VIEW analytics.offline_events_{store} AS "
                        f"SELECT * FROM analytics.offline_events WHERE store_id = '{store}'")
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={EAST, WEST, BROKEN}) as emu:
        config = tmp_path / "syncs.yml"
        config.write_text(textwrap.dedent(f"""\
            source: {{type: duckdb, path: "{warehouse}"}}
            destination:
              endpoint: "{emu.url}"
              batch_size: 40
              retry: {{max_attempts: 2, base_delay: 0.01, max_delay: 0.02, budget_seconds: 2}}
            syncs:
              - name: east
                relation: analytics.offline_events_east
                dataset_id: "{EAST}"
                access_token_env: TOKEN_EAST
              - name: broken
                relation: analytics.offline_events_west
                dataset_id: "{BROKEN}"
                access_token_env: TOKEN_BROKEN
              - name: west
                source: {{relation: analytics.offline_events_west}}
                destination: {{dataset_id: "{WEST}", access_token: "{{{{ env_var('TOKEN_WEST') }}}}"}}
            """))
        metrics = tmp_path / "capi_sync.prom"
        first = cli("run", "--all", "--config", str(config), "--json", "--metrics-file", str(metrics))
        assert first.returncode == 3, first.stderr
        report = json.loads(first.stdout)
        assert report["exit_code"] == 3
        assert [(s["sync_name"], s["exit_code"]) for s in report["syncs"]] == [("east", 0), ("broken", 3), ("west", 0)]
        assert "3 of 3 syncs run: east exit 0, broken exit 3, west exit 0; exit code 3" in first.stderr
        assert "a-token-the-api-refuses" not in first.stdout + first.stderr

        received: dict[str, list[str]] = {}
        for batch in emu.accepted_batches():
            received.setdefault(batch.dataset_id, []).extend(batch.event_ids)
        east_ids = sorted(event_id(f"o{i}") for i in range(250) if i % 3)
        west_ids = sorted(event_id(f"o{i}") for i in range(250) if not i % 3)
        assert {k: sorted(v) for k, v in received.items()} == {EAST: east_ids, WEST: west_ids}
        summaries = {s["sync_name"]: s["summary"] for s in report["syncs"]}
        assert (summaries["east"]["events_sent"], summaries["west"]["events_sent"]) == (166, 84)
        assert summaries["broken"]["status"] == "failed" and summaries["broken"]["events_sent"] == 0
        sent_gauges = [line for line in metrics.read_text().splitlines() if line.startswith("capi_sync_events_sent{")]
        assert sent_gauges == ['capi_sync_events_sent{sync="east"} 166', 'capi_sync_events_sent{sync="broken"} 0',
                               'capi_sync_events_sent{sync="west"} 84']

        status = cli("status", "--config", str(config), "--json")
        assert status.returncode == 0, status.stderr
        watermarks = {s["sync_name"]: s["watermark"] for s in json.loads(status.stdout)}
        assert watermarks == {"east": now - 7200 + 248, "broken": None, "west": now - 7200 + 249}

        again = cli("run", "--sync", "east", "--config", str(config), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["events_sent"] == 0
        assert emu.events_received == 250

    unchosen = cli("run", "--config", str(config))
    assert unchosen.returncode == 2
    assert unchosen.stderr.strip().endswith(
        "syncs: has 3 syncs (east, broken, west): choose one with `capi-sync run --sync NAME` "
        "or run them in turn with --all")
