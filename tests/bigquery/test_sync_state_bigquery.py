"""sync.state.bigquery against the emulator: the same script of state operations on the DuckDB
store and the BigQuery store leaves the same watermark, ledger, dead letters, runs and lock rows
and gives the same answers and errors; the lease lock across "machines"; statements per checkpoint."""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from sync.errors import LockHeldError, SourceError
from sync.sources.bigquery import BigQuerySource, string_literal
from sync.state.base import Checkpoint, RunRecord
from sync.state.bigquery import DDL, MAX_JSON_CHARS, BigQueryStateStore, json_chunks
from sync.state.duckdb import DuckDBStateStore
from tests.support.bigquery_emulator import bigquery_sync_config as bigquery_config

pytestmark = pytest.mark.bigquery

T0 = dt.datetime(2025, 6, 30, 12, 0, 0)
LEASE = 900


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


class Counting:
    """Wraps a client: counts the statements sent (query_and_wait calls) by first keyword."""

    def __init__(self, client):
        self.client = client
        self.statements: list[str] = []

    after = None   # a hook run after each statement (to let "another machine" act in between)

    def query_and_wait(self, sql, **kwargs):
        self.statements.append(sql.split(None, 1)[0].upper())
        result = self.client.query_and_wait(sql, **kwargs)
        if self.after is not None:
            hook, self.after = self.after, None
            if hook(sql) is None and not sql.startswith("MERGE"):
                self.after = hook
        return result

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def stores(bigquery_emulator, tmp_path):
    state = bigquery_emulator.create_dataset("state")
    source = BigQuerySource(bigquery_config(bigquery_emulator, "analytics", state))
    counting = Counting(source.client)
    bq = BigQueryStateStore(source.config, client=counting)
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    duck = DuckDBStateStore(con, "capi_sync", "offline_events")
    yield {"bq": bq, "duck": duck, "counting": counting, "dataset": state, "client": source.client}
    con.close()
    source.close()


def dump(store) -> dict:
    """Every state row of the sync, in a stable order, as plain values."""
    if isinstance(store, DuckDBStateStore):
        def rows(table, order):
            cur = store.con.execute(f"SELECT * FROM {store.q[table]} ORDER BY {order}")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
    else:
        def rows(table, order):
            return store._rows(f"SELECT * FROM {store.q[table]} ORDER BY {order}")
    return {
        "watermarks": rows("sync_watermarks", "sync_name"),
        "sent_events": rows("sent_events", "event_id NULLS LAST"),
        "dead_letters": rows("dead_letters", "recorded_at, event_id NULLS LAST, order_id NULLS LAST, reason"),
        "runs": store.last_runs(10),
        "locks": rows("sync_locks", "run_id"),
        "dead_letter_count": store.dead_letter_count(),
        "dead_letters_all": store.dead_letters(include_resolved=True),
        "dead_letters_some": store.dead_letters(event_ids=["x", "z", "absent"], limit=5),
        "watermark": store.read_watermark(),
    }


def letter(event_id, order_id, reason, stage="check", **extra):
    return {"event_id": event_id, "order_id": order_id, "event_time": 100, "stage": stage, "reason": reason,
            "message": f"{reason} of {order_id}", **extra}


def script(store) -> list:
    """The same operations on either store; returns what each answered (errors as text)."""
    answers = []

    def call(fn, *args, **kwargs):
        try:
            answers.append(fn(*args, **kwargs))
        except LockHeldError as exc:
            answers.append(f"LockHeldError: {exc}")

    call(store.tables_exist)
    store.ensure_tables()
    store.ensure_tables()   # idempotent
    call(store.tables_exist)
    call(store.read_watermark)
    call(store.acquire_lock, "run1", "host-a:1", at(0), LEASE, False)
    call(store.acquire_lock, "run2", "host-b:2", at(60), LEASE, False)          # held: refused
    run1 = RunRecord("run1", "offline_events", at(1), watermark_before=None, watermark_after=None)
    store.start_run(run1)
    store.checkpoint("run1", "event_time", Checkpoint.of_sent(
        ["a", "b", "c"], [10, 20, 30], ["t1", "t1", None],
        dead_letters=[letter("x", "ox", "missing_currency"), letter(None, "o5", "missing_event_id"),
                      letter(None, "o5", "missing_event_id"), letter(None, None, "missing_event_id"),
                      letter("y", "oy", "invalid_event", stage="api", code=100, error_subcode=2804003,
                             fbtrace_id="t9")],
        watermark=30), at(2))
    store.checkpoint("run1", "event_time", Checkpoint.of_sent(
        ["d", "it's"], [40, None], ["t2", "t2"],
        dead_letters=[letter("x", "ox", "non_positive_value"), letter(None, "o5", "missing_event_id")],
        watermark=None), at(3))
    store.checkpoint("run1", "event_time", Checkpoint(watermark=45), at(4))
    store.heartbeat("run1", at(5), LEASE)
    store.heartbeat("not-the-holder", at(6), LEASE)
    run1.ended_at, run1.status, run1.rows_read, run1.events_sent = at(7), "succeeded", 12, 5
    run1.skipped, run1.fbtrace_ids, run1.watermark_after = {"missing_currency": 1, "b": 2}, ["t1", "t2"], 45
    store.finish_run(run1)
    store.release_lock("someone-else")
    store.release_lock("run1")
    call(store.acquire_lock, "run3", "host-a:3", at(100), LEASE, False)        # free again
    store.start_run(RunRecord("run3", "offline_events", at(100)))
    call(store.acquire_lock, "run4", "host-c:4", at(100 + LEASE - 1), LEASE, False)   # not yet expired
    call(store.acquire_lock, "run4", "host-c:4", at(100 + LEASE + 1), LEASE, False)   # expired: stale row back
    store.mark_abandoned("run3", at(100 + LEASE + 1), "the run died holding the lock")
    store.mark_abandoned("run1", at(100 + LEASE + 1), "not running: unchanged")
    store.start_run(RunRecord("run4", "offline_events", at(100 + LEASE + 2), full_refresh=True,
                              error="quote ' and\nnewline"))
    # a dead-letter retry: y delivered (already dead-lettered, not in the ledger), a re-sent
    store.checkpoint("run4", "event_time", Checkpoint.of_sent(
        ["a", "y"], [12, 100], ["t6", "t5"],
        resolved_event_ids=["y", "y", "never-dead"], replace_sent=True, watermark=50), at(2000))
    call(store.prune_ledger, 20)
    call(store.prune_ledger, 20)
    call(store.last_runs, 2)
    return answers


