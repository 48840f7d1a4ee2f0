"""The real `capi-sync` command in subprocesses: run, status, dead letters, errors, two runs at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from offline_events_fixture import TOKEN, event_id, insert_rows, make_row, write_config

from sync.emulator import Faults

CAPI_SYNC = str(Path(sys.executable).parent / "capi-sync")
ROOT = Path(__file__).resolve().parents[2]


def cli(*args, env_extra=None, **kwargs):
    env = {**os.environ, "META_ACCESS_TOKEN": TOKEN, **(env_extra or {})}
    return subprocess.run([CAPI_SYNC, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, **kwargs)


def test_run_status_and_dead_letters_via_cli(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(i, now - 3600 + i) for i in range(120)] + [make_row(500, now - 60, currency=None)])
    emulator.set_faults(Faults(poison_event_ids={event_id("o5")}))
    result = cli("run", "--config", str(config_path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["events_sent"], summary["batches_sent"]) == ("succeeded", 119, 2)
    assert summary["skipped"] == {"missing_currency": 1} and summary["rejected_by_api"] == 1
    assert summary["dead_lettered"] == 2 and summary["watermark_after"] == now - 60
    assert "events sent:      119 in 2 batches" in result.stderr
    assert TOKEN not in result.stdout + result.stderr

    status = cli("status", "--config", str(config_path), "--json")
    assert status.returncode == 0, status.stderr
    payload = json.loads(status.stdout)
    assert payload["watermark"] == summary["watermark_after"] and payload["dead_letters"] == 2
    assert [r["events_sent"] for r in payload["runs"]] == [119]

    letters = cli("dead-letter", "list", "--config", str(config_path), "--json")
    assert sorted((d["order_id"], d["stage"], d["reason"]) for d in json.loads(letters.stdout)) == [
        ("o5", "api", "invalid_event"), ("o500", "check", "missing_currency")]

    emulator.set_faults(Faults())
    retry = cli("dead-letter", "retry", "--config", str(config_path), "--event-id", event_id("o5"), "--json")
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["resolved"] == 1
    # --all (list: with the resolved ones) does not silence retry's JSON, as it does run --all's per sync
    again = cli("dead-letter", "retry", "--config", str(config_path), "--event-id", event_id("o5"), "--json", "--all")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resolved"] == 0
    assert sorted(emulator.accepted_event_ids()) == sorted(event_id(f"o{i}") for i in range(120))
    human = cli("status", "--config", str(config_path))
    assert "dead letters: 1 unresolved" in human.stdout
    assert TOKEN not in "".join(r.stdout + r.stderr for r in (status, letters, retry, human))


def test_config_error_is_one_line_exit_2(tmp_path, warehouse, emulator, monkeypatch):
    path = write_config(tmp_path, warehouse, emulator.url)
    path.write_text(path.read_text().replace("batch_size: 100", "batch_size: 5000"))
    result = cli("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == f"capi-sync: error: {path}: destination.batch_size: must be at most 1000 (got 5000)\n"
    missing = cli("run", "--config", str(path), env_extra={"META_ACCESS_TOKEN": ""})
    assert missing.returncode == 2


def test_wrong_token_exit_3_names_the_key(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(1, now - 60)])
    result = cli("run", "--config", str(config_path), env_extra={"META_ACCESS_TOKEN": "tok-WRONG-abcdef"})
    assert result.returncode == 3
    assert f"capi-sync: error: {config_path}: destination.access_token: the access token was refused" in result.stderr
    assert "tok-WRONG-abcdef" not in result.stdout + result.stderr


def test_two_runs_at_once_the_second_sends_nothing(tmp_path, warehouse, emulator, now, monkeypatch):
    path = write_config(tmp_path, warehouse, emulator.url)
    path.write_text(path.read_text().replace("concurrency: 4", "concurrency: 1"))
    insert_rows(warehouse, [make_row(i, now - 3600 + i) for i in range(800)])
    emulator.set_faults(Faults(latency_ms=250))
    env = {**os.environ, "META_ACCESS_TOKEN": TOKEN}
    first = subprocess.Popen([CAPI_SYNC, "run", "--config", str(path), "--json"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not emulator.requests and time.time() < deadline:
        time.sleep(0.05)
    n_before = len(emulator.requests)
    second = cli("run", "--config", str(path))
    out, err = first.communicate(timeout=60)
    assert second.returncode == 5, second.stderr
    assert "another run of sync 'offline_events' is in progress" in second.stderr
    assert "nothing was sent" in second.stderr
    assert first.returncode == 0, err
    assert json.loads(out)["events_sent"] == 800
    ids = emulator.accepted_event_ids()
    assert len(ids) == len(set(ids)) == 800 and n_before >= 1


def test_duckdb_file_busy_in_another_process(warehouse, emulator, config_path):
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = cli("run", "--config", str(config_path))
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 5
    assert f"the DuckDB file {warehouse} is in use by process {holder.pid}" in result.stderr
    assert emulator.requests == []


def test_emulator_subcommand_is_wired():
    result = cli("emulator", "--help")
    assert result.returncode == 0 and "--latency-ms" in result.stdout and "--poison-event-id" in result.stdout
