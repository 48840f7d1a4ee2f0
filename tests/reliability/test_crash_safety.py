"""SIGKILL the sync at random points, run again, and count lost and duplicated events.

The emulator runs in its own `capi-sync emulator` process with latency and random faults
(drop_after_accept: the API accepted but the answer never arrived). Each round adds new
and late rows to the view, starts `capi-sync run --verbose` and kills it -9 at a random
time, at the start of the read, at a random time after the read started (while sending), or
in the middle of the k-th checkpoint (its debug log line says when a commit begins). A run
that finished before its kill does not count: the test goes on until KILLS runs were killed.
After each kill:
- nothing that was in the ledger when the run started was sent again (exactly once);
- every id in the ledger was accepted by the API (nothing unsent marked sent);
- events accepted but not committed (the re-send window) <= window_batches * batch_size.
At the end, runs without faults finish: no eligible event lost, duplicates counted.
Seed: CAPI_RELIABILITY_SEED (printed); number of kills: CAPI_RELIABILITY_KILLS (default 50).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
from tests.reliability.conftest import CAPI_SYNC, ROOT, EmulatorProcess, cli, insert_generated, insert_orders, sync_env
from offline_events_fixture import event_id, state_rows, write_config

from sync.emulator import Faults

KILLS = int(os.environ.get("CAPI_RELIABILITY_KILLS", "50"))
BATCH_SIZE = 50
CONCURRENCY = 4
CHECKPOINT_EVERY = 1
WINDOW_EVENTS = (2 * CONCURRENCY + CHECKPOINT_EVERY) * BATCH_SIZE
INITIAL_ROWS = 800
MODES = ("random time", "at the read", "while sending", "in the k-th commit")
MODE_WEIGHTS = (4, 1, 3, 2)
RESULTS_FILE = os.environ.get("CAPI_RELIABILITY_RESULTS")   # optional: write the counts as JSON here


def ledger(warehouse: Path) -> set[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'capi_sync' "
                           "AND table_name = 'sent_events'").fetchone()[0]:
            return set()
        return {r[0] for r in con.execute("SELECT event_id FROM capi_sync.sent_events").fetchall()}
    finally:
        con.close()


def wait_for_line(path: Path, needle: str, occurrence: int, proc: subprocess.Popen, deadline: float) -> bool:
    """Poll the log file until `needle` occurred `occurrence` times; False if the run ended first."""
    seen, text = 0, ""
    with open(path, errors="replace") as log:
        while time.monotonic() < deadline:
            text += log.read()
            lines = text.split("\n")
            text = lines.pop()          # an unfinished line waits for the next read
            seen += sum(needle in line for line in lines)
            if seen >= occurrence:
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.002)
    return False


def wait_until_answered(client, deadline: float) -> None:
    """Wait until the emulator has decided every request it read (the dead run's last ones)."""
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        quiet = quiet + 1 if client.stats()["in_progress"] == 0 else 0
        time.sleep(0.01)


def classify(log: str, requests_before: int, requests_after: int, uncommitted: int, exited: bool) -> str:
    if exited:
        return "completed before the kill"
    if "reading analytics.offline_events" not in log:
        return "starting (config, lock, state)"
    writing, committed = log.count("checkpoint: writing"), log.count("checkpoint: committed")
    if writing > committed:
        return "during a commit"
    if requests_after == requests_before:
        return "reading / building events"
    if uncommitted:
        return "sending: accepted by the API, not yet committed"
    return "sending: nothing accepted outside the ledger"


def test_sigkill_at_random_points_loses_nothing(tmp_path, now):
    seed = int(os.environ.get("CAPI_RELIABILITY_SEED", random.SystemRandom().randrange(2 ** 32)))
    print(f"\ncrash-safety seed: {seed} (CAPI_RELIABILITY_SEED={seed} to repeat)")
    rng = random.Random(seed)
    warehouse = tmp_path / "warehouse.duckdb"
    from offline_events_fixture import create_offline_events
    create_offline_events(warehouse, [])
    emulator = EmulatorProcess()
    try:
        config = write_config(tmp_path, warehouse, emulator.url, extra=f"state:\n  checkpoint_every_batches: {CHECKPOINT_EVERY}\n")
        config.write_text(config.read_text()
                          .replace("batch_size: 100", f"batch_size: {BATCH_SIZE}")
                          .replace("chunk_size: 1000", "chunk_size: 400")
                          .replace("timeout: {connect: 2, read: 5}", "timeout: {connect: 1, read: 1}")
                          .replace("retry: {max_attempts: 5, base_delay: 0.01, max_delay: 0.05, throttle_base_delay: 0.02, "
                                   "budget_seconds: 5}",
                                   "retry: {max_attempts: 10, base_delay: 0.005, max_delay: 0.05, "
                                   "throttle_base_delay: 0.02, budget_seconds: 30}"))
        client = emulator.client
        good, poisoned, check_bad = [], set(), set()
        next_order = 0

        def add_rows(n_new: int, n_late: int, round_no: int) -> None:
            nonlocal next_order
            orders = []
            base = now - 36 * 3600 + round_no * 600
            for i in range(n_new + n_late):
                n = next_order
                next_order += 1
                t = base + i if i < n_new else base - rng.randrange(3600, 86400)   # late rows inside the lookback
                if rng.random() < 0.01:
                    orders.append((n, t, False))     # no currency: skipped by the sync's checks
                    check_bad.add(event_id(f"o{n}"))
                    continue
                orders.append((n, t, True))
                if rng.random() < 0.004:
                    poisoned.add(event_id(f"o{n}"))
                else:
                    good.append(event_id(f"o{n}"))
            insert_orders(warehouse, orders)

        good += insert_generated(warehouse, 0, INITIAL_ROWS, f"{now - 40 * 3600} + i")
        next_order = INITIAL_ROWS
        phases: Counter = Counter()
        modes: Counter = Counter()
        seconds: Counter = Counter()
        windows, violations, unsent_marked = [], [], []
        env = sync_env()
        kills = rounds = 0
        after_ledger: set[str] = set()
        while kills < KILLS:
            assert rounds < 2 * KILLS + 10, f"seed {seed}: only {kills} of {rounds} runs were killed"
            rounds += 1
            k = rounds - 1
            started = time.monotonic()
            add_rows(rng.randrange(20, 120), rng.randrange(0, 10), k + 1)
            latency = rng.choice((5, 15, 30))
            client.set_faults(Faults(latency_ms=latency, drop_after_accept_rate=0.08, server_error_rate=0.04,
                                     drop_rate=0.03, throttle_rate=0.03, timeout_rate=0.01, timeout_seconds=1.2,
                                     seed=rng.randrange(2 ** 31), poison_event_ids=poisoned))
            before_ledger = after_ledger        # nothing writes the ledger between two runs
            stats = client.stats()
            accepted_before, requests_before = stats["events_received"], stats["requests"]
            log_path = tmp_path / f"run-{k}.log"
            seconds["preparing rounds"] += time.monotonic() - started
            started = time.monotonic()
            with open(log_path, "w") as log_file:
                proc = subprocess.Popen([CAPI_SYNC, "run", "--config", str(config), "--verbose"], cwd=ROOT, env=env,
                                        stdout=log_file, stderr=log_file)
            mode = rng.choices(MODES, MODE_WEIGHTS)[0]
            deadline = time.monotonic() + 30
            if mode == "random time":
                time.sleep(rng.uniform(0.2, 1.2))
            elif mode == "at the read":
                wait_for_line(log_path, "reading analytics.offline_events", 1, proc, deadline)
                time.sleep(rng.uniform(0, 0.03))
            elif mode == "while sending":
                wait_for_line(log_path, "reading analytics.offline_events", 1, proc, deadline)
                time.sleep(rng.uniform(0.02, 0.3))
            else:
                wait_for_line(log_path, "checkpoint: writing", rng.randrange(1, 4), proc, deadline)
            exited = proc.poll() is not None
            if not exited:
                proc.send_signal(signal.SIGKILL)
            code = proc.wait(timeout=30)
            seconds["running until the kill"] += time.monotonic() - started
            started = time.monotonic()
            assert code in (0, -signal.SIGKILL), f"seed {seed} round {k}: exit {code}: {log_path.read_text()[-2000:]}"
            wait_until_answered(client, time.monotonic() + 10)   # requests the dead run left in flight
            accepted = client.accepted_event_ids()
            new = accepted[accepted_before:]
            after_ledger = ledger(warehouse)
            resent_committed = set(new) & before_ledger
            violations.append(len(resent_committed))
            unsent_marked.append(len(after_ledger - set(accepted)))
            uncommitted = set(new) - after_ledger
            windows.append(len(uncommitted))
            log = log_path.read_text(errors="replace")
            phases[classify(log, requests_before, client.stats()["requests"], len(uncommitted), exited)] += 1
            if not exited:
                kills += 1
                modes[mode] += 1
            assert "Traceback" not in log, log
            seconds["checking after the kill"] += time.monotonic() - started
        # Afterwards: runs without faults until done.
        started = time.monotonic()
        client.set_faults(Faults(poison_event_ids=poisoned))
        final = cli("run", "--config", str(config), "--json")
        assert final.returncode == 0, final.stderr
        again = cli("run", "--config", str(config), "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["events_sent"] == 0, again.stderr
        accepted = client.accepted_event_ids()
        requests = client.requests()
        seconds["final runs"] += time.monotonic() - started
    finally:
        emulator.close()
    counts = Counter(accepted)
    lost = set(good) - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    by_retry = sum(r["n_accepted"] for r in requests if r["fault"] == "drop_after_accept")
    letters = state_rows(warehouse, "dead_letters")
    runs = state_rows(warehouse, "sync_runs")
    result = {
        "seed": seed, "kills": kills, "runs": rounds + 2, "events_eligible": len(good), "events_lost": len(lost),
        "accepted_total": len(accepted), "duplicates": duplicates,
        "events_accepted_then_answer_dropped": by_retry,
        "committed_events_resent": sum(violations), "unsent_marked_sent": sum(unsent_marked),
        "max_window_events": max(windows), "window_bound_events": WINDOW_EVENTS,
        "dead_lettered_api": len(poisoned), "dead_lettered_check": len(check_bad),
        "requests": len(requests), "kill_modes": dict(modes), "kill_phases": dict(phases),
        "run_statuses": dict(Counter(r["status"] for r in runs)),
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
    }
    print(json.dumps(result, indent=2))
    if RESULTS_FILE:
        Path(RESULTS_FILE).write_text(json.dumps(result, indent=2) + "\n")
    assert lost == set(), f"seed {seed}: {len(lost)} events lost"
    assert set(counts) == set(good), f"seed {seed}: accepted ids differ from the eligible ids"
    assert sum(violations) == 0, f"seed {seed}: events already in the ledger were sent again"
    assert sum(unsent_marked) == 0, f"seed {seed}: ledger ids the API never accepted"
    assert max(windows) <= WINDOW_EVENTS, f"seed {seed}: re-send window {max(windows)} > {WINDOW_EVENTS}"
    assert ledger(warehouse) == set(good)
    assert {d["event_id"] for d in letters if d["resolved_at"] is None} == poisoned | check_bad
    assert {d["stage"] for d in letters if d["event_id"] in poisoned} <= {"api"}
    assert "running" not in {r["status"] for r in runs}, "a killed run was not marked abandoned"
    assert state_rows(warehouse, "sync_locks") == []
    assert kills == KILLS and sum(modes.values()) == KILLS
    assert phases["during a commit"] >= 1 and phases["sending: accepted by the API, not yet committed"] >= 1