def test_same_state_as_the_duckdb_store(stores):
    duck_answers = script(stores["duck"])
    bq_answers = script(stores["bq"])
    assert bq_answers == duck_answers
    assert duck_answers[:5] == [False, True, None, None,
                                "LockHeldError: another run of sync 'offline_events' is in progress (run run1 held by "
                                "host-a:1 since 2025-06-30 12:00:00 UTC); nothing was sent"]
    duck, bq = dump(stores["duck"]), dump(stores["bq"])
    assert bq == duck
    # what the script must have left (the DuckDB store is the reference; these pin it)
    assert duck["watermark"] == 50
    assert duck_answers[-3:-1] == [1, 0]   # the prune removed a (re-sent at event_time 12), once
    assert [(r["event_id"], r["event_time"], r["run_id"], r["fbtrace_id"]) for r in duck["sent_events"]] == [
        ("b", 20, "run1", "t1"), ("c", 30, "run1", None), ("d", 40, "run1", "t2"),
        ("it's", None, "run1", "t2"), ("y", 100, "run4", "t5")]
    unresolved = [(d["event_id"], d["order_id"], d["reason"]) for d in duck["dead_letters"] if d["resolved_at"] is None]
    assert unresolved == [(None, None, "missing_event_id"), ("x", "ox", "non_positive_value"),
                          (None, "o5", "missing_event_id")]
    assert duck["dead_letter_count"] == 3
    assert [(d["event_id"], d["resolved_at"]) for d in duck["dead_letters"] if d["resolved_at"]] == [("y", at(2000))]
    assert [(r["run_id"], r["status"], r["error"]) for r in duck["runs"]] == [
        ("run4", "running", "quote ' and\nnewline"), ("run3", "abandoned", "the run died holding the lock"),
        ("run1", "succeeded", None)]
    assert duck["runs"][2]["skipped"] == {"b": 2, "missing_currency": 1} and duck["runs"][2]["fbtrace_ids"] == ["t1", "t2"]
    assert [(r["run_id"], r["holder"], r["expires_at"]) for r in duck["locks"]] == [
        ("run4", "host-c:4", at(100 + 2 * LEASE + 1))]


def test_lease_lock_across_machines(stores):
    bq = stores["bq"]
    bq.ensure_tables()
    assert bq.acquire_lock("r1", "machine-1:10", at(0), 60, False) is None
    with pytest.raises(LockHeldError, match=r"run r1 held by machine-1:10"):
        bq.acquire_lock("r2", "machine-2:20", at(30), 60, False)
    bq.heartbeat("r1", at(50), 60)                       # the lease now runs to 110
    with pytest.raises(LockHeldError):
        bq.acquire_lock("r2", "machine-2:20", at(100), 60, False)
    stale = bq.acquire_lock("r2", "machine-2:20", at(111), 60, False)
    assert (stale["run_id"], stale["holder"], stale["heartbeat_at"], stale["expires_at"]) == \
           ("r1", "machine-1:10", at(50), at(110))
    # r1 comes back late: its heartbeat and release do not touch r2's lease
    bq.heartbeat("r1", at(112), 60)
    bq.release_lock("r1")
    assert [(r["run_id"], r["expires_at"]) for r in bq._lock_rows()] == [("r2", at(171))]


def test_a_dead_holder_on_this_host_is_taken_over_at_once(stores):
    import socket
    bq = stores["bq"]
    bq.ensure_tables()
    dead = f"{socket.gethostname()}:{2**22 + 12345}"     # no such pid
    bq.acquire_lock("r1", dead, at(0), 900, False)
    assert bq.acquire_lock("r2", "elsewhere:1", at(1), 900, False)["run_id"] == "r1"


