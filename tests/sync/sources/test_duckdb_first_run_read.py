"""The table read leaves out the ledger anti-joins when the ledger of this sync is empty (a first
run), and keeps them as soon as one sent event or unresolved dead letter exists."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_duckdb_event_json import NOW, fixture_rows, open_source, warehouse  # noqa: E402,F401

from sync.events import EventSettings  # noqa: E402
from sync.state.base import DEAD_LETTERS, SENT_EVENTS  # noqa: E402
from sync.state.duckdb import DDL  # noqa: E402


def read_ids(tmp_path, warehouse, monkeypatch):
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    try:
        empty = source._ledger_empty(source.connection)
        ids = [e for c in source.read_ready(None, True, EventSettings(now=NOW)) for e in c.event_ids.to_pylist()]
    finally:
        source.close()
    return empty, ids


def test_anti_joins_only_when_the_ledger_has_rows(tmp_path, warehouse, monkeypatch):
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CREATE SCHEMA capi_sync")
        for table in (SENT_EVENTS, DEAD_LETTERS):
            con.execute(f"CREATE TABLE capi_sync.{table} ({DDL[table]})")
        first = fixture_rows()[0]["event_id"]
        second = fixture_rows()[1]["event_id"]
        # rows of another sync, and a resolved dead letter, exclude nothing
        con.execute(f"INSERT INTO capi_sync.{SENT_EVENTS} (sync_name, event_id) VALUES ('other', ?)", [first])
        con.execute(f"INSERT INTO capi_sync.{DEAD_LETTERS} (sync_name, event_id, resolved_at) "
                    "VALUES ('offline_events', ?, now())", [second])
    finally:
        con.close()
    all_ids = [r["event_id"] for r in fixture_rows()]
    empty, ids = read_ids(tmp_path, warehouse, monkeypatch)
    assert empty is True
    assert sorted(ids, key=str) == sorted(all_ids, key=str)

    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"INSERT INTO capi_sync.{SENT_EVENTS} (sync_name, event_id) VALUES ('offline_events', ?)", [first])
    finally:
        con.close()
    empty, ids = read_ids(tmp_path, warehouse, monkeypatch)
    assert empty is False
    assert first not in ids
    assert len(ids) == len(all_ids) - all_ids.count(first)
