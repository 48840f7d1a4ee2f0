"""Whole sync runs: `capi-sync run` as a child process (events/s, peak RSS), latency-bound
runs in-process (send window timed around the sync's own destination), incremental runs."""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import duckdb

from bench.payload import write_config
from bench.processes import BIN, BenchError, Server, run_timed
from sync.config import load_config
from sync.destination import ConversionsApiDestination
from sync.events import EventSettings
from sync.runner import SyncRun
from sync.sources.base import skip_sql
from sync.sources.duckdb import DIALECT
from sync.contract import REQUIRED_COLUMNS

STATE_SCHEMA = "capi_sync"   # the bench config's state.schema
# source.memory_limit of the runs on the dbt table (docs/sync.md, Memory; 32MB until 2026-12-07,
# when a page came to need about 28MB of it: bench/findings.md)
TABLE_MEMORY_LIMIT = "64MB"


def reset_state(duckdb_path: Path, state_schema: str = STATE_SCHEMA) -> None:
    """Forget every earlier run kept in `state_schema`: drop it, remove the file's lock file."""
    con = duckdb.connect(str(duckdb_path))
    try:
        con.execute(f"DROP SCHEMA IF EXISTS {state_schema} CASCADE")
    finally:
        con.close()
    lock = Path(f"{duckdb_path}.capi-sync.lock")
    if lock.exists():
        lock.unlink()


def cli_run(duckdb_path: Path, relation: str, sink: Server, *, timeout: float, concurrency: int = 4,
            fresh: bool = True, label: str = "run", memory_limit: str | None = None,
            state_schema: str = STATE_SCHEMA) -> dict:
    """`capi-sync run --config <bench config> --json` to `sink`; its summary, wall time and peak RSS.

    fresh: drop `state_schema` first (a first run); else the run continues that history."""
    if fresh:
        reset_state(duckdb_path, state_schema)
    config = write_config(duckdb_path.parent / f"sync-{label}.yml", duckdb_path=str(duckdb_path),
                          relation=relation, endpoint=sink.url, concurrency=concurrency, memory_limit=memory_limit,
                          state_schema=state_schema)
    before = sink.get("/_sink/stats") if _is_sink(sink) else None
    done = run_timed([str(BIN / "capi-sync"), "run", "--config", str(config), "--json"], timeout=timeout,
                     what=f"capi-sync run ({label})")
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"capi-sync run ({label}) exited {done.returncode} without a JSON summary: "
                         f"{done.stderr.strip()[-400:]}") from None
    after = sink.get("/_sink/stats") if before is not None else None
    sent = summary.get("events_sent", 0)
    result = {
        "label": label, "relation": relation, "state_schema": state_schema, "concurrency": concurrency,
        "memory_limit": memory_limit,
        "exit_code": done.returncode,
        "status": summary.get("status"), "error": summary.get("error"),
        "rows_read": summary.get("rows_read"), "events_sent": sent, "batches_sent": summary.get("batches_sent"),
        "skipped": summary.get("skipped"), "run_seconds": summary.get("seconds"),
        "process_seconds": round(done.seconds, 3), "peak_rss_mib": round(done.peak_rss_mib, 1),
        "events_per_second": round(sent / summary["seconds"], 1) if sent and summary.get("seconds") else None,
        "events_per_second_process": round(sent / done.seconds, 1) if sent else None,
    }
    if after is not None:
        result["sink_events"] = after["events"] - before["events"]
    return result


def _is_sink(server: Server) -> bool:
    try:
        return "events" in server.get("/_sink/stats")
    except Exception:
        return False


class _TimedDestination(ConversionsApiDestination):
    """The sync's destination, noting when the first batch left and the last answer came."""

    window: dict = {}
    lock = threading.Lock()

    def deliver(self, encoded_events):
        started = time.perf_counter()
        with self.lock:
            self.window.setdefault("first", started)
        delivery = super().deliver(encoded_events)
        with self.lock:
            self.window["last"] = time.perf_counter()
        return delivery


def latency_run(duckdb_path: Path, relation: str, emulator: Server, *, concurrency: int,
                latency_ms: float) -> dict:
    """One in-process sync of `relation` to the emulator (latency already set): send-window events/s."""
    reset_state(duckdb_path)
    config_path = write_config(duckdb_path.parent / f"sync-latency-{concurrency}.yml", duckdb_path=str(duckdb_path),
                               relation=relation, endpoint=emulator.url, concurrency=concurrency,
                               name=f"bench_latency_{concurrency}")
    config = load_config(config_path)
    _TimedDestination.window = {}
    started = time.perf_counter()
    summary = SyncRun(config, destination_factory=_TimedDestination).run()
    wall = time.perf_counter() - started
    window = _TimedDestination.window
    seconds = window["last"] - window["first"] if "last" in window else None
    ideal = concurrency * 1000 / (latency_ms / 1000)
    eps = summary.events_sent / seconds if seconds else None
    return {"concurrency": concurrency, "latency_ms": latency_ms, "events_sent": summary.events_sent,
            "batches_sent": summary.batches_sent, "requests": summary.requests,
            "waves": round(summary.batches_sent / concurrency, 2), "error": summary.error,
            "send_window_seconds": round(seconds, 3) if seconds else None, "run_seconds": round(wall, 3),
            "events_per_second": round(eps, 1) if eps else None, "ideal_events_per_second": ideal,
            "percent_of_ideal": round(100 * eps / ideal, 1) if eps else None,
            "percent_of_ideal_whole_run": round(100 * summary.events_sent / wall / ideal, 1)}


def make_latency_sample(duckdb_path: Path, source_table: str, name: str, events: int) -> str:
    """A table of exactly `events` rows that pass the sync's checks (so every batch holds
    1,000 events: no short last batch costing a whole round trip), in cursor order; when
    `source_table` has fewer, its rows repeat under new event_ids (sha256 of id:copy)."""
    columns = {name: f'v."{name}"' for name in REQUIRED_COLUMNS}
    checks = f"{skip_sql(EventSettings(now=int(time.time())), columns, DIALECT)} IS NULL"
    con = duckdb.connect(str(duckdb_path))
    try:
        passing = con.execute(f"SELECT count(*) FROM {source_table} AS v WHERE {checks}").fetchone()[0]
        if not passing:
            raise BenchError(f"{source_table}: no row passes the sync's checks")
        copies = math.ceil(events / passing)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * EXCLUDE (copy) REPLACE ("
                    f"CASE WHEN copy = 0 THEN event_id ELSE sha256(event_id || ':' || copy) END AS event_id) "
                    f"FROM (SELECT v.* FROM {source_table} AS v WHERE {checks}), range({copies}) AS r(copy) "
                    f"ORDER BY event_time, event_id LIMIT {int(events)}")
    finally:
        con.close()
    return name


def make_sample(duckdb_path: Path, source_table: str, name: str, rows: int) -> str:
    """A table of the first `rows` rows of `source_table` (by cursor), for bounded runs."""
    con = duckdb.connect(str(duckdb_path))
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {source_table} "
                    f"ORDER BY event_time, event_id LIMIT {int(rows)}")
    finally:
        con.close()
    return name
