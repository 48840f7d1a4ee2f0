"""A run's DuckDB commits stay in the write-ahead log until the store checkpoints it at the end
of the run, unless the log passes sync.sources.duckdb.CHECKPOINT_THRESHOLD first; a crash
before that loses nothing: DuckDB replays the log at the next open."""
from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from sync.sources.duckdb import connect
from sync.state.base import Checkpoint
from sync.state.duckdb import DuckDBStateStore

AT = dt.datetime(2026, 11, 1)
DUCKDB_DEFAULT_THRESHOLD = 16 * 1024 * 1024   # DuckDB checkpoints a log this large on its own


def ids(start: int, n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + n)]


def commit_ledger(store: DuckDBStateStore, batches: int, rows: int) -> None:
    """`batches` state commits of `rows` ledger rows each, as a run makes them."""
    for b in range(batches):
        store.checkpoint("run-1", "event_time", Checkpoint.of_sent(ids(b * rows, rows), list(range(rows)),
                                                                   ["trace"] * rows, watermark=b), AT)


def wal(path: Path) -> int:
    """The size of the DuckDB file's write-ahead log (0: none)."""
    log = Path(f"{path}.wal")
    return log.stat().st_size if log.exists() else 0


def test_commits_stay_in_the_log_until_the_store_checkpoints_it(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    con = connect(str(path), read_only=False)
    store = DuckDBStateStore(con, "capi_sync", "s")
    store.ensure_tables()
    commit_ledger(store, batches=25, rows=8000)   # 200,000 ledger rows
    # past DuckDB's own threshold, and still not checkpointed
    assert wal(path) > DUCKDB_DEFAULT_THRESHOLD
    assert store.checkpoint_wal() is None
    assert wal(path) == 0
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM capi_sync.sent_events").fetchone() == \
        (200_000, 200_000)
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM capi_sync.sent_events").fetchone() == (200_000,)
    assert con.execute("SELECT max(watermark) FROM capi_sync.sync_watermarks").fetchone() == (24,)


def test_a_read_only_connection_keeps_duckdbs_threshold(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    writing = connect(str(path), read_only=False)
    assert writing.execute("SELECT current_setting('checkpoint_threshold')").fetchone() == ("244.1 MiB",)
    writing.close()
    reading = connect(str(path), read_only=True)
    assert reading.execute("SELECT current_setting('checkpoint_threshold')").fetchone() == ("16.0 MiB",)


def test_commits_left_in_the_log_by_a_crash_are_there_at_the_next_open(tmp_path):
    """A process that commits ledger rows and dies without closing (os._exit: no checkpoint
    at close) leaves them in the log; the next open replays them."""
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = {[str(Path(__file__).parent), *sys.path]!r}
        from test_duckdb_write_ahead_log import commit_ledger
        from sync.sources.duckdb import connect
        from sync.state.duckdb import DuckDBStateStore
        store = DuckDBStateStore(connect({str(path)!r}, read_only=False), "capi_sync", "s")
        store.ensure_tables()
        commit_ledger(store, batches=3, rows=1000)
        os._exit(9)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 9, done.stderr
    assert wal(path) > 0
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(*), count(DISTINCT event_id) FROM capi_sync.sent_events").fetchone() == \
        (3000, 3000)
    assert con.execute("SELECT max(watermark) FROM capi_sync.sync_watermarks").fetchone() == (2,)
