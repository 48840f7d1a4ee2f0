"""The benchmark suite, one command:

    .venv/bin/python -m bench --sizes 100000,1000000

For each size: sample data -> dbt with `offline_events_materialization: table` (seed, run,
then the full `dbt build`, timed) and a view of the same compiled SQL -> payload building
(sync path vs the facebook-business SDK, in `--repeat` alternating pairs) -> `capi-sync run`
end to end to a counting sink on the table (`--repeat` runs) and on the view (events/s, peak
RSS) -> incremental runs (nothing new; 10,000 new orders, after a timed `dbt run`). Repeated
measurements report the median run with the range of all.
Once, on the smallest size: latency-bound runs (emulator +200 ms, concurrency 1/4/8) and a
pyinstrument profile. Writes bench/results/<stamp>.json, bench/results/latest.json,
docs/benchmarks.md and docs/benchmarks.svg.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from bench import bigquery_read, payload, sdk_baseline, workload
from bench.processes import ROOT, BenchError, start_emulator, start_sink
from bench.sync_runs import TABLE_MEMORY_LIMIT, cli_run, latency_run, make_latency_sample, make_sample
from sync.config import DUCKDB_CHUNK_SIZE
from sync.__main__ import allocator_environment
from sync.sources.duckdb import DEFAULT_TABLE_MEMORY_LIMIT

RESULTS = ROOT / "bench" / "results"
NEW_ORDERS = 10_000
LATENCY_MS = 200
LATENCY_CONCURRENCY = (1, 4, 8)
LATENCY_WAVES = 30   # rounds of `concurrency` requests per run (ramp-up and the last round weigh 1/30)
TABLE_STATE, VIEW_STATE = "capi_sync_table", "capi_sync_view"
# Fields of every repeat kept next to the median run (the rest is the median run's own).
REPEAT_FIELDS = ("events_per_second", "events_per_second_with_read", "run_seconds", "process_seconds",
                 "peak_rss_mib", "events_sent", "events", "error")


def lower_median(values: list, key=None):
    """The middle value (the lower middle of an even count), by `key` when given."""
    return sorted(values, key=key)[(len(values) - 1) // 2]


def median_of(runs: list[dict], key: str = "events_per_second") -> dict:
    """The run with the median `key` (`lower_median`), with every run's numbers under
    "repeats" (in the order they ran), the range of `key` and the highest peak RSS. A failed
    run (an error, or no `key`) is returned itself: no number is made up."""
    failed = [r for r in runs if r.get("error") or r.get(key) is None]
    chosen = dict(failed[0] if failed else lower_median(runs, key=lambda r: r[key]))
    if len(runs) > 1:
        chosen["repeats"] = [{f: r[f] for f in REPEAT_FIELDS if r.get(f) is not None} for r in runs]
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            chosen[f"{key}_range"] = [min(values), max(values)]
        rss = [r["peak_rss_mib"] for r in runs if r.get("peak_rss_mib") is not None]
        if rss:
            chosen["peak_rss_mib_max"] = max(rss)
    return chosen


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1), "cpu": cpu,
            "platform": platform.platform(), "python": platform.python_version(),
            "duckdb": version("duckdb"), "dbt_core": version("dbt-core"), "dbt_duckdb": version("dbt-duckdb"),
            "facebook_business": version("facebook-business"), "orjson": version("orjson"),
            "httpx": version("httpx")}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _relative(path: str | None) -> str | None:
    if not path or not Path(path).exists():
        return None
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def log(message: str) -> None:
    sys.stderr.write(f"{dt.datetime.now():%H:%M:%S} bench: {message}\n")
    sys.stderr.flush()


def step(results: dict, key: str, fn, *args, **kwargs):
    """Run one measurement; a failure is recorded under `key` (never a made-up number)."""
    started = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
    except (BenchError, Exception) as exc:  # noqa: BLE001 - recorded, the suite goes on
        value = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"{key} FAILED: {value['error']}")
        if not isinstance(exc, BenchError):
            traceback.print_exc()
    results[key] = value
    log(f"{key}: {time.perf_counter() - started:.1f} s -> {json.dumps(value)[:300]}")
    return value


def bench_size(orders: int, args, first: bool) -> dict:
    out: dict = {"orders": orders}
    log(f"=== {orders:,} orders: preparing the workload")
    meta = step(out, "workload", workload.prepare, orders, reuse=args.reuse, dbt_timeout=args.dbt_timeout)
    if "error" in meta:
        return out
    path = Path(meta["duckdb_path"])
    view, table = workload.VIEW, workload.TABLE

    # 1. payload building: the sync's path (events written in SQL) against the SDK, in
    # alternating pairs (`--repeat`), then the sync's path on the view and the Python reference
    def sdk():
        import duckdb
        con = duckdb.connect(str(path), read_only=True)
        try:
            return sdk_baseline.measure(con, table, min(orders, args.sdk_orders))
        finally:
            con.close()

    pairs: list[tuple[dict, dict]] = []

    def pair():
        pairs.append((payload.measure(str(path), table), sdk()))
        return {"sync_events_per_second": pairs[-1][0].get("events_per_second"),
                "sdk_events_per_second": pairs[-1][1].get("events_per_second")}
    for i in range(args.repeat):
        step(out, f"payload_pair_{i + 1}", pair)
    if pairs:
        out["payload_sync_table"] = median_of([p[0] for p in pairs])
        out["payload_sdk"] = median_of([p[1] for p in pairs])
        ratios = [round(a["events_per_second"] / b["events_per_second"], 2) for a, b in pairs
                  if a.get("events_per_second") and b.get("events_per_second")]
        if ratios:
            out["payload_ratio"] = {"pairs": ratios, "median": lower_median(ratios)}
    step(out, "payload_sync_view", payload.measure, str(path), view)
    step(out, "payload_reference_table", payload.measure, str(path), table, path="python")
    if first:
        def identical():
            sample = make_sample(path, table, "bench.identity_sample", orders)   # every event
            cfg = payload.write_config(path.parent / "sync-identity.yml", duckdb_path=str(path), relation=sample)
            return payload.check_identical(cfg, str(path), sample, path.parent / "identity-dry-run.jsonl")
        step(out, "payload_identical_to_dry_run", identical)

    # 2 + 4 + 5. end to end to the counting sink, peak RSS, incremental. The runs on the table
    # and on the view keep their state in schemas of their own, so each continues its history.
    on_table, on_view = {"state_schema": TABLE_STATE}, {"state_schema": VIEW_STATE}
    with start_sink() as sink:
        if first and not args.no_profile:  # first: it resets the sync state
            from bench.profile_sync import profile_run
            step(out, "profile_table", profile_run, path, table, sink, RESULTS / f"profile-{orders}-table.txt")
        ml, view_ml = args.memory_limit or None, args.view_memory_limit or None
        # `--repeat` first runs (each drops the state first); the last one's state is the
        # history of the incremental runs below
        step(out, "e2e_table", lambda: median_of([
            cli_run(path, table, sink, timeout=args.step_timeout, label="e2e-table", memory_limit=ml, **on_table)
            for _ in range(args.repeat)]))
        step(out, "incremental_table_nothing_new", cli_run, path, table, sink, timeout=args.step_timeout,
             fresh=False, label="inc-table-none", memory_limit=ml, **on_table)
        step(out, "e2e_view", cli_run, path, view, sink, timeout=args.step_timeout, label="e2e-view",
             memory_limit=view_ml, **on_view)
        step(out, "incremental_view_nothing_new", cli_run, path, view, sink, timeout=args.step_timeout,
             fresh=False, label="inc-view-none", memory_limit=view_ml, **on_view)
        if ml:   # the same run with source.memory_limit not set (64MB on a table: sync.sources.duckdb), for comparison
            step(out, "e2e_table_default_memory", cli_run, path, table, sink, timeout=args.step_timeout,
                 label="e2e-table-defmem", state_schema="capi_sync_defmem")
        # 10,000 new orders in the last day, then `dbt run` (the table rebuilt, the view re-created
        # from the new compiled SQL) and an incremental run on each, on a copy of the file (with
        # both states), so the workload stays reusable.
        copy = path.parent / "incremental.duckdb"
        shutil.copyfile(path, copy)
        step(out, "append_new_orders", workload.generate, copy, NEW_ORDERS, append=True, days=1, customers=0,
             timeout=args.step_timeout)
        step(out, "dbt_run_after_append", workload.dbt, "run", copy, timeout=args.dbt_timeout)
        step(out, "view_after_append", workload.create_view, copy)
        step(out, "incremental_table_new_orders", cli_run, copy, table, sink, timeout=args.step_timeout,
             fresh=False, label="inc-table-new", memory_limit=ml, **on_table)
        step(out, "incremental_view_new_orders", cli_run, copy, view, sink, timeout=args.step_timeout,
             fresh=False, label="inc-view-new", memory_limit=view_ml, **on_view)
        copy.unlink(missing_ok=True)
        Path(f"{copy}.capi-sync.lock").unlink(missing_ok=True)
    return out


def bench_latency(orders: int, args) -> dict:
    """Send throughput against a 200 ms round trip: LATENCY_WAVES full rounds of `concurrency`
    batches of exactly 1,000 events each."""
    out: dict = {}
    path = workload.workload_dir(orders) / "warehouse.duckdb"
    samples = {}
    with start_emulator("--no-validation", "--keep", "count", "--latency-ms", str(LATENCY_MS)) as emulator:
        for concurrency in LATENCY_CONCURRENCY:
            samples[concurrency] = make_latency_sample(path, workload.TABLE, f"bench.latency_{concurrency}",
                                                       LATENCY_WAVES * concurrency * 1000)
            step(out, f"concurrency_{concurrency}", latency_run, path, samples[concurrency], emulator,
                 concurrency=concurrency, latency_ms=LATENCY_MS)
    # Diagnosis: the same at concurrency 8 against the counting sink (no JSON parsing), 200 ms.
    with start_sink(latency_ms=LATENCY_MS) as sink:
        step(out, "sink_concurrency_8", latency_run, path, samples[8], sink, concurrency=8,
             latency_ms=LATENCY_MS)
    return out


def bench_bigquery_read(events: int, repeats: int, timeout: float) -> dict:
    """The BigQuery source reading `events` events from the emulator with the code of
    bigquery_read.BEFORE_COMMIT, then with this checkout's, the same rows and clock."""
    now = int(time.time())
    before_code = bigquery_read.code_of(bigquery_read.BEFORE_COMMIT, ROOT / "data" / "bench")
    return {"before_commit": bigquery_read.BEFORE_COMMIT, "repeats": repeats,
            "before": bigquery_read.measure(events, repeats, before_code, now, timeout),
            "now": bigquery_read.measure(events, repeats, None, now, timeout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="capi-sync benchmarks (issue 6)")
    parser.add_argument("--sizes", default="100000,1000000", help="orders per workload, comma-separated")
    parser.add_argument("--reuse", action="store_true", help="reuse prepared workloads under data/bench/")
    parser.add_argument("--sdk-orders", type=int, default=10_000, help="orders through the SDK baseline (default 10000)")
    parser.add_argument("--dbt-timeout", type=float, default=900, help="seconds per dbt command (default 900)")
    parser.add_argument("--step-timeout", type=float, default=900, help="seconds per sync run (default 900)")
    parser.add_argument("--memory-limit", default=TABLE_MEMORY_LIMIT,
                        help=f"source.memory_limit of the capi-sync runs on the dbt table (default {TABLE_MEMORY_LIMIT}; '' for "
                             "none: capi-sync's default on a table)")
    parser.add_argument("--view-memory-limit", default="",
                        help="source.memory_limit of the runs on the view (default: DuckDB's; evaluating the "
                             "1M-order view fails with an out-of-memory error even at 1GB)")
    parser.add_argument("--before", default=str(RESULTS / "20261208T021133Z.json"),
                        help="an earlier results file shown as the 'before' column")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the end-to-end run on the table and of the payload/SDK pair per size; the "
                             "median is reported with the range (default 3)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--bigquery-events", type=int, default=100_000,
                        help="events of the BigQuery source read, before and now (default 100000; 0: not measured)")
    parser.add_argument("--no-docs", action="store_true", help="write the results JSON only")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    started = dt.datetime.now(dt.timezone.utc)
    results = {"command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
               "repeat": args.repeat,
               "started_at": started.isoformat(timespec="seconds"), "git_commit": git_commit(),
               "machine": machine(), "load_average_at_start": os.getloadavg(), "memory_limit": args.memory_limit or None,
               "chunk_size": DUCKDB_CHUNK_SIZE, "default_table_memory_limit": DEFAULT_TABLE_MEMORY_LIMIT,
               "allocator_environment": {k: os.environ.get(k, v) for k, v in allocator_environment().items()},
               "view_memory_limit": args.view_memory_limit or None,
               "before": _relative(args.before), "sizes": {}}
    for i, orders in enumerate(sizes):
        results["sizes"][str(orders)] = bench_size(orders, args, first=i == 0)
        if i == 0:
            results["latency"] = bench_latency(orders, args)
    if args.bigquery_events:
        step(results, "bigquery_read", bench_bigquery_read, args.bigquery_events, args.repeat, args.step_timeout)
    results["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2, default=str)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    log(f"results: bench/results/{stamp}.json ({results['seconds']} s)")
    if not args.no_docs:
        from bench.report import write_report
        write_report(results)
        log("wrote docs/benchmarks.md and docs/benchmarks.svg")
    return 0
