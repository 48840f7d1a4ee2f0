"""How low could peak RSS go without pyarrow? A lower bound for issue 6's memory target (4).

    .venv/bin/python -m bench.sql_bodies_probe data/bench/100000/warehouse.duckdb [--pairs 3]
        [--memory-limit 64MB] [--narrow-ledger]

Not the product. The probe is a process that imports duckdb, httpx, orjson and yaml, and refuses pyarrow, pandas
and numpy. DuckDB writes whole request bodies with
`string_agg`, one per 1,000 rows of the table (at most 1,000 events; fewer where rows are
skipped), written from the table's columns by capi-sync's SQL. Four threads POST
the bodies to the counting sink over one keep-alive connection each, at most eight requests
in flight. A ledger thread inserts each accepted batch's rows (the columns of capi-sync's
ledger: sync name, event id, event time, run id, fbtrace_id, time sent; with
`--narrow-ledger` only the event id and the time sent) into a DuckDB table in the same file.
DuckDB runs one thread, with a memory_limit of 64MB as capi-sync in the benchmark
(`--memory-limit`).

The event's bytes and the checks that decide which rows are sent are capi-sync's own SQL
(`row_sql`), written by the parent process and handed to the probe's.

What it leaves out, against `capi-sync run`:
- the 64-hex check of the hashes;
- duplicate ids;
- dead letters, the watermark, the run record and the lock.

Its events are checked, byte for byte and in order, against those of `capi-sync run
--dry-run` on the same table and the same `now` (the parent process runs the dry run
in-process, once, before the pairs); the batches are cut at other places.
Then it alternates `capi-sync run` (fresh state, the benchmark's settings) and the probe.
Each prints one JSON line: peak RSS (VmHWM, MiB), events sent, seconds, events/s.
"""
from __future__ import annotations

import sys

# The probe's process never loads these (duckdb would import pandas and pyarrow to look at
# a Python list given as a parameter; the ledger passes its ids as one JSON text instead).
if __name__ == "__main__" and "--child" in sys.argv:
    for _name in ("pyarrow", "pandas", "numpy"):
        sys.modules[_name] = None  # type: ignore[assignment]

import argparse
import json
import os
import queue
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

PAGE_BATCHES = 10          # a page is ten batches, as the product's pages of 10,000 rows
BATCH_SIZE = 1000
LEDGER = "capi_sync_probe.sent_events"
# capi-sync's ledger (sync/state/duckdb.py, DDL), and the narrowest one that still says
# which events were sent: column -> (type, value inserted).
FULL_LEDGER = {"sync_name": ("VARCHAR NOT NULL", "'bench'"), "event_id": ("VARCHAR NOT NULL", "e.event_id"),
               "event_time": ("BIGINT", "e.event_time"), "run_id": ("VARCHAR", "'probe'"),
               "fbtrace_id": ("VARCHAR", "$trace"), "sent_at": ("TIMESTAMP", "now()::TIMESTAMP")}
NARROW_LEDGER = {"event_id": ("VARCHAR NOT NULL", "e.event_id"), "sent_at": ("TIMESTAMP", "now()::TIMESTAMP")}


def row_sql(now: int) -> tuple[str, str]:
    """(an event's bytes, the condition that the row is sent) over alias `v`, from capi-sync's
    own SQL (sync/sources/base.py: the event's head, its two objects as dbt wrote them and
    the checks, joined as sync/sources/ready.py joins them). Written by the parent process
    and handed to the probe's (which cannot import sync: it imports pyarrow)."""
    from sync.contract import REQUIRED_COLUMNS
    from sync.events import EventSettings
    from sync.identifiers import sql_literal
    from sync.sources.base import head_sql, skip_sql
    from sync.sources.duckdb import DIALECT
    from sync.sources.ready import ldu_suffix

    settings = EventSettings(now=now)
    columns = {name: f'v."{name}"' for name in REQUIRED_COLUMNS}
    event = (f"concat({head_sql(columns, DIALECT)}, ',\"user_data\":', v.user_data_json, ',\"custom_data\":', "
             "v.custom_data_json, "
             f"{sql_literal(ldu_suffix(settings).decode())})")
    return event, f"{skip_sql(settings, columns, DIALECT)} IS NULL"


def _page_query(relation: str, event_sql: str, sendable_sql: str) -> str:
    """The bodies of the sendable rows with rowid in [?, ?): one per BATCH_SIZE rowids, so a
    body holds at most BATCH_SIZE events (fewer where rows are skipped), in storage order
    (the benchmark's table is stored in cursor order)."""
    rows = (f"SELECT rowid // {BATCH_SIZE} AS b, v.event_id, v.event_time, {event_sql} AS ev FROM {relation} AS v "
            f"WHERE rowid >= ? AND rowid < ? AND {sendable_sql}")
    # One DuckDB thread: string_agg and list keep the scan's order within a batch (the
    # events are compared with capi-sync's, byte for byte, before any measurement).
    return (f"SELECT encode('{{\"data\":[' || string_agg(ev, ',') || ']}}') AS body, "
            f"to_json(list({{'event_id': event_id, 'event_time': event_time}}))::VARCHAR AS ids "
            f"FROM ({rows}) GROUP BY b ORDER BY b")