def test_two_rows_inserted_at_once_make_both_back_off(stores):
    """If two runs on two machines both found no row and both inserted one, the one that reads
    back the other's row backs off and leaves nothing; expired duplicates are all taken over."""
    bq, client = stores["bq"], stores["client"]
    bq.ensure_tables()
    assert bq.acquire_lock("r1", "machine-1:1", at(0), 900, False) is None
    insert_r2 = (f"INSERT INTO {bq.q['sync_locks']} (sync_name, run_id, holder, acquired_at, heartbeat_at, "
                 "expires_at) VALUES ('offline_events', 'r2', 'machine-2:2', TIMESTAMP '2025-06-30 12:00:01+00', "
                 "TIMESTAMP '2025-06-30 12:00:01+00', TIMESTAMP '2025-06-30 12:15:01+00')")
    client.query_and_wait(insert_r2)
    with pytest.raises(LockHeldError, match="run r1 held by machine-1:1"):
        bq.acquire_lock("r3", "machine-3:3", at(10), 900, False)
    assert sorted(r["run_id"] for r in bq._lock_rows()) == ["r1", "r2"]
    # once both leases ran out, the next run takes over both rows
    stale = bq.acquire_lock("r3", "machine-3:3", at(2000), 900, False)
    assert stale["run_id"] == "r1"
    assert [(r["run_id"], r["holder"]) for r in bq._lock_rows()] == [("r3", "machine-3:3")] * 2
    bq.release_lock("r3")
    assert bq._lock_rows() == []
    # r4 and r2 find no row and insert theirs at the same time: r4 reads back r2's row too,
    # backs off and removes its own
    stores["counting"].after = lambda sql: client.query_and_wait(insert_r2) if sql.startswith("MERGE") else None
    with pytest.raises(LockHeldError, match="run r2 held by machine-2:2"):
        bq.acquire_lock("r4", "machine-4:4", at(3000), 900, False)
    assert [r["run_id"] for r in bq._lock_rows()] == ["r2"]


def test_a_checkpoint_is_two_statements_and_big_ones_split(stores):
    bq, counting = stores["bq"], stores["counting"]
    bq.ensure_tables()
    counting.statements.clear()
    n = 50_000
    ids = [f"{i:064x}" for i in range(n)]
    bq.checkpoint("run1", "event_time", Checkpoint.of_sent(ids, list(range(n)), ["AbCdEfGhIjKlMnOpQrStUvW"] * n,
                                                   watermark=n - 1), T0)
    per_statement = MAX_JSON_CHARS // len('["' + ids[0] + '",49999,"AbCdEfGhIjKlMnOpQrStUvW"],')
    assert counting.statements == ["INSERT"] * -(-n // per_statement) + ["MERGE"]
    assert len(counting.statements) == 7
    assert bq._rows(f"SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM {bq.q['sent_events']}") == \
           [{"n": n, "d": n}]
    assert bq.read_watermark() == n - 1
    counting.statements.clear()
    bq.checkpoint("run1", "event_time", Checkpoint.of_sent(["z"], [1], ["t"],
                                                   watermark=n), T0)
    assert counting.statements == ["INSERT", "MERGE"]


def test_json_chunks_stay_under_the_limit_as_sql_literals():
    rows = [["x" * 50, i, "it's \\ \"quoted\""] for i in range(1000)]
    chunks = json_chunks(rows, max_chars=5000)
    decoded = [json.loads(c) for c in chunks]
    assert [r for chunk in decoded for r in chunk] == rows
    assert all(len(string_literal(c)) <= 5000 for c in chunks)
    # each chunk is full: the next row would not have fitted
    for chunk, following in zip(chunks, decoded[1:]):
        assert len(string_literal(chunk[:-1] + "," + json.dumps(following[0], separators=(",", ":")) + "]")) > 5000
    assert len(chunks) == 18


def test_the_ledger_is_written_before_the_watermark(stores):
    """A checkpoint whose watermark statement fails leaves the ledger rows written."""
    bq, client = stores["bq"], stores["client"]
    bq.ensure_tables()
    client.query_and_wait(f"DROP TABLE {bq.q['sync_watermarks']}")
    with pytest.raises(SourceError, match=rf"^state.dataset: {bq.project}.{stores['dataset']}: "):
        bq.checkpoint("run1", "event_time", Checkpoint.of_sent(["a"], [1], ["t"], watermark=1), T0)
    assert [r["event_id"] for r in bq._rows(f"SELECT event_id FROM {bq.q['sent_events']}")] == ["a"]


def test_tables_are_created_in_the_configured_dataset(stores):
    bq, client = stores["bq"], stores["client"]
    bq.ensure_tables()
    tables = {t.table_id: client.get_table(t.reference) for t in client.list_tables(f"{bq.project}.{bq.dataset}")}
    assert sorted(tables) == sorted(DDL)
    assert tables["sent_events"].clustering_fields == ["sync_name", "event_time"]
    assert [f.name for f in tables["sync_runs"].schema][:5] == ["run_id", "sync_name", "started_at", "ended_at",
                                                                 "status"]
