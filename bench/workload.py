"""Benchmark workloads: sample data in DuckDB, dbt with the table materialization (timed),
and a view of the same SQL for the comparison.

Each size lives in `data/bench/<orders>/warehouse.duckdb`. dbt runs with
`--vars '{offline_events_materialization: table}'`, so `analytics.offline_events` is the
product's table, stored ordered by the cursor (event_time, event_id). `bench.offline_events_view`
is a view of the SQL dbt compiled for that model (its final ORDER BY dropped), so a run on
the view evaluates the same query at read time, as the default view materialization does.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import duckdb

from bench.processes import BIN, ROOT, BenchError, run_timed

DAYS = 60
MATERIALIZATION = "table"
DBT_VARS = "{offline_events_materialization: table}"
TABLE = "analytics.offline_events"
VIEW = "bench.offline_events_view"
COMPILED_MODEL = Path("compiled", "capi_offline_events", "models", "marts", "offline_events.sql")
# A final top-level ORDER BY: nothing after it opens or closes a parenthesis.
_FINAL_ORDER_BY = re.compile(r"\border\s+by\b[^()]*$", re.IGNORECASE)


def dbt_project_digest() -> str:
    """sha256 over the dbt project's files that shape what it builds (models, macros, seeds,
    tests, dbt_project.yml): a prepared workload is reused only while it is unchanged."""
    project = ROOT / "dbt_project"
    files = [project / "dbt_project.yml"] + sorted(
        f for folder in ("models", "macros", "seeds", "tests") for f in (project / folder).rglob("*") if f.is_file())
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def customers_for(orders: int) -> int:
    return max(100, orders * 2 // 5)


def workload_dir(orders: int) -> Path:
    return ROOT / "data" / "bench" / str(orders)


def dbt_env(duckdb_path: Path) -> dict:
    env = dict(os.environ)
    env["DUCKDB_PATH"] = str(duckdb_path)
    return env


def dbt_target(duckdb_path: Path) -> Path:
    """dbt's target path for one DuckDB file (its compiled SQL names the file's catalog)."""
    return duckdb_path.parent / f"dbt-target-{duckdb_path.stem}"


def dbt(command: str, duckdb_path: Path, *, timeout: float, extra: tuple[str, ...] = ()) -> dict:
    """Run one dbt command with the table materialization on the workload's file."""
    work = duckdb_path.parent
    cmd = [str(BIN / "dbt"), command, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
           "--target-path", str(dbt_target(duckdb_path)), "--log-path", str(work / "dbt-logs"),
           "--vars", DBT_VARS, *extra]
    try:
        done = run_timed(cmd, timeout=timeout, env=dbt_env(duckdb_path), what=f"dbt {command}")
    except BenchError as exc:
        return {"command": f"dbt {command}", "ok": False, "seconds": None, "error": str(exc)}
    tail = [line for line in done.stdout.splitlines() if "Done." in line or "ERROR" in line][-3:]
    return {"command": f"dbt {command} --vars '{DBT_VARS}'", "ok": done.returncode == 0,
            "seconds": round(done.seconds, 2),
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


def view_sql(compiled: str) -> tuple[str, bool]:
    """The compiled model as a view's query: trailing `;` and a final ORDER BY dropped."""
    sql = compiled.strip().rstrip(";").rstrip()
    match = _FINAL_ORDER_BY.search(sql)
    if match:
        sql = sql[:match.start()].rstrip()
    return sql, match is not None


def create_view(duckdb_path: Path) -> dict:
    """`bench.offline_events_view`: the SQL dbt compiled for offline_events in its last run on
    this file, as a view (evaluated at read time, like the default view materialization)."""
    compiled_path = dbt_target(duckdb_path) / COMPILED_MODEL
    if not compiled_path.exists():
        raise BenchError(f"{compiled_path}: no compiled SQL of offline_events (did dbt run?)")
    sql, dropped_order_by = view_sql(compiled_path.read_text())
    con = duckdb.connect(str(duckdb_path))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {VIEW.split('.')[0]}")
        con.execute(f"CREATE OR REPLACE VIEW {VIEW} AS {sql}")   # binds: the relations it names exist
    finally:
        con.close()
    return {"relation": VIEW, "compiled_sql": str(compiled_path.relative_to(ROOT)),
            "order_by_dropped": dropped_order_by}


def table_info(duckdb_path: Path) -> dict:
    """What dbt built as `analytics.offline_events`: its kind and row count."""
    schema, name = TABLE.split(".")
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        kind = con.execute("SELECT 'table' FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? UNION ALL "
                           "SELECT 'view' FROM duckdb_views() WHERE schema_name = ? AND view_name = ?",
                           [schema, name, schema, name]).fetchone()
        rows = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] if kind else None
    finally:
        con.close()
    if not kind or kind[0] != "table":
        raise BenchError(f"{duckdb_path}: dbt left {TABLE} as {kind[0] if kind else 'nothing'}, not a table")
    return {"relation": TABLE, "materialization": kind[0], "rows": rows}


def prepare(orders: int, *, reuse: bool, dbt_timeout: float) -> dict:
    """Generate data, dbt seed + run, `dbt build` (timed), all with the table materialization,
    then the view of the same SQL. Reuses a prepared size when asked (and built this way, by
    the same dbt project)."""
    work = workload_dir(orders)
    path = work / "warehouse.duckdb"
    meta_path = work / "workload.json"
    digest = dbt_project_digest()
    if reuse and meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        # else prepared with the view materialization (and a bench-only table copy) or with
        # another version of the dbt project: rebuilt
        if meta.get("materialization") == MATERIALIZATION and meta.get("dbt_project_digest") == digest:
            meta["reused"] = True
            return meta
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    meta = {"orders": orders, "customers": customers_for(orders), "days": DAYS, "duckdb_path": str(path),
            "materialization": MATERIALIZATION, "dbt_project_digest": digest, "reused": False}
    meta["generate"] = generate(path, orders)
    # The relations the sync needs, then the full `dbt build` (models + data tests + unit tests).
    meta["dbt_seed"] = dbt("seed", path, timeout=dbt_timeout)
    meta["dbt_run"] = dbt("run", path, timeout=dbt_timeout)
    if not meta["dbt_run"]["ok"]:
        raise BenchError(f"dbt run failed on the {orders:,}-order workload: {meta['dbt_run']}")
    meta["dbt_build"] = dbt("build", path, timeout=dbt_timeout)
    if meta["dbt_build"]["seconds"] is None:  # stopped at the timeout: make sure the relations are whole
        meta["dbt_run_after_timeout"] = dbt("run", path, timeout=dbt_timeout)
    meta["table"] = table_info(path)
    meta["view"] = create_view(path)
    meta["file_mib"] = round(path.stat().st_size / 2**20, 1)
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta
