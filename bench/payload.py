"""Payload building on the sync's own code path: view -> checked events -> request bodies.

`path="sql"` (what `capi-sync run` does): the source's `read_ready`, whose query checks every
row and writes each event's parts from the contract's columns (sync/sources/base.py
`ready_query`), joined by sync/sources/ready.py, then the run's own batching
(`SyncRun._batches`) and `request_body` per batch; building happens inside the read, so
`read` includes it.
`path="python"` (the reference): the rows' columns read in chunks, the tests' oracle
(tests/support/events_oracle.py `build_events`), orjson per event. Time spent reading,
building and encoding bodies is measured apart.
`check_identical` proves the bodies are the ones `capi-sync run --dry-run` writes.
"""
from __future__ import annotations

import time
from pathlib import Path

import orjson

from sync.config import DUCKDB_CHUNK_SIZE, parse_config
from sync.destination import request_body
from sync.contract import MODEL_COLUMNS
from sync.events import COPIES_COLUMN, EventSettings
from sync.identifiers import quote
from sync.runner import SyncRun
from sync.runner.plan import READ_FLOOR_AGE
from sync.sources.base import CURSOR_KEY
from sync.sources.duckdb import DuckDBSource
from tests.support.events_oracle import build_events


def sync_config_text(*, duckdb_path: str, relation: str, endpoint: str = "http://127.0.0.1:9",
                     name: str = "bench", concurrency: int = 4, chunk_size: int = DUCKDB_CHUNK_SIZE,
                     batch_size: int = 1000, memory_limit: str | None = None,
                     state_schema: str = "capi_sync") -> str:
    """A sync config for the benchmark (token from env_var with the emulator's default)."""
    return f"""# written by bench/ for one benchmark run
name: {name}
source:
  type: duckdb
  path: "{duckdb_path}"
  relation: {relation}
  chunk_size: {chunk_size}
{f"  memory_limit: {memory_limit}" + chr(10) if memory_limit else ""}cursor:
  column: event_time
  lookback: 3d
state:
  schema: {state_schema}
destination:
  endpoint: "{endpoint}"
  api_version: v24.0
  dataset_id: "1234567890"
  access_token: "{{{{ env_var('META_ACCESS_TOKEN', 'local-emulator-token') }}}}"
  batch_size: {batch_size}
  concurrency: {concurrency}
  timeout:
    connect: 5
    read: 60
  retry:
    max_attempts: 3
    base_delay: 0.5
    max_delay: 5
    throttle_base_delay: 1
    budget_seconds: 30
"""


def write_config(path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sync_config_text(**kwargs))
    return path


def sync_bodies(duckdb_path: str, relation: str, chunk_size: int = DUCKDB_CHUNK_SIZE, now: int | None = None,
                path: str = "sql"):
    """Yield (phase seconds dict updates, bodies) along the sync's path; used by measure()."""
    config = parse_config(sync_config_text(duckdb_path=duckdb_path, relation=relation, chunk_size=chunk_size))
    now = int(time.time()) if now is None else now
    source = DuckDBSource(config, read_only=True)
    settings = EventSettings(now=now)
    size = config.destination.batch_size
    dumps = orjson.dumps
    try:
        if path == "sql":
            yield from _sql_bodies(config, source.read_ready(now - READ_FLOOR_AGE, False, settings))
            return
        chunks = _row_chunks(source, now - READ_FLOOR_AGE)
        seen: set[str] = set()
        pending: list[bytes] = []
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            t1 = time.perf_counter()
            if chunk is None:
                break
            built = build_events(chunk, settings, seen)
            encoded = [None if e is None else dumps(e) for e in built.events]
            t2 = time.perf_counter()
            bodies = []
            for event in encoded:
                if event is not None:
                    pending.append(event)
                    if len(pending) == size:
                        bodies.append(request_body(pending))
                        pending = []
            t3 = time.perf_counter()
            yield {"read": t1 - t0, "build": t2 - t1, "encode": t3 - t2,
                   "rows": len(encoded), "skipped": len(built.skips)}, bodies
        if pending:
            yield {"read": 0.0, "build": 0.0, "encode": 0.0, "rows": 0, "skipped": 0}, [request_body(pending)]
    finally:
        source.close()


def _row_chunks(source: DuckDBSource, lower_bound: int):
    """The rows' columns (and cursor and copies), in the read's order, chunk_size rows at a time."""
    columns = ", ".join(f"v.{quote(name)}" for name in MODEL_COLUMNS if name != "value")
    reader = source.connection.sql(
        f'SELECT {columns}, CAST(v."value" AS DOUBLE) AS "value", v."event_time" AS {CURSOR_KEY}, '
        f'count(*) OVER (PARTITION BY v."event_id") AS {COPIES_COLUMN} FROM {source._q_relation} AS v '
        f'WHERE v."event_time" >= ? OR v."event_time" IS NULL ORDER BY {CURSOR_KEY} NULLS LAST, v."event_id" NULLS LAST',
        params=[lower_bound]).to_arrow_reader(source.chunk_size)
    for batch in reader:
        yield {name: column.to_pylist() for name, column in zip(batch.schema.names, batch.columns)}


def _sql_bodies(config, chunks):
    """The run's own batching (`SyncRun._batches`: Arrow slices cut on the offsets) and
    `request_body` of each batch; `read` is the time spent waiting for chunks."""
    phases = {"read": 0.0, "rows": 0, "skipped": 0}

    def timed():
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            phases["read"] += time.perf_counter() - t0
            if chunk is None:
                return
            phases["rows"] += len(chunk)
            phases["skipped"] += len(chunk.skips)
            yield chunk

    last = time.perf_counter()
    for batch in SyncRun(config)._batches(timed()):
        bodies = [request_body(batch.encoded)] if len(batch) else []
        now = time.perf_counter()
        read, rows, skipped = phases["read"], phases["rows"], phases["skipped"]
        phases.update(read=0.0, rows=0, skipped=0)
        yield {"read": read, "build": 0.0, "encode": now - last - read, "rows": rows, "skipped": skipped}, bodies
        last = time.perf_counter()


def measure(duckdb_path: str, relation: str, chunk_size: int = DUCKDB_CHUNK_SIZE, path: str = "sql") -> dict:
    """Events/s from `relation` to request bodies, with the read / build / encode split
    (path "sql": building is part of the read; "python": the reference build_events + orjson)."""
    totals = {"read": 0.0, "build": 0.0, "encode": 0.0, "rows": 0, "skipped": 0}
    events = n_bodies = n_bytes = 0
    started = time.perf_counter()
    for phases, bodies in sync_bodies(duckdb_path, relation, chunk_size, path=path):
        for key, value in phases.items():
            totals[key] += value
        for body in bodies:
            n_bodies += 1
            n_bytes += len(body)
    wall = time.perf_counter() - started
    events = totals["rows"] - totals["skipped"]
    # the sql path builds inside the read: count the read as building
    build_encode = totals["build"] + totals["encode"] + (totals["read"] if path == "sql" else 0.0)
    return {
        "path": path, "relation": relation, "rows_read": totals["rows"], "events": events, "skipped": totals["skipped"],
        "bodies": n_bodies, "body_bytes": n_bytes,
        "read_seconds": round(totals["read"], 3), "build_seconds": round(totals["build"], 3),
        "encode_seconds": round(totals["encode"], 3), "wall_seconds": round(wall, 3),
        "events_per_second": round(events / build_encode, 1) if build_encode else None,
        "events_per_second_with_read": round(events / wall, 1) if wall else None,
    }


def check_identical(config_path: Path, duckdb_path: str, relation: str, output: Path) -> dict:
    """Run the sync's dry run in-process and compare its bodies with `sync_bodies` (same `now`)."""
    from sync.config import load_config
    now = int(time.time())
    config = load_config(config_path)
    summary = SyncRun(config, dry_run=True, output=str(output), now=lambda: now).run()
    if summary.error:
        return {"identical": False, "error": summary.error}
    ours = [b for _, bodies in sync_bodies(duckdb_path, relation, config.source.chunk_size, now=now, path="python")
            for b in bodies]
    theirs = output.read_bytes().splitlines()
    output.unlink()
    return {"identical": ours == theirs, "reference": "build_events + orjson (the Python path)",
            "bodies": len(theirs), "events": summary.events_written}
