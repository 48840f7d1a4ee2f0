"""Peak RSS of `capi-sync run` on the dbt table, to the counting sink (issue 6, target 4).

    .venv/bin/python -m bench.rss_probe data/bench/100000/warehouse.duckdb [--memory-limit 64MB]

Prints one JSON line per run: peak RSS (VmHWM, MiB), events sent, run seconds, events/s.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.processes import start_sink
from bench.sync_runs import TABLE_MEMORY_LIMIT, cli_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--relation", default="analytics.offline_events")
    parser.add_argument("--memory-limit", default=TABLE_MEMORY_LIMIT)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with start_sink() as sink:
        for _ in range(args.repeat):
            result = cli_run(args.warehouse.resolve(), args.relation, sink, timeout=600, label="rss-probe",
                             memory_limit=args.memory_limit or None)
            print(json.dumps({k: result.get(k) for k in ("peak_rss_mib", "events_sent", "run_seconds",
                                                          "events_per_second", "status", "error")}), flush=True)


if __name__ == "__main__":
    main()
