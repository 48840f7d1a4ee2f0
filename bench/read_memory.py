"""Peak RSS and time of ways to stream `offline_events` out of DuckDB into Python chunks.

    .venv/bin/python -m bench.read_memory data/bench/1000000/warehouse.duckdb

Each variant runs in its own process (peak RSS = its VmHWM) over the table copy
`bench.offline_events` and every row is turned into Python lists as the sync does:
- `sync-query`: the sync's query shape, a window count and ORDER BY over the whole read;
- `keyset-pages`: `WHERE (event_time, event_id) > (?, ?) ORDER BY ... LIMIT 10000` per page;
- `day-pages`: one ordered query per day of event_time on a copy sorted by event_time;
- `sorted-scan`: one plain scan of that sorted copy (insertion order, no ORDER BY).
The memory_limit variants set DuckDB's `memory_limit` to 256MB.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

COLUMNS = ("event_id, event_name, event_time, action_source, order_id, currency, CAST(value AS DOUBLE) AS value, "
           "num_items, contents, em, ph, fn, ln, db, ge, ct, st, zp, country, external_id")
SORTED = "bench.offline_events_sorted"
VARIANTS = ("sync-query", "keyset-pages", "day-pages", "day-pages+memory_limit", "sorted-scan+memory_limit")


def _child(path: str, variant: str) -> dict:
    import duckdb
    con = duckdb.connect(path)
    if variant.endswith("+memory_limit"):
        con.execute("SET memory_limit='256MB'")
    rows = 0

    def consume(reader) -> None:
        nonlocal rows
        for batch in reader:
            chunk = {name: column.to_pylist() for name, column in zip(batch.schema.names, batch.columns)}
            rows += len(chunk["event_id"])

    started = time.perf_counter()
    if variant == "sync-query":
        consume(con.execute(f"SELECT {COLUMNS}, count(*) OVER (PARTITION BY event_id) AS _copies "
                            "FROM bench.offline_events ORDER BY event_time, event_id").to_arrow_reader(10000))
    elif variant == "keyset-pages":
        last = [-1, ""]
        while True:
            table = con.execute(f"SELECT {COLUMNS} FROM bench.offline_events WHERE (event_time, event_id) > (?, ?) "
                                "ORDER BY event_time, event_id LIMIT 10000", last).to_arrow_table()
            if table.num_rows == 0:
                break
            rows += table.num_rows
            last = [table.column("event_time")[-1].as_py(), table.column("event_id")[-1].as_py()]
            {name: column.to_pylist() for name, column in zip(table.schema.names, table.columns)}
    elif variant.startswith("day-pages"):
        low, high = con.execute(f"SELECT min(event_time), max(event_time) FROM {SORTED}").fetchone()
        for start in range(low, high + 1, 86_400):
            consume(con.execute(f"SELECT {COLUMNS} FROM {SORTED} WHERE event_time >= ? AND event_time < ? "
                                "ORDER BY event_time, event_id", [start, start + 86_400]).to_arrow_reader(10000))
    elif variant.startswith("sorted-scan"):
        consume(con.execute(f"SELECT {COLUMNS} FROM {SORTED}").to_arrow_reader(10000))
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    return {"variant": variant, "rows": rows, "seconds": round(seconds, 2), "peak_rss_mib": hwm // 1024}


def measure(path: str) -> list[dict]:
    import duckdb
    con = duckdb.connect(path)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {SORTED} AS SELECT * FROM bench.offline_events ORDER BY event_time, event_id")
    finally:
        con.close()
    results = []
    for variant in VARIANTS:
        done = subprocess.run([sys.executable, "-m", "bench.read_memory", "--child", path, variant],
                              capture_output=True, text=True, timeout=900)
        lines = done.stdout.strip().splitlines()
        results.append(json.loads(lines[-1]) if done.returncode == 0 and lines
                       else {"variant": variant, "error": done.stderr.strip().splitlines()[-1][:300]})
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(_child(argv[1], argv[2])))
        return 0
    for result in measure(argv[0]):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
