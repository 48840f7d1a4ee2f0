"""Benchmark workloads: sample data in DuckDB, `dbt build` (timed), a table copy of the view.

Each size lives in `data/bench/<orders>/warehouse.duckdb`. The relation the sync reads,
`analytics.offline_events`, is whatever dbt built; `bench.offline_events` is a table
snapshot of it, so the sync engine can be timed without the view's evaluation.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

from bench.processes import BIN, ROOT, BenchError, run_timed

DAYS = 60
TABLE_COPY = "bench.offline_events"
VIEW = "analytics.offline_events"


def customers_for(orders: int) -> int:
    return max(100, orders * 2 // 5)


def workload_dir(orders: int) -> Path:
    return ROOT / "data" / "bench" / str(orders)


def dbt_env(duckdb_path: Path) -> dict:
    env = dict(os.environ)
    env["DUCKDB_PATH"] = str(duckdb_path)
    return env


def dbt(command: str, duckdb_path: Path, *, timeout: float, extra: tuple[str, ...] = ()) -> dict:
    """Run one dbt command on the workload's file, into its own target and log paths."""
    work = duckdb_path.parent
    cmd = [str(BIN / "dbt"), command, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
           "--target-path", str(work / "dbt-target"), "--log-path", str(work / "dbt-logs"), *extra]
    try:
        done = run_timed(cmd, timeout=timeout, env=dbt_env(duckdb_path), what=f"dbt {command}")
    except BenchError as exc:
        return {"command": f"dbt {command}", "ok": False, "seconds": None, "error": str(exc)}
    tail = [line for line in done.stdout.splitlines() if "Done." in line or "ERROR" in line][-3:]
    return {"command": f"dbt {command}", "ok": done.returncode == 0, "seconds": round(done.seconds, 2),
            "summary": " | ".join(t.split("  ", 1)[-1].strip() for t in tail)}


def generate(duckdb_path: Path, orders: int, *, append: bool = False, days: int = DAYS, customers: int | None = None,
             timeout: float = 900) -> dict:
    cmd = [sys.executable, "-m", "sample_data", "--duckdb-path", str(duckdb_path),
           "--customers", str(customers_for(orders) if customers is None else customers),
           "--orders", str(orders), "--days", str(days)] + (["--append"] if append else [])
    done = run_timed(cmd, timeout=timeout, what="the sample-data generator")
    if done.returncode != 0:
        raise BenchError(f"sample-data generator failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return {"seconds": round(done.seconds, 2), "output": done.stdout.strip()}


def materialize_copy(duckdb_path: Path) -> dict:
    """Evaluate the view once into `bench.offline_events` (= what reading the view costs),
    ordered by the cursor: what a dbt table materialization of the view would look like
    (an ordered table lets the sync's cursor-range pages read only their own row groups)."""
    con = duckdb.connect(str(duckdb_path))
    try:
        kind = con.execute("SELECT 'table' FROM duckdb_tables() WHERE schema_name='analytics' AND "
                           "table_name='offline_events' UNION ALL SELECT 'view' FROM duckdb_views() "
                           "WHERE schema_name='analytics' AND view_name='offline_events'").fetchone()
        started = time.perf_counter()
        con.execute("CREATE SCHEMA IF NOT EXISTS bench")
        con.execute(f"CREATE OR REPLACE TABLE {TABLE_COPY} AS SELECT * FROM {VIEW} ORDER BY event_time, event_id")
        seconds = time.perf_counter() - started
        rows = con.execute(f"SELECT count(*) FROM {TABLE_COPY}").fetchone()[0]
    finally:
        con.close()
    return {"view_materialization": kind[0] if kind else None, "rows": rows, "seconds": round(seconds, 2),
            "ordered": True}


def _get_ordered(meta: dict) -> bool:
    return bool((meta.get("copy") or {}).get("ordered"))


def prepare(orders: int, *, reuse: bool, dbt_timeout: float) -> dict:
    """Generate data, dbt seed+run, dbt build (timed), table copy. Reuses a prepared size when asked."""
    work = workload_dir(orders)
    path = work / "warehouse.duckdb"
    meta_path = work / "workload.json"
    if reuse and meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        meta["reused"] = True
        if not _get_ordered(meta):   # prepared before the copy was ordered by the cursor
            meta["copy"] = materialize_copy(path)
            meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "reused"}, indent=2))
        return meta
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    meta = {"orders": orders, "customers": customers_for(orders), "days": DAYS, "duckdb_path": str(path),
            "reused": False}
    meta["generate"] = generate(path, orders)
    # The views the sync needs, then the full `dbt build` (models + data tests + unit tests).
    meta["dbt_seed"] = dbt("seed", path, timeout=dbt_timeout)
    meta["dbt_run"] = dbt("run", path, timeout=dbt_timeout)
    if not meta["dbt_run"]["ok"]:
        raise BenchError(f"dbt run failed on the {orders:,}-order workload: {meta['dbt_run']}")
    meta["dbt_build"] = dbt("build", path, timeout=dbt_timeout)
    if meta["dbt_build"]["seconds"] is None:  # stopped at the timeout: make sure the views are whole
        meta["dbt_run_after_timeout"] = dbt("run", path, timeout=dbt_timeout)
    meta["copy"] = materialize_copy(path)
    meta["file_mib"] = round(path.stat().st_size / 2**20, 1)
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta
