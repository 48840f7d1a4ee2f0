"""Transient faults are retried with backoff inside the budget; permanent errors stop the run
at once with the key to fix; an exhausted budget stops cleanly. Real `capi-sync` processes."""
from __future__ import annotations

import json

import pytest
from tests.reliability.conftest import cli, insert_generated
from offline_events_fixture import TOKEN, event_id, insert_rows, make_row, state_rows, write_config

from sync.emulator import ConversionsApiEmulator, Faults

RETRY_LINE = ("retry: {max_attempts: 5, base_delay: 0.01, max_delay: 0.05, throttle_base_delay: 0.02, "
              "budget_seconds: 5}")


def config_with(tmp_path, warehouse, url, retry: str | None = None, name="c.yml"):
    path = write_config(tmp_path, warehouse, url, name=name)
    text = path.read_text()
    if retry:
        text = text.replace(RETRY_LINE, f"retry: {retry}")
    path.write_text(text)
    return path


def test_every_transient_code_is_retried_then_delivered(tmp_path, warehouse, emulator, now):
    """One batch meets, in turn: each throttling code, HTTP 500 code 1, HTTP 503 code 2, a reset,
    a timeout and an accepted-but-unanswered request; each is retried; all events arrive."""
    rows = [make_row(i, now - 3600 + i) for i in range(40)]
    insert_rows(warehouse, rows)
    throttles = [4, 17, 32, 341, 613, 80003, 80004]
    script = [f"throttle:{c}" for c in throttles] + ["server_error:1", "server_error:2", "drop", "timeout",
                                                     "drop_after_accept"]
    emulator.set_faults(Faults(script=script, timeout_seconds=1.5))
    path = config_with(tmp_path, warehouse, emulator.url,
                       retry="{max_attempts: 20, base_delay: 0.001, max_delay: 0.01, throttle_base_delay: 0.002, "
                             "budget_seconds: 5}")
    path.write_text(path.read_text().replace("timeout: {connect: 2, read: 5}", "timeout: {connect: 2, read: 0.5}"))
    result = cli("run", "--config", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["events_sent"], summary["requests"], summary["retries"]) == (40, 13, 12)
    seen = [(r.fault, r.error_code) for r in emulator.requests]
    assert seen == ([("throttle", c) for c in throttles] + [("server_error", 1), ("server_error", 2),
                    ("drop", None), ("timeout", None), ("drop_after_accept", None), (None, None)])
    # The accepted-but-unanswered request is the only duplicate (same event_ids: Meta deduplicates).
    ids = emulator.accepted_event_ids()
    assert sorted(set(ids)) == sorted(r["event_id"] for r in rows) and len(ids) == 80
    assert len(state_rows(warehouse, "sent_events")) == 40


