"""SIGTERM and SIGINT: real `capi-sync run` processes, real signals, the emulator in its own
process answering each request after a delay. The first signal: no new batch, the batches in
flight finish within destination.timeout.stop or are cancelled, what was accepted is
committed, the run is recorded `interrupted`, the summary printed, exit 143 / 130. A second
signal exits at once. The next run sends the rest, nothing twice except what was in flight
and unanswered. The library installs no signal handler; the command restores them."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from tests.reliability.conftest import CAPI_SYNC, ROOT, EmulatorProcess, cli, insert_generated, sync_env
from offline_events_fixture import state_rows, write_config

from sync.emulator import Faults

N = 1200


class Run:
    """`capi-sync run --json` in its own process; `started` once it logged that it is reading
    (its signal handlers are installed by then)."""

    def __init__(self, config):
        self.proc = subprocess.Popen([CAPI_SYNC, "run", "--config", str(config), "--json"], cwd=ROOT,
                                     env=sync_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.early = ""
        while "reading analytics.offline_events" not in self.early:
            line = self.proc.stderr.readline()
            assert line, self.early
            self.early += line

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, self.early + err


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def setup(tmp_path, warehouse, now, latency_ms: int, stop: float):
    ids = insert_generated(warehouse, 0, N, f"{now - 7200} + i")
    emulator = EmulatorProcess("--latency-ms", str(latency_ms))
    config = write_config(tmp_path, warehouse, emulator.url)
    text = config.read_text().replace("timeout: {connect: 2, read: 5}", f"timeout: {{connect: 2, read: 30, stop: {stop}}}")
    config.write_text(text.replace("concurrency: 4", "concurrency: 2"))
    return ids, emulator, config


def run_status(warehouse) -> list[tuple[str, str | None]]:
    return [(r["status"], r["error"]) for r in sorted(state_rows(warehouse, "sync_runs"), key=lambda r: r["started_at"])]


def test_sigterm_lets_the_batches_in_flight_finish(tmp_path, warehouse, now):
    ids, emulator, config = setup(tmp_path, warehouse, now, latency_ms=400, stop=20)
    try:
        run = Run(config)
        wait_for(lambda: emulator.client.stats()["requests"] >= 3)
        run.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code, out, err = run.finish()
        assert code == 143, err
        assert time.monotonic() - signalled < 3    # the two batches in flight (0.4 s), the commit
        assert "Traceback" not in err and "capi-sync: SIGTERM: stopping" in err
        summary = json.loads(out)
        assert (summary["status"], summary["exit_code"], summary["failed"]) == ("interrupted", 143, 0)
        assert summary["error"].startswith("interrupted by SIGTERM: no new batch was sent")
        accepted = emulator.client.accepted_event_ids()
        ledger = [r["event_id"] for r in state_rows(warehouse, "sent_events")]
        assert sorted(ledger) == sorted(accepted) and 0 < len(ledger) < N   # everything accepted is committed
        assert summary["events_sent"] == len(ledger)
        assert run_status(warehouse) == [("interrupted", summary["error"])]
        emulator.client.set_faults(Faults())
        again = cli("run", "--config", str(config), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["events_sent"] == N - len(ledger)
        all_accepted = emulator.client.accepted_event_ids()
        assert sorted(all_accepted) == sorted(ids)   # each exactly once
    finally:
        emulator.close()


def test_batches_in_flight_are_cancelled_at_the_deadline_and_a_second_signal_exits_at_once(tmp_path, warehouse, now):
    ids, emulator, config = setup(tmp_path, warehouse, now, latency_ms=6000, stop=1)
    try:
        run = Run(config)
        wait_for(lambda: emulator.client.stats()["in_progress"] >= 2)
        run.signal(signal.SIGINT)
        signalled = time.monotonic()
        code, out, err = run.finish()
        assert code == 130, err
        assert 1 <= time.monotonic() - signalled < 4
        summary = json.loads(out)
        assert (summary["status"], summary["events_sent"], summary["failed"]) == ("interrupted", 0, 200)
        assert "2 batches in flight were cancelled after destination.timeout.stop (1 s)" in summary["error"]
        assert [line for line in err.splitlines() if line.startswith("capi-sync: error:")] == [
            f"capi-sync: error: {summary['error']}"]
        assert state_rows(warehouse, "sent_events") == []
        assert run_status(warehouse) == [("interrupted", summary["error"])]
        in_flight_ids = set(ids[:200])

        # a second signal: at once, without waiting for the 6 s requests
        baseline = emulator.client.stats()["in_progress"]   # the cancelled requests still wait for their answer
        second = Run(config)
        wait_for(lambda: emulator.client.stats()["in_progress"] >= baseline + 2)
        second.signal(signal.SIGTERM)
        time.sleep(0.3)
        second.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code, out, err = second.finish()
        assert code == 143 and time.monotonic() - signalled < 1.5, err
        assert "capi-sync: SIGTERM again: exiting now" in err and "Traceback" not in err
        assert [s for s, _ in run_status(warehouse)] == ["interrupted", "running"]

        emulator.client.set_faults(Faults())
        last = cli("run", "--config", str(config), "--json")
        assert last.returncode == 0, last.stderr
        assert [s for s, _ in run_status(warehouse)] == ["interrupted", "abandoned", "succeeded"]
        wait_for(lambda: emulator.client.stats()["in_progress"] == 0)
        accepted = emulator.client.accepted_event_ids()
        assert set(accepted) == set(ids)
        twice = {i for i in accepted if accepted.count(i) > 1}
        assert twice <= in_flight_ids   # only what was in flight and unanswered
        assert sorted(r["event_id"] for r in state_rows(warehouse, "sent_events")) == sorted(ids)
    finally:
        emulator.close()


def test_the_library_installs_no_signal_handler(warehouse, emulator, tmp_path, now, monkeypatch):
    from offline_events_fixture import TOKEN
    from sync.cli import main
    from sync.config import load_config
    from sync.runner import Progress, SyncRun
    from sync.stop_signals import graceful_stop

    insert_generated(warehouse, 0, 10, f"{now - 60} + i")
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    config_path = write_config(tmp_path, warehouse, emulator.url)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    seen = []

    class Watch(Progress):
        def update(self, summary, events):
            seen.append(signal.getsignal(signal.SIGTERM))

    summary = SyncRun(load_config(config_path), progress=Watch()).run()
    assert summary.status == "succeeded" and seen == [before[signal.SIGTERM]]
    with graceful_stop(lambda name, code: None):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert main(["run", "--config", str(config_path)]) == 0
    assert {sig: signal.getsignal(sig) for sig in before} == before


@pytest.mark.parametrize("seconds", [0, 3600])
def test_stop_timeout_is_a_setting(tmp_path, seconds, monkeypatch):
    from tests.sync.test_config import cfg
    from sync.config import parse_config
    monkeypatch.setenv("META_ACCESS_TOKEN", "tok")
    config = parse_config(cfg("", f"timeout: {{stop: {seconds}}}\n"), "x.yml")
    assert config.destination.timeout.stop == seconds
    assert parse_config(cfg(), "x.yml").destination.timeout.stop == 20.0
