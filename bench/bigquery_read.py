"""How fast the BigQuery source reads: 100,000 events from the local BigQuery emulator
(`crucible serve --dialect bigquery`, .venv-crucible/) through the run's read step
(sync/runner/read.py: the source's pages -> ReadyChunks), `--repeats` reads, best of them.

    .venv/bin/python bench/bigquery_read.py [--events 100000] [--repeats 3] [--code DIR] [--json]

Prints wall seconds, events/s and the sync's own CPU seconds (this process; the emulator
serves from its own process, so wall minus the sync's share is mostly the emulator's), and a
digest of every event's bytes in read order (code that changes a byte of an event shows
another digest; the commit of the "before" column predates the store_id and delivery_category
fields, so its digest differs). `--code DIR`: read with the `sync` package (and tests/support) of
another checkout, e.g. an older commit's (`python -m bench` does so for its "before" column).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HASH_COLUMNS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")
ARRAY_KEYS = ("em", "ph", "external_id")
# The commit whose BigQuery source the issue of the single read path measured against:
# rows as JSON, events built in Python (build_events + orjson).
BEFORE_COMMIT = "e7ad969"


def create_events(emulator, dataset: str, events: int, now: int) -> None:
    """`events` sendable orders in `dataset.offline_events` (every identifier hashed, two
    contents lines), with the event parts dbt writes (user_data_json, custom_data_json)."""
    client = emulator.client()
    hashes = ", ".join(f"TO_HEX(SHA256(CONCAT('{k}', CAST(n AS STRING)))) AS {k}" for k in HASH_COLUMNS)
    user_data = ", ',', ".join(
        f"'\"{k}\":{chr(91) if k in ARRAY_KEYS else ''}\"', {k}, '\"{chr(93) if k in ARRAY_KEYS else ''}'"
        for k in HASH_COLUMNS)
    client.query_and_wait(
        f"CREATE TABLE `{client.project}.{dataset}.offline_events` AS SELECT *, "
        f"CONCAT('{{', {user_data}, '}}') AS user_data_json, "
        "CONCAT('{\"currency\":\"USD\",\"value\":12.5,\"contents\":[{\"id\":\"p1\",\"quantity\":2,"
        "\"item_price\":3.75},{\"id\":\"p2\",\"quantity\":1,\"item_price\":5.0}],\"order_id\":\"', order_id, "
        "'\",\"num_items\":3,\"delivery_category\":\"in_store\",\"store_id\":\"s1\"}') AS custom_data_json "
        "FROM (SELECT TO_HEX(SHA256(CONCAT('Purchase:', CAST(n AS STRING)))) AS event_id, 'Purchase' AS event_name, "
        f"{now - 86400} + DIV(n, 2) AS event_time, 'physical_store' AS action_source, CAST(n AS STRING) AS order_id, "
        "'USD' AS currency, NUMERIC '12.50' AS value, 3 AS num_items, "
        "[STRUCT('p1' AS id, 2 AS quantity, 3.75 AS item_price), STRUCT('p2' AS id, 1 AS quantity, 5.0 AS item_price)]"
        f" AS contents, 's1' AS store_id, 'in_store' AS delivery_category, {hashes} "
        f"FROM UNNEST(GENERATE_ARRAY(1, {events})) AS n)")


def read_once(config, now: int) -> dict:
    """One read of the whole table: wall s, this process's CPU s, events, skips, bytes digest."""
    from sync.runner.plan import plan_read
    from sync.runner.read import read_planned
    from sync.sources.bigquery import BigQuerySource

    source = BigQuerySource(config)
    plan = plan_read(config, None, now, full_refresh=False, state_ready=False)
    started, cpu = time.perf_counter(), time.process_time()
    events = skips = 0
    digest = hashlib.sha256()
    chunks = read_planned(source, plan)
    try:
        for chunk in chunks:
            skips += len(chunk.skips)
            events += len(chunk) - len(chunk.skips)
            for body in chunk.encoded.to_pylist():
                digest.update(body or b"-")
                digest.update(b"\n")
    finally:
        chunks.close()
        source.close()
    return {"wall_s": round(time.perf_counter() - started, 3), "sync_cpu_s": round(time.process_time() - cpu, 3),
            "events": events, "skips": skips, "digest": digest.hexdigest()[:16]}


def measure_here(events: int, repeats: int, now: int) -> dict:
    """`repeats` reads of `events` events by the `sync` package on sys.path, the clock at `now`
    (the rows' event times follow it); the best (least wall) and all."""
    from tests.support.bigquery_emulator import BigQueryEmulator, bigquery_sync_config

    os.environ.setdefault("CAPI_TEST_TOKEN", "x")
    with BigQueryEmulator() as emulator:
        dataset = emulator.create_dataset("bench_read")
        create_events(emulator, dataset, events, now)
        config = bigquery_sync_config(emulator, dataset, emulator.create_dataset("bench_state"), chunk_size=10_000)
        runs = [read_once(config, now) for _ in range(repeats)]
    best = dict(min(runs, key=lambda r: r["wall_s"]))
    best.update(events_per_second=round(best["events"] / best["wall_s"]), runs=runs,
                peak_rss_mib=peak_rss_mib())
    return best


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the high-water mark of the process
    that started this one across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def code_of(commit: str, into: Path) -> Path:
    """The `sync` package and tests/support of `commit` unpacked under `into` (once)."""
    target = into / f"code-{commit}"
    if not (target / "sync").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "sync", "tests/support"],
                                 cwd=ROOT, capture_output=True, check=True, timeout=120).stdout
        archive_path = target / "code.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(target, filter="data")
        archive_path.unlink()
    return target


def measure(events: int = 100_000, repeats: int = 3, code: Path | None = None, now: int | None = None,
            timeout: float = 900) -> dict:
    """`measure_here` in a fresh interpreter, reading with the code of `code` (this checkout's when
    None); give two measurements the same `now` to compare their digests."""
    from tests.support.bigquery_emulator import find_crucible

    crucible, missing = find_crucible()   # this checkout's: `code` may find none of its own
    if crucible is None:
        raise RuntimeError(missing)
    command = [sys.executable, str(Path(__file__).resolve()), "--json", "--events", str(events),
               "--repeats", str(repeats), "--now", str(now or int(time.time()))] + (["--code", str(code)] if code else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CRUCIBLE_BIN": str(crucible)})
    if done.returncode != 0:
        raise RuntimeError(f"bench/bigquery_read.py failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--code", type=Path, help="a checkout whose sync package reads (default: this one)")
    parser.add_argument("--now", type=int, help="the clock, unix seconds (default: now)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    sys.path.insert(0, str((args.code or ROOT).resolve()))
    result = measure_here(args.events, args.repeats, args.now or int(time.time()))
    if args.json:
        print(json.dumps(result))
        return 0
    for run in result["runs"]:
        print(f"read {run['events']} events ({run['skips']} skipped): {run['wall_s']:.2f} s wall, "
              f"{run['events'] / run['wall_s']:,.0f} events/s, sync CPU {run['sync_cpu_s']:.2f} s, bytes {run['digest']}")
    print(f"best: {result['wall_s']:.2f} s wall, {result['events_per_second']:,} events/s, sync CPU "
          f"{result['sync_cpu_s']:.2f} s; peak RSS {result['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