def test_is_transient_flag_with_an_unknown_code_is_retried(tmp_path, warehouse, emulator, now):
    insert_rows(warehouse, [make_row(i, now - 60) for i in range(3)])
    emulator.set_faults(Faults(script=["graph_error:9999:transient"]))
    result = cli("run", "--config", str(config_with(tmp_path, warehouse, emulator.url)), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["retries"] == 1
    assert [(r.status, r.error_code, r.fault) for r in emulator.requests] == [(400, 9999, "graph_error"),
                                                                               (200, None, None)]
    assert sorted(emulator.accepted_event_ids()) == sorted(event_id(f"o{i}") for i in range(3))


def test_throttling_backs_off_longer_than_server_errors(tmp_path, warehouse, emulator, now):
    insert_rows(warehouse, [make_row(i, now - 3600 + i) for i in range(20)])
    emulator.set_faults(Faults(script=["server_error:1"] * 3 + ["ok"] + ["throttle:17"] * 3 + ["ok"]))
    path = config_with(tmp_path, warehouse, emulator.url,
                       retry="{max_attempts: 6, base_delay: 0.005, max_delay: 2, throttle_base_delay: 0.3, "
                             "budget_seconds: 10}")
    path.write_text(path.read_text().replace("batch_size: 100", "batch_size: 10").replace("concurrency: 4",
                                                                                          "concurrency: 1"))
    result = cli("run", "--config", str(path))
    assert result.returncode == 0, result.stderr
    times = [r.received_at for r in emulator.requests]
    assert len(times) == 8
    server_waits = times[3] - times[0]        # three backoffs of at most 0.005, 0.01, 0.02 s
    throttle_waits = times[7] - times[4]      # three backoffs of up to 0.3, 0.6, 1.2 s
    assert server_waits < 0.5 and throttle_waits > server_waits


def test_budget_exhausted_stops_cleanly(tmp_path, warehouse, emulator, now):
    insert_generated(warehouse, 0, 500, f"{now - 3600} + i")
    emulator.set_faults(Faults(script=["ok", "ok"], throttle_rate=1.0))
    path = config_with(tmp_path, warehouse, emulator.url,
                       retry="{max_attempts: 100, base_delay: 0.01, max_delay: 0.2, throttle_base_delay: 0.1, "
                             "budget_seconds: 0.5}")
    path.write_text(path.read_text().replace("concurrency: 4", "concurrency: 1"))
    result = cli("run", "--config", str(path), "--json")
    assert result.returncode == 4
    summary = json.loads(result.stdout)
    assert summary["events_sent"] == 200 and summary["status"] == "failed"
    assert f"capi-sync: error: {path}: retry budget of 0.5 s used up; last error: throttled by the API" in result.stderr
    assert "Traceback" not in result.stderr
    # Accepted work committed, nothing unsent marked sent, the watermark at the accepted prefix.
    assert sorted(r["event_id"] for r in state_rows(warehouse, "sent_events")) == sorted(emulator.accepted_event_ids())
    assert len(emulator.accepted_event_ids()) == 200
    (run,) = state_rows(warehouse, "sync_runs")
    assert run["status"] == "failed" and "retry budget of 0.5 s used up" in run["error"]
    assert run["events_sent"] == 200 and run["watermark_after"] == now - 3600 + 199
    # No storm: requests stop with the budget (2 accepted + throttled attempts inside 0.5 s of backoff).
    assert len(emulator.requests) < 40
    emulator.set_faults(Faults())
    assert cli("run", "--config", str(path)).returncode == 0
    ids = emulator.accepted_event_ids()
    assert len(ids) == len(set(ids)) == 500


PERMANENT = [
    ("code 190 (bad token)", "190", "destination.access_token: the access token was refused"),
    ("code 104 (no token)", "104", "destination.access_token: the access token was refused"),
    ("code 100/33 (unknown dataset)", "100:33", "destination.dataset_id: the dataset does not exist"),
    ("code 10 (permission)", "10", "destination.access_token: the token lacks a permission"),
    ("code 200 (permission)", "200", "destination.access_token: the token lacks a permission"),
    ("code 299 (permission)", "299", "destination.access_token: the token lacks a permission"),
]


@pytest.mark.parametrize("label, graph_error, message", PERMANENT, ids=[p[0] for p in PERMANENT])
def test_permanent_error_stops_at_once(tmp_path, warehouse, emulator, now, label, graph_error, message):
    """The emulator answers every request with the error (graph_error_rate 1)."""
    insert_generated(warehouse, 0, 1000, f"{now - 3600} + i")
    emulator.set_faults(Faults(graph_error=graph_error, graph_error_rate=1.0))
    path = config_with(tmp_path, warehouse, emulator.url)
    result = cli("run", "--config", str(path))
    assert result.returncode == 3
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("capi-sync: error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith(f"capi-sync: error: {path}: {message}")
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr + result.stdout
    requests = emulator.requests            # at most the requests already in flight (concurrency 4)
    assert 1 <= len(requests) <= 4 and emulator.accepted_event_ids() == []
    assert {(r.error_code, r.error_subcode) for r in requests} == {
        (int(graph_error.split(":")[0]), int(graph_error.split(":")[1]) if ":" in graph_error else None)}
    assert state_rows(warehouse, "sent_events") == [] and state_rows(warehouse, "sync_watermarks") == []
    (run,) = state_rows(warehouse, "sync_runs")
    assert run["status"] == "failed" and message.split(": ")[0] in run["error"]


def test_unknown_dataset_on_the_emulator(tmp_path, warehouse, now):
    insert_generated(warehouse, 0, 300, f"{now - 3600} + i")
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids=["42"]) as emu:
        path = config_with(tmp_path, warehouse, emu.url)
        result = cli("run", "--config", str(path))
        assert result.returncode == 3
        assert f"capi-sync: error: {path}: destination.dataset_id: the dataset does not exist" in result.stderr
        assert len(emu.requests) <= 4 and emu.accepted_event_ids() == []
