"""A DuckDB state transaction that fails is rolled back and reported in one line, through the
source's wording (which names the memory settings when DuckDB ran out of memory)."""
from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest

from sync.errors import SourceError
from sync.sources.duckdb import error_line
from sync.state.base import Checkpoint
from sync.state.duckdb import DuckDBStateStore

AT = dt.datetime(2026, 11, 1)


def ids(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_a_checkpoint_larger_than_the_memory_limit_is_one_line_and_rolled_back(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"), config={"memory_limit": "2MB"})
    store = DuckDBStateStore(con, "capi_sync", "s", error_line=lambda exc: error_line(exc, "2MB", 1000))
    store.ensure_tables()
    store.checkpoint("run-1", "event_time", Checkpoint.of_sent(ids(10), list(range(10)), ["t"] * 10,
                                                               watermark=10), AT)
    n = 100_000
    with pytest.raises(SourceError) as failed:
        store.checkpoint("run-1", "event_time", Checkpoint.of_sent(ids(n), list(range(n)), ["t"] * n,
                                                                   watermark=n), AT)
    message = str(failed.value)
    assert failed.value.exit_code == 6   # a source problem: the DuckDB file's memory_limit
    assert "\n" not in message
    assert message.endswith("(DuckDB ran out of memory: raise source.memory_limit, now 2MB, or lower "
                            "source.chunk_size, now 1000; docs/sync.md, Memory)")
    # the whole transaction is undone: the first checkpoint is what the state says
    assert con.execute("SELECT count(*) FROM capi_sync.sent_events").fetchone() == (10,)
    assert store.read_watermark() == 10


def test_without_a_wording_the_first_line_of_the_error(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    store = DuckDBStateStore(con, "capi_sync", "s")
    store.ensure_tables()
    con.execute("DROP TABLE capi_sync.sent_events")
    with pytest.raises(SourceError) as failed:
        store.checkpoint("run-1", "event_time", Checkpoint.of_sent(ids(3), [1, 2, 3], ["t"] * 3), AT)
    assert str(failed.value).startswith("Catalog Error: Table with name sent_events does not exist!")
    assert "\n" not in str(failed.value)


def test_any_state_operation_that_fails_in_duckdb_is_one_line_with_the_source_exit_code(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    store = DuckDBStateStore(con, "capi_sync", "s", error_line=lambda exc: "worded: " + str(exc).splitlines()[0])
    store.ensure_tables()
    con.execute("DROP TABLE capi_sync.sync_runs")
    with pytest.raises(SourceError) as failed:
        store.last_runs()
    assert str(failed.value).startswith("state: worded: Catalog Error: Table with name sync_runs does not exist!")
    assert failed.value.exit_code == 6
