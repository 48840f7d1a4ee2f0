"""DuckDB's memory_limit for a read: source.memory_limit when set; else 64MB on a table
(sync.sources.duckdb.DEFAULT_TABLE_MEMORY_LIMIT) and DuckDB's own default on a view."""
from __future__ import annotations

from dataclasses import replace

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_duckdb_read import NOW, fixture_rows, open_source, warehouse  # noqa: E402,F401

from offline_events_fixture import write_config  # noqa: E402

from sync.config import load_config  # noqa: E402
from sync.events import EventSettings  # noqa: E402
from sync.sources.duckdb import DuckDBSource  # noqa: E402

SETTINGS = EventSettings(now=NOW)


def duckdb_default_limit() -> str:
    """DuckDB's default memory_limit on this machine (80% of its RAM), as DuckDB prints it."""
    con = duckdb.connect()
    try:
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def read(source: DuckDBSource) -> tuple[str, int]:
    """The memory_limit a whole read ran under, and how many rows it read (sent or skipped)."""
    events = sum(len(chunk.event_ids) for chunk in source.read_ready(None, False, SETTINGS))
    (limit,) = source.connection.execute("SELECT current_setting('memory_limit')").fetchone()
    return limit, events


def test_a_table_is_read_within_64mb_when_no_limit_is_set(tmp_path, warehouse, monkeypatch):
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    try:
        assert source.memory_limit is None
        assert read(source) == ("61.0 MiB", len(fixture_rows()))   # 64MB = 64,000,000 bytes
        exc = duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 2.0 MiB")
        assert source.error_line(exc) == (
            "Out of Memory Error: failed to allocate data of size 2.0 MiB (DuckDB ran out of memory: raise "
            "source.memory_limit, now 64MB, the default for a table, or lower source.chunk_size, now 7; "
            "docs/sync.md, Memory)")
    finally:
        source.close()


def test_a_view_keeps_duckdbs_default(tmp_path, warehouse, monkeypatch):
    source = open_source(tmp_path, warehouse, 7, monkeypatch, relation="analytics.offline_events_view")
    try:
        assert read(source) == (duckdb_default_limit(), len(fixture_rows()))
        assert duckdb_default_limit() != "61.0 MiB"
    finally:
        source.close()


def test_a_limit_that_is_set_is_kept_on_a_table(tmp_path, warehouse, monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", "test-token")
    config = load_config(write_config(tmp_path, warehouse, "http://127.0.0.1:9",
                                      extra="state:\n  schema: capi_sync\n"))
    config = replace(config, source=replace(config.source, memory_limit="128MB", chunk_size=7))
    source = DuckDBSource(config, read_only=True)
    try:
        assert read(source) == ("122.0 MiB", len(fixture_rows()))
    finally:
        source.close()
