"""Sync state in schema `capi_sync` (config `state.schema`) of the same DuckDB file as the view."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
from typing import Callable

import duckdb
import orjson
import pyarrow as pa

from sync.errors import SourceError, first_line
from sync.identifiers import quote, sql_literal
from sync.locking import holder_alive
from sync.state.base import (DEAD_LETTER_FIELDS, DEAD_LETTERS, LOCK_COLUMNS, LOCKS, RUNS, SENT_EVENTS, WATERMARKS,
                             Checkpoint, RunRecord, lease_expired, lock_held_error, table_columns)
from sync.state.history import History, StoreReads, ddl

TYPES = {"STRING": "VARCHAR", "INT": "BIGINT", "INT32": "INTEGER", "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMP",
         "FLOAT": "DOUBLE"}
DDL = {**table_columns(TYPES), **ddl(TYPES)}


def _literal(value) -> str:
    return repr(float(value)) if isinstance(value, float) else sql_literal(value)


def _reported(method):
    """A DuckDB error of a state operation becomes one line, `state: ...`, with the source's
    exit code (the state shares the source's DuckDB file and memory_limit)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except duckdb.Error as exc:
            raise SourceError(f"state: {self.error_line(exc)}") from None
    return wrapper


class DuckDBStateStore(StoreReads):
    """The StateStore protocol (sync/state/base.py) on the source's DuckDB file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str, sync_name: str,
                 error_line: Callable[[BaseException], str] = first_line):
        """`error_line`: how a DuckDB error of a state operation is worded (the source's)."""
        self.con = con
        self._commit_con: duckdb.DuckDBPyConnection | None = None
        self.error_line = error_line
        self.schema = schema
        self.sync_name = sync_name
        self.q = {name: f"{quote(schema)}.{quote(name)}" for name in DDL}
        self.history = History(sync_name, self.q, self._select, _literal)

    # --- tables ---------------------------------------------------------------------------

    @_reported
    def tables_exist(self) -> bool:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [self.schema]).fetchall()
        return set(DDL) <= {r[0] for r in rows}

    @_reported
    def ensure_tables(self) -> None:
        """Create the schema and tables if missing (idempotent, one transaction)."""
        if self.tables_exist():
            return
        self._transaction(lambda: [
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}"),
            *[self.con.execute(f"CREATE TABLE IF NOT EXISTS {self.q[t]} ({cols})") for t, cols in DDL.items()],
        ])

    def _transaction(self, body):
        self.con.execute("BEGIN TRANSACTION")
        try:
            result = body()
            self.con.execute("COMMIT")
            return result
        except BaseException:
            self._rollback()
            raise

    def _rollback(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        # duckdb.Error: no transaction open (it failed before BEGIN, or DuckDB already ended it)
        with contextlib.suppress(duckdb.Error):
            (con or self.con).execute("ROLLBACK")

    # --- lock ------------------------------------------------------------------------------

    @_reported
    def acquire_lock(self, run_id: str, holder: str, now: dt.datetime, lease_seconds: int,
                     exclusive_os_lock: bool) -> dict | None:
        def body():
            row = self.con.execute(f"SELECT {', '.join(LOCK_COLUMNS)} FROM {self.q[LOCKS]} WHERE sync_name = ?",
                                   [self.sync_name]).fetchone()
            stale = None
            if row is not None:
                current = dict(zip(LOCK_COLUMNS, row))
                if not (exclusive_os_lock or lease_expired(current, now) or holder_alive(current["holder"]) is False):
                    raise lock_held_error(self.sync_name, current)
                stale = current
                self.con.execute(f"DELETE FROM {self.q[LOCKS]} WHERE sync_name = ?", [self.sync_name])
            self.con.execute(f"INSERT INTO {self.q[LOCKS]} VALUES (?, ?, ?, ?, ?, ?)",
                             [self.sync_name, run_id, holder, now, now,
                              now + dt.timedelta(seconds=lease_seconds)])
            return stale
        return self._transaction(body)

    @_reported
    def heartbeat(self, run_id: str, now: dt.datetime, lease_seconds: int) -> None:
        self.con.execute(f"UPDATE {self.q[LOCKS]} SET heartbeat_at = ?, expires_at = ? "
                         "WHERE sync_name = ? AND run_id = ?",
                         [now, now + dt.timedelta(seconds=lease_seconds), self.sync_name, run_id])

    @_reported
    def release_lock(self, run_id: str) -> None:
        self.con.execute(f"DELETE FROM {self.q[LOCKS]} WHERE sync_name = ? AND run_id = ?",
                         [self.sync_name, run_id])

    # --- runs ------------------------------------------------------------------------------

    @_reported
    def start_run(self, run: RunRecord) -> None:
        self.con.execute(f"INSERT INTO {self.q[RUNS]} VALUES ({', '.join('?' * 17)})", _run_values(run))

    @_reported
    def finish_run(self, run: RunRecord) -> None:
        match_keys = self.history.insert_match_keys(run)
        self._transaction(lambda: [
            self.con.execute(f"DELETE FROM {self.q[RUNS]} WHERE run_id = ?", [run.run_id]),
            self.start_run(run),
            match_keys and self.con.execute(match_keys),
        ])

    @_reported
    def _select(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    @_reported
    def mark_abandoned(self, run_id: str, now: dt.datetime, reason: str) -> None:
        self.con.execute(f"UPDATE {self.q[RUNS]} SET status = 'abandoned', ended_at = coalesce(ended_at, ?), "
                         "error = ? WHERE run_id = ? AND status = 'running'", [now, reason, run_id])

    # --- checkpoint ------------------------------------------------------------------------

    def checkpoint(self, run_id: str, cursor_column: str, checkpoint: Checkpoint, now: dt.datetime) -> None:
        """Ledger rows, dead letters, resolutions and the watermark in ONE transaction and one DuckDB
        call (docs/sync.md): rows from Arrow tables registered for it, the rest the sync's literals."""
        script, views = self._checkpoint_script(run_id, cursor_column, checkpoint, now)
        con = self._commit_connection()
        try:
            for view, table in views.items():
                con.register(view, table)
            con.execute(";\n".join(script))
        except duckdb.Error as exc:
            self._rollback(con)
            raise SourceError(self.error_line(exc)) from None
        except BaseException:
            self._rollback(con)
            raise
        finally:
            for view in views:
                with contextlib.suppress(duckdb.Error):
                    con.unregister(view)

    def _checkpoint_script(self, run_id: str, cursor_column: str, checkpoint: Checkpoint,
                           now: dt.datetime) -> tuple[list[str], dict[str, pa.Table]]:
        """The checkpoint's statements, and the Arrow tables they read by name."""
        name, run, at = sql_literal(self.sync_name), sql_literal(run_id), sql_literal(now)
        script = ["BEGIN TRANSACTION"]
        views: dict[str, pa.Table] = {}
        if checkpoint.sent_count:
            views["capi_sync_sent_batch"] = checkpoint.sent_table()
            if checkpoint.replace_sent:
                script.append(f"DELETE FROM {self.q[SENT_EVENTS]} WHERE sync_name = {name} AND event_id IN "
                              "(SELECT event_id FROM capi_sync_sent_batch)")
            script.append(f"INSERT INTO {self.q[SENT_EVENTS]} SELECT {name}, event_id, event_time, {run}, "
                          f"fbtrace_id, {at} FROM capi_sync_sent_batch")
        if checkpoint.resolved_event_ids:
            views["capi_sync_resolved_batch"] = pa.table({
                "event_id": pa.array(list(checkpoint.resolved_event_ids), pa.string())})
            script.append(f"UPDATE {self.q[DEAD_LETTERS]} SET resolved_at = {at} WHERE sync_name = {name} "
                          "AND resolved_at IS NULL AND event_id IN (SELECT event_id FROM capi_sync_resolved_batch)")
        if checkpoint.dead_letters:
            views["capi_sync_dead_batch"] = _dead_letter_table(checkpoint.dead_letters)
            # At most one unresolved dead letter per event (rows without an event_id: per
            # order_id): a new failure replaces the old.
            script.append(f"DELETE FROM {self.q[DEAD_LETTERS]} AS d WHERE sync_name = {name} AND resolved_at IS NULL "
                          "AND EXISTS (SELECT 1 FROM capi_sync_dead_batch AS b WHERE b.event_id = d.event_id "
                          "OR (b.event_id IS NULL AND d.event_id IS NULL "
                          "AND b.order_id IS NOT DISTINCT FROM d.order_id))")
            script.append(f"INSERT INTO {self.q[DEAD_LETTERS]} SELECT {name}, event_id, order_id, event_time, "
                          f"stage, reason, message, code, error_subcode, fbtrace_id, {run}, {at}, NULL "
                          "FROM capi_sync_dead_batch")
        if checkpoint.watermark is not None:
            script.append(f"DELETE FROM {self.q[WATERMARKS]} WHERE sync_name = {name}")
            script.append(f"INSERT INTO {self.q[WATERMARKS]} VALUES ({name}, {sql_literal(cursor_column)}, "
                          f"{sql_literal(int(checkpoint.watermark))}, {run}, {at})")
        script.append("COMMIT")
        return script, views

    def _commit_connection(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the group commits alone: DuckDB 2.x refuses to register an Arrow table on
        a connection whose last result was not read to its end."""
        if self._commit_con is None:
            self._commit_con = self.con.cursor()
        return self._commit_con

    def checkpoint_wal(self) -> str | None:
        """Move the run's commits from DuckDB's write-ahead log into the file (StateStore)."""
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            return self.error_line(exc)
        return None

    @_reported
    def prune_ledger(self, older_than: int) -> int:
        """Forget ledger entries with event_time < older_than (outside every future read)."""
        row = self.con.execute(f"DELETE FROM {self.q[SENT_EVENTS]} WHERE sync_name = ? AND event_time < ?",
                               [self.sync_name, older_than]).fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        """Close the store's connections (the database stays open while another connection has it)."""
        for con in (self._commit_con, self.con):
            if con is not None:
                with contextlib.suppress(duckdb.Error):
                    con.close()
        self._commit_con = None


def _run_values(run: RunRecord) -> list:
    return [run.run_id, run.sync_name, run.started_at, run.ended_at, run.status, run.dry_run,
            run.full_refresh, run.rows_read, run.events_sent, run.batches_sent,
            orjson.dumps(run.skipped, option=orjson.OPT_SORT_KEYS).decode(), run.failed,
            run.dead_lettered, orjson.dumps(run.fbtrace_ids).decode(), run.watermark_before,
            run.watermark_after, run.error]


def _dead_letter_table(dead_letters: list[dict]) -> pa.Table:
    columns = {f: [d.get(f) for d in dead_letters] for f in DEAD_LETTER_FIELDS}
    return pa.table({
        **{f: pa.array(columns[f], pa.string()) for f in
           ("event_id", "order_id", "stage", "reason", "message", "fbtrace_id")},
        "event_time": pa.array(columns["event_time"], pa.int64()),
        "code": pa.array(columns["code"], pa.int32()),
        "error_subcode": pa.array(columns["error_subcode"], pa.int32()),
    })
