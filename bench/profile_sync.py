"""Profile the sync's hot path with pyinstrument: one in-process run to the counting sink.

pyinstrument samples the main thread, where the run reads chunks, builds and encodes
events and handles answers; the sender threads (httpx POSTs) only show as waits there.
"""
from __future__ import annotations

import time
from pathlib import Path

from bench.payload import write_config
from bench.processes import Server
from bench.sync_runs import reset_state
from sync.config import load_config
from sync.runner import SyncRun


def profile_run(duckdb_path: Path, relation: str, sink: Server, out_text: Path, interval: float = 0.001) -> dict:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return {"error": "pyinstrument is not installed (.venv/bin/pip install pyinstrument)"}
    reset_state(duckdb_path)
    config = load_config(write_config(duckdb_path.parent / "sync-profile.yml", duckdb_path=str(duckdb_path),
                                      relation=relation, endpoint=sink.url, name="bench_profile"))
    profiler = Profiler(interval=interval)
    started = time.perf_counter()
    profiler.start()
    summary = SyncRun(config).run()
    profiler.stop()
    seconds = time.perf_counter() - started
    out_text.parent.mkdir(parents=True, exist_ok=True)
    out_text.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return {"relation": relation, "events_sent": summary.events_sent, "seconds": round(seconds, 3),
            "error": summary.error, "profile": str(out_text)}
