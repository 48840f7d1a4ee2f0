"""Two runs of the same sync at once: one proceeds, the other exits 5 and sends nothing;
also when the first died holding the lock (SIGKILL), then two more start together."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter

from tests.reliability.conftest import CAPI_SYNC, ROOT, EmulatorProcess, insert_generated, sync_env
from offline_events_fixture import state_rows, write_config



def start(config) -> subprocess.Popen:
    return subprocess.Popen([CAPI_SYNC, "run", "--config", str(config), "--json"], cwd=ROOT, env=sync_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_pair(a: subprocess.Popen, b: subprocess.Popen):
    results = []
    for p in (a, b):
        out, err = p.communicate(timeout=60)
        results.append((p.returncode, out, err))
    winner = [r for r in results if r[0] == 0]
    loser = [r for r in results if r[0] != 0]
    assert len(winner) == 1 and len(loser) == 1, results
    return winner[0], loser[0]


def assert_refused(loser):
    code, out, err = loser
    assert code == 5, err
    lines = [line for line in err.splitlines() if line.startswith("capi-sync: error:")]
    assert len(lines) == 1
    assert "another run of sync 'offline_events' is in progress" in lines[0] and lines[0].endswith("nothing was sent")
    assert "Traceback" not in err


def setup(tmp_path, warehouse, now, latency_ms):
    ids = insert_generated(warehouse, 0, 600, f"{now - 7200} + i")
    emulator = EmulatorProcess("--latency-ms", str(latency_ms))
    config = write_config(tmp_path, warehouse, emulator.url)
    config.write_text(config.read_text().replace("batch_size: 100", "batch_size: 50")
                      .replace("concurrency: 4", "concurrency: 2"))
    return ids, emulator, config


def test_two_runs_at_once(tmp_path, warehouse, now):
    ids, emulator, config = setup(tmp_path, warehouse, now, 60)
    try:
        winner, loser = finish_pair(start(config), start(config))
        accepted = emulator.client.accepted_event_ids()
    finally:
        emulator.close()
    assert_refused(loser)
    assert json.loads(winner[1])["events_sent"] == 600
    assert len(accepted) == len(set(accepted)) == 600 and set(accepted) == set(ids)   # the loser sent nothing
    assert [r["status"] for r in state_rows(warehouse, "sync_runs")] == ["succeeded"]


def test_first_run_died_holding_the_lock_then_two_start(tmp_path, warehouse, now):
    ids, emulator, config = setup(tmp_path, warehouse, now, 150)
    try:
        first = start(config)
        deadline = time.monotonic() + 30
        while emulator.client.stats()["events_received"] < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(0.3)
        locks = state_rows(warehouse, "sync_locks")
        assert len(locks) == 1 and locks[0]["holder"].endswith(f":{first.pid}")   # the dead run's lock row
        dead_run = locks[0]["run_id"]
        winner, loser = finish_pair(start(config), start(config))
        accepted = emulator.client.accepted_event_ids()
    finally:
        emulator.close()
    assert_refused(loser)
    assert f"taking over a stale lock of sync 'offline_events' from run {dead_run}" in winner[2]
    counts = Counter(accepted)
    assert set(counts) == set(ids)                        # nothing lost
    # Re-sent only what the dead run had in flight or uncommitted: at most its window (2*2+1 batches of 50).
    assert sum(c - 1 for c in counts.values()) <= 5 * 50
    runs = {r["run_id"]: r["status"] for r in state_rows(warehouse, "sync_runs")}
    assert runs[dead_run] == "abandoned" and sorted(runs.values()) == ["abandoned", "succeeded"]
    assert state_rows(warehouse, "sync_locks") == []
