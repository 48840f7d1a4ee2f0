"""The table read leaves out the ledger anti-joins when the ledger of this sync is empty (a first
run), and keeps them as soon as one sent event or unresolved dead letter exists. Every page is
read outside the plan's transaction; an incremental run's anti-join reads the ledger's ids as
they were when its plan was made."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_duckdb_read import NOW, fixture_rows, open_source, warehouse  # noqa: E402,F401

from sync.events import EventSettings  # noqa: E402
from sync.state.base import DEAD_LETTERS, SENT_EVENTS  # noqa: E402
from sync.sources.duckdb import EXCLUDED_TABLE, DuckDBSource  # noqa: E402
from sync.state.duckdb import DDL  # noqa: E402


def read_ids(tmp_path, warehouse, monkeypatch):
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    try:
        empty = not source._snapshot_exclusions(source.connection.cursor(), source._filter(None, False))
        ids = [e for c in source.read_ready(None, True, EventSettings(now=NOW)) for e in c.event_ids.to_pylist()]
    finally:
        source.close()
    return empty, ids


def write_ledger(warehouse, *statements: tuple[str, list], create: bool = False) -> None:
    """Run `statements` on the warehouse's state schema; `create`: first its sent-events and
    dead-letter tables, empty (the state store creates them before a run reads)."""
    con = duckdb.connect(str(warehouse))
    try:
        if create:
            con.execute("CREATE SCHEMA capi_sync")
            for table in (SENT_EVENTS, DEAD_LETTERS):
                con.execute(f"CREATE TABLE capi_sync.{table} ({DDL[table]})")
        for sql, params in statements:
            con.execute(sql, params)
    finally:
        con.close()


def sent(sync_name: str, event_id: str) -> tuple[str, list]:
    return f"INSERT INTO capi_sync.{SENT_EVENTS} (sync_name, event_id) VALUES (?, ?)", [sync_name, event_id]


def test_anti_joins_only_when_the_ledger_has_rows(tmp_path, warehouse, monkeypatch):
    first = fixture_rows()[0]["event_id"]
    second = fixture_rows()[1]["event_id"]
    # rows of another sync, and a resolved dead letter, exclude nothing
    write_ledger(warehouse, sent("other", first),
                 (f"INSERT INTO capi_sync.{DEAD_LETTERS} (sync_name, event_id, resolved_at) "
                  "VALUES ('offline_events', ?, now())", [second]), create=True)
    all_ids = [r["event_id"] for r in fixture_rows()]
    empty, ids = read_ids(tmp_path, warehouse, monkeypatch)
    assert empty is True
    assert sorted(ids, key=str) == sorted(all_ids, key=str)

    write_ledger(warehouse, sent("offline_events", first))
    empty, ids = read_ids(tmp_path, warehouse, monkeypatch)
    assert empty is False
    assert first not in ids
    assert len(ids) == len(all_ids) - all_ids.count(first)


def ids_around_writes(tmp_path, warehouse, monkeypatch, ledger_event_id: str | None) -> tuple[str, str, list[str]]:
    """A read of the table in pages of 7 rows where, after its first chunk, on the source's own
    connection, the row latest in cursor order is deleted and the event of the row before it is
    recorded as sent (as the run's own commits do); `ledger_event_id`: one sent event of this
    sync before the read (an incremental run). Returns the deleted row's event_id, the recorded
    one, and the event_ids the read gave."""
    write_ledger(warehouse, *([sent("offline_events", ledger_event_id)] if ledger_event_id is not None else []),
                 create=True)
    source = open_source(tmp_path, warehouse, 7, monkeypatch, read_only=False)
    try:
        chunks = source.read_ready(None, True, EventSettings(now=NOW))
        ids = next(chunks).event_ids.to_pylist()
        last, recorded = (row[0] for row in source.connection.execute(
            "SELECT event_id FROM analytics.offline_events WHERE event_time IS NOT NULL AND event_id <> '' "
            "ORDER BY event_time DESC LIMIT 2").fetchall())
        assert last not in ids and recorded not in ids
        source.connection.execute("DELETE FROM analytics.offline_events WHERE event_id = ?", [last])
        source.connection.execute(*sent("offline_events", recorded))
        ids += [e for c in chunks for e in c.event_ids.to_pylist()]
    finally:
        source.close()
    return last, recorded, ids


def test_a_first_run_reads_its_pages_outside_the_plans_transaction(tmp_path, warehouse, monkeypatch):
    """A first run's pages (no ledger anti-join) each run in their own transaction, so a
    transaction held across the run does not keep what DuckDB's checkpoints of the ledger
    replace: a row deleted after the first page is not read."""
    last, recorded, ids = ids_around_writes(tmp_path, warehouse, monkeypatch, None)
    assert last not in ids
    assert recorded in ids
    assert len(ids) == len(fixture_rows()) - 1


def test_an_incremental_run_excludes_only_what_was_recorded_before_its_plan(tmp_path, warehouse, monkeypatch):
    """An incremental run's pages each run in their own transaction too (a catch-up of 3M
    orders ran out of 32MB after 2.4M events when they did not),
    and their anti-join reads the ledger's ids copied when the plan was made: an event recorded
    after the plan (the run's own commits) is still read, one recorded before it is not."""
    first = fixture_rows()[0]["event_id"]
    last, recorded, ids = ids_around_writes(tmp_path, warehouse, monkeypatch, first)
    assert last not in ids
    assert recorded in ids
    assert first not in ids
    assert len(ids) == len(fixture_rows()) - 2


def test_the_exclusions_are_one_hash_anti_join_on_a_copy_made_with_the_plan(tmp_path, warehouse, monkeypatch):
    """The ids left out are this sync's sent events and unresolved dead letters among the read's
    rows, copied into a temporary table of the reading connection (an id of the ledger the
    read cannot meet is not copied: the copy follows the read, not the ledger's history). The plan excludes them with one hash anti-join
    (a correlated NOT EXISTS per table was planned as delim joins over the whole read, which
    collect its distinct event ids and ran out of 32MB planning a 3M-row catch-up), a page
    with one correlated NOT EXISTS on the copied ids of the page's own cursor range (an
    anti-join's build side grows with the ledger: 32MB for a page of 5,000 new rows after 1M
    orders)."""
    rows = fixture_rows()
    first, second, third = (rows[i]["event_id"] for i in range(3))
    write_ledger(warehouse, sent("offline_events", first), sent("other", second), sent("offline_events", "f" * 64),
                 (f"INSERT INTO capi_sync.{DEAD_LETTERS} (sync_name, event_id) VALUES ('offline_events', ?), "
                  "('offline_events', NULL)", [second]),
                 (f"INSERT INTO capi_sync.{DEAD_LETTERS} (sync_name, event_id, resolved_at) "
                  "VALUES ('offline_events', ?, now())", [third]), create=True)
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    reader = source.connection.cursor()
    try:
        assert source._snapshot_exclusions(reader, source._filter(100, False)) is True
        copied = sorted(r[0] for r in reader.execute(f"SELECT event_id FROM {EXCLUDED_TABLE}").fetchall())
        read = source._filter(100, True, EXCLUDED_TABLE)
        plan = reader.execute(f"EXPLAIN SELECT v.event_id FROM analytics.offline_events AS v{read.sql()}",
                              list(read.params)).fetchall()[0][1]
        page = source._filter(100, True, EXCLUDED_TABLE, page=('v."event_time" BETWEEN ? AND ?', [0, 10**10]))
        cursors = dict(reader.execute(f"SELECT event_id, cursor_value FROM {EXCLUDED_TABLE}").fetchall())
        page_plan = reader.execute(f"EXPLAIN SELECT v.event_id FROM analytics.offline_events AS v{page.sql()}",
                                   list(page.params)).fetchall()[0][1]
    finally:
        reader.close()
        source.close()
    assert copied == sorted([first, second])
    assert read.params == (100,)
    assert "DELIM" not in plan
    assert plan.count("Join Type: ANTI") == 1
    assert cursors == {r["event_id"]: r["event_time"] for r in rows if r["event_id"] in (first, second)}
    # the page's join reads only the copied ids in the page's own cursor range
    assert page.conditions[0] == (f"NOT EXISTS (SELECT 1 FROM {EXCLUDED_TABLE} AS x WHERE x.event_id = v.event_id "
                                  "AND x.cursor_value BETWEEN ? AND ?)")
    assert page.params == (0, 10**10, 100, 0, 10**10)
    if int(duckdb.__version__.split(".")[0]) < 2:
        assert page_plan.count("DELIM_JOIN") == 1   # built from the page's own event ids
    else:
        # DuckDB 2.x decorrelates the NOT EXISTS into one MARK hash join whose build side is
        # the copied ids in the page's cursor range, not the page's own ids.
        assert "DELIM_JOIN" not in page_plan and page_plan.count("Join Type: MARK") == 1


def test_an_incremental_reads_pages_exclude_per_page_and_its_plan_with_the_anti_join(tmp_path, warehouse,
                                                                                     monkeypatch):
    """What `_stream_ready` hands its plan and its pages (the real methods, recorded on the
    way): the cursor histogram anti-joins the copy, every page excludes with NOT EXISTS on it."""
    write_ledger(warehouse, sent("offline_events", fixture_rows()[0]["event_id"]), create=True)
    plans, pages = [], []
    method = DuckDBSource._page_batches
    monkeypatch.setattr(DuckDBSource, "_page_batches", lambda self, con, page, *rest, **named: (
        pages.append(page.sql()), method(self, con, page, *rest, **named))[1])
    pages_method = DuckDBSource._pages
    monkeypatch.setattr(DuckDBSource, "_pages",
                        lambda self, con, read: (plans.append(read), pages_method(self, con, read))[1])
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    try:
        ids = [e for c in source.read_ready(None, True, EventSettings(now=NOW)) for e in c.event_ids.to_pylist()]
    finally:
        source.close()
    assert len(ids) == len(fixture_rows()) - 1
    assert [p.joins for p in plans] == [f" ANTI JOIN {EXCLUDED_TABLE} AS x ON x.event_id = v.event_id"]
    assert len(pages) >= 2
    head = f" WHERE NOT EXISTS (SELECT 1 FROM {EXCLUDED_TABLE} AS x WHERE x.event_id = v.event_id AND "
    assert pages[:-1] == [head + 'x.cursor_value BETWEEN ? AND ?) AND v."event_time" BETWEEN ? AND ?'] * (len(pages) - 1)
    assert pages[-1] == head + 'x.cursor_value IS NULL) AND v."event_time" IS NULL'   # the NULL cursors' page