def child(path: str, relation: str, url: str, event_sql: str, sendable_sql: str, bodies_out: str | None,
          memory_limit: str, narrow_ledger: bool) -> None:
    """The probe's own process; prints its JSON line."""
    import duckdb
    import httpx
    import orjson  # noqa: F401  (imported by the CLI too)
    import yaml  # noqa: F401

    started = time.perf_counter()
    con = duckdb.connect(path, config={"memory_limit": memory_limit, "threads": 1})
    columns = NARROW_LEDGER if narrow_ledger else FULL_LEDGER
    con.execute(f"DROP SCHEMA IF EXISTS capi_sync_probe CASCADE; CREATE SCHEMA capi_sync_probe; "
                f"CREATE TABLE {LEDGER} ({', '.join(f'{name} {kind}' for name, (kind, _) in columns.items())})")
    insert = (f"INSERT INTO {LEDGER} SELECT {', '.join(value for _, value in columns.values())} FROM "
              f"""(SELECT unnest(from_json($ids, '[{{"event_id":"VARCHAR","event_time":"BIGINT"}}]')) AS e)""")
    sql = _page_query(relation, event_sql, sendable_sql)
    rows = con.execute(f"SELECT coalesce(max(rowid), -1) + 1 FROM {relation}").fetchone()[0]
    failure: list[BaseException] = []
    pages: queue.Queue = queue.Queue(maxsize=1)

    def read() -> None:
        cur = con.cursor()
        try:
            for start in range(0, rows, BATCH_SIZE * PAGE_BATCHES):
                pages.put(cur.execute(sql, [start, start + BATCH_SIZE * PAGE_BATCHES]).fetchall())
        except BaseException as exc:   # raised by the main thread
            failure.append(exc)
        finally:
            pages.put(None)

    local = threading.local()
    endpoint = url + "/v24.0/1234567890/events"

    def deliver(body: bytes) -> tuple[int, str]:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=60)
        answer = client.post(endpoint, content=body, headers={"content-type": "application/json"})
        answer.raise_for_status()
        answer_json = answer.json()
        return answer_json["events_received"], answer_json.get("fbtrace_id", "")

    accepted_ids: queue.Queue = queue.Queue()

    def ledger() -> None:
        cur = con.cursor()
        try:
            write_ledger(cur)
        except BaseException as exc:   # raised by the main thread
            failure.append(exc)

    def write_ledger(cur) -> None:
        while (item := accepted_ids.get()) is not None:
            ids, trace = item
            cur.execute(insert, {"ids": ids, "trace": trace} if not narrow_ledger else {"ids": ids})

    out = open(bodies_out, "wb") if bodies_out else None
    reader = threading.Thread(target=read, daemon=True)
    writer = threading.Thread(target=ledger)
    reader.start()
    writer.start()
    sent = 0
    try:
        with ThreadPoolExecutor(4) as pool:
            in_flight: dict = {}

            def collect(block: bool) -> None:
                nonlocal sent
                done, _ = wait(list(in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
                for future in done:
                    ids = in_flight.pop(future)
                    received, trace = future.result()
                    sent += received
                    accepted_ids.put((ids, trace))

            while (page := pages.get()) is not None:
                for body, ids in page:
                    if out:
                        out.write(body + b"\n")
                    in_flight[pool.submit(deliver, body)] = ids
                    collect(block=len(in_flight) >= 8)
            while in_flight:
                collect(block=True)
    finally:
        accepted_ids.put(None)
        writer.join()
        if out:
            out.close()
    if failure:
        raise failure[0]
    seconds = time.perf_counter() - started
    ledger_rows = con.execute(f"SELECT count(*) FROM {LEDGER}").fetchone()[0]
    if ledger_rows != sent:
        raise SystemExit(f"the probe's ledger has {ledger_rows} rows for {sent} events sent")
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    print(json.dumps({"label": "probe", "peak_rss_mib": round(peak, 1), "events_sent": sent,
                      "ledger_rows": ledger_rows, "run_seconds": round(seconds, 3),
                      "events_per_second": round(sent / seconds, 1)}), flush=True)


def _check_events(warehouse: Path, relation: str, now: int, workdir: Path, memory_limit: str,
                  narrow_ledger: bool) -> int:
    """The probe's events against those of `capi-sync run --dry-run` at the same `now`, both
    on a copy of the warehouse; returns the number of events compared, or exits with the
    first difference."""
    from bench.payload import write_config
    from sync.config import load_config
    from sync.runner import SyncRun

    copy = workdir / "check.duckdb"
    shutil.copy(warehouse, copy)
    config = load_config(write_config(workdir / "dry-run.yml", duckdb_path=str(copy), relation=relation,
                                      endpoint="http://127.0.0.1:9", state_schema="capi_sync_probe_dry"))
    product, probe = workdir / "product.jsonl", workdir / "probe.jsonl"
    summary = SyncRun(config, dry_run=True, output=str(product), now=lambda: now).run()
    if summary.status != "succeeded":
        sys.exit(f"capi-sync run --dry-run: {summary.status}: {summary.error}")
    from bench.processes import start_sink
    with start_sink() as sink:
        _child_run(copy, relation, sink.url, now, memory_limit, narrow_ledger, probe)
    copy.unlink()
    want, got = _events(product), _events(probe)
    if want != got:
        at = next((k for k in range(min(len(want), len(got))) if want[k] != got[k]), min(len(want), len(got)))
        sys.exit(f"the events differ at byte {at} of {len(want)}: capi-sync {want[at - 60:at + 60]!r}, "
                 f"probe {got[at - 60:at + 60]!r}")
    return want.count(b'},{"event_name":') + 1


def _events(bodies: Path) -> bytes:
    """Every event of a file of request bodies (one a line, `{"data":[...]}`), joined by
    commas in order: the same for two files whose batches are cut at different places."""
    lines = bodies.read_bytes().splitlines()
    head, tail = b'{"data":[', b"]}"
    if not all(line.startswith(head) and line.endswith(tail) for line in lines):
        sys.exit(f"{bodies}: a body is not {{\"data\":[...]}} (a configured tail?)")
    return b",".join(line[len(head):-len(tail)] for line in lines)


def _child_run(warehouse: Path, relation: str, url: str, now: int, memory_limit: str, narrow_ledger: bool,
               bodies_out: Path | None = None) -> dict:
    import subprocess

    event_sql, sendable_sql = row_sql(now)
    command = [sys.executable, "-m", "bench.sql_bodies_probe", "--child", str(warehouse), "--relation", relation,
               "--url", url, "--memory-limit", memory_limit, "--event-sql", event_sql, "--sendable-sql", sendable_sql]
    if narrow_ledger:
        command.append("--narrow-ledger")
    if bodies_out:
        command += ["--bodies", str(bodies_out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        sys.exit(f"the probe exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--relation", default="analytics.offline_events")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--memory-limit", default="64MB",
                        help="the probe's DuckDB memory_limit (default 64MB, capi-sync's in the benchmark)")
    parser.add_argument("--narrow-ledger", action="store_true",
                        help="the probe's ledger keeps event_id and sent_at only, not capi-sync's six columns")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--event-sql", help=argparse.SUPPRESS)
    parser.add_argument("--sendable-sql", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(str(args.warehouse), args.relation, args.url, args.event_sql, args.sendable_sql, args.bodies,
              args.memory_limit, args.narrow_ledger)
        return

    from bench.processes import start_sink
    from bench.sync_runs import TABLE_MEMORY_LIMIT, cli_run

    warehouse = args.warehouse.resolve()
    now = int(time.time())
    with tempfile.TemporaryDirectory() as workdir:
        compared = _check_events(warehouse, args.relation, now, Path(workdir), args.memory_limit,
                                 args.narrow_ledger)
        print(json.dumps({"events_identical_to_capi_sync": compared}), flush=True)
        copy = Path(workdir) / "warehouse.duckdb"
        shutil.copy(warehouse, copy)
        results: dict[str, list[dict]] = {"capi-sync": [], "probe": []}
        with start_sink() as sink:
            for i in range(args.pairs):
                for side in (("capi-sync", "probe") if i % 2 == 0 else ("probe", "capi-sync")):
                    if side == "probe":
                        result = _child_run(copy, args.relation, sink.url, now, args.memory_limit,
                                            args.narrow_ledger)
                    else:
                        result = cli_run(warehouse, args.relation, sink, timeout=600, label="sql-bodies-probe",
                                         memory_limit=TABLE_MEMORY_LIMIT)
                        result = {k: result.get(k) for k in ("label", "peak_rss_mib", "events_sent", "run_seconds",
                                                             "events_per_second", "status")}
                    results[side].append(result)
                    print(json.dumps(result), flush=True)
    for side, runs in results.items():
        print(json.dumps({"side": side, "median_events_per_second": statistics.median(r["events_per_second"] for r in runs),
                          "peak_rss_mib": [min(r["peak_rss_mib"] for r in runs), max(r["peak_rss_mib"] for r in runs)]}))


if __name__ == "__main__":
    main()
