"""How fast the BigQuery source reads: 100,000 events from the local BigQuery emulator
(`crucible serve --dialect bigquery`, .venv-crucible/) through the run's read step
(sync/runner/read.py: the source's pages -> ReadyChunks), three reads, best of them.

    .venv/bin/python bench/bigquery_read.py [--events 100000] [--repeats 3]

Prints wall seconds, events/s and the sync's own CPU seconds (this process; the emulator
serves from its own process, so wall minus the sync's share is mostly the emulator's).
Results are in docs/benchmarks.md, "BigQuery source read"."""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync.runner.plan import plan_read  # noqa: E402
from sync.runner.read import read_planned  # noqa: E402
from sync.sources.bigquery import BigQuerySource  # noqa: E402
from tests.support.bigquery_emulator import BigQueryEmulator, bigquery_sync_config  # noqa: E402

HASH_COLUMNS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")


def create_events(emulator: BigQueryEmulator, dataset: str, events: int, now: int) -> None:
    """`events` sendable orders in `dataset.offline_events` (every identifier hashed, two contents lines)."""
    client = emulator.client()
    client.query_and_wait(
        f"CREATE TABLE `{client.project}.{dataset}.offline_events` AS SELECT "
        "TO_HEX(SHA256(CONCAT('Purchase:', CAST(n AS STRING)))) AS event_id, 'Purchase' AS event_name, "
        f"{now - 86400} + DIV(n, 2) AS event_time, 'physical_store' AS action_source, CAST(n AS STRING) AS order_id, "
        "'USD' AS currency, NUMERIC '12.50' AS value, 3 AS num_items, "
        "[STRUCT('p1' AS id, 2 AS quantity, 3.75 AS item_price), STRUCT('p2' AS id, 1 AS quantity, 5.0 AS item_price)]"
        " AS contents, 's1' AS store_id, 'in_store' AS delivery_category, "
        + ", ".join(f"TO_HEX(SHA256(CONCAT('{k}', CAST(n AS STRING)))) AS {k}" for k in HASH_COLUMNS)
        + f" FROM UNNEST(GENERATE_ARRAY(1, {events})) AS n")


def read_once(config, now: int) -> tuple[float, float, int, int]:
    """(wall s, this process's CPU s, events, skips) of one read of the whole table."""
    source = BigQuerySource(config)
    plan = plan_read(config, None, now, full_refresh=False, state_ready=False)
    started, cpu = time.perf_counter(), time.process_time()
    events = skips = 0
    chunks = read_planned(source, plan)
    try:
        for chunk in chunks:
            skips += len(chunk.skips)
            events += len(chunk) - len(chunk.skips)
    finally:
        chunks.close()
        source.close()
    return time.perf_counter() - started, time.process_time() - cpu, events, skips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    now = int(time.time())
    os.environ.setdefault("CAPI_TEST_TOKEN", "x")
    with BigQueryEmulator() as emulator:
        dataset = emulator.create_dataset("bench_read")
        create_events(emulator, dataset, args.events, now)
        config = bigquery_sync_config(emulator, dataset, emulator.create_dataset("bench_state"), chunk_size=10_000)
        results = [read_once(config, now) for _ in range(args.repeats)]
    for wall, cpu, events, skips in results:
        print(f"read {events} events ({skips} skipped): {wall:.2f} s wall, {events / wall:,.0f} events/s, "
              f"sync CPU {cpu:.2f} s")
    best = min(results)
    print(f"best: {best[0]:.2f} s wall, {best[2] / best[0]:,.0f} events/s, sync CPU {best[1]:.2f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
