"""Sync state in a BigQuery dataset (config `state.dataset`, default `capi_sync`): a handful of
statements a checkpoint, no transaction (the ledger before the watermark), MERGE for upserts
and deletes, the lock a lease row (docs/bigquery.md, State and Lock)."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sync.config import SyncConfig
from sync.errors import LockHeldError
from sync.locking import holder_alive
from sync.sources.bigquery import (DEFAULT_STATE_DATASET, api_errors, bool_literal, int_literal, make_client,
                                   naive_utc, string_literal, table_name, timestamp_literal)
from sync.state.base import (DEAD_LETTER_FIELDS, DEAD_LETTERS, LOCK_COLUMNS, LOCKS, RUNS, SENT_EVENTS, WATERMARKS,
                             Checkpoint, RunRecord, lease_expired, lock_held_error, table_columns)
from sync.state.history import RUN_COLUMNS, History, StoreReads, ddl

if TYPE_CHECKING:
    from google.cloud import bigquery

# BigQuery's query text limit is 1,024K characters; the JSON literal of one statement stays below this.
MAX_JSON_CHARS = 900_000

TYPES = {"STRING": "STRING", "INT": "INT64", "INT32": "INT64", "BOOL": "BOOL", "TIMESTAMP": "TIMESTAMP",
         "FLOAT": "FLOAT64"}
DDL = {**table_columns(TYPES), **ddl(TYPES)}
# The ledger is read by sync_name and event_id (the anti-join) and pruned by event_time.
CLUSTERING = {SENT_EVENTS: "sync_name, event_time", DEAD_LETTERS: "sync_name"}


def _literal(value) -> str:
    """A GoogleSQL literal for a value of the sync's own making or a number of an API answer."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return bool_literal(value)
    if isinstance(value, int):
        return int_literal(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return timestamp_literal(value)
    return string_literal(str(value))


def json_chunks(rows: list, max_chars: int = MAX_JSON_CHARS) -> list[str]:
    """Rows as JSON arrays (ASCII), split so that none is longer than max_chars as a SQL
    string literal (where each backslash and quote takes one more character)."""
    chunks, current, size = [], [], 4
    for row in rows:
        text = json.dumps(row, separators=(",", ":"))
        length = len(text) + text.count("\\") + text.count("'") + 1
        if current and size + length > max_chars:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 4
        current.append(text)
        size += length
    if current:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def _json_rows(doc: str) -> str:
    return f"UNNEST(JSON_QUERY_ARRAY({string_literal(doc)})) AS r"


class BigQueryStateStore(StoreReads):
    """The StateStore protocol (sync/state/base.py) on BigQuery, with a client of its own."""

    def __init__(self, config: SyncConfig, client: bigquery.Client | None = None):
        self.sync_name = config.name
        self._own_client = client is None
        self.client = client or make_client(config)
        self.project = config.state.project or config.source.project
        self.dataset = config.state.dataset or DEFAULT_STATE_DATASET
        self.location = config.state.location or config.source.location
        self.q = {name: table_name(self.project, self.dataset, name) for name in DDL}
        self._name = string_literal(self.sync_name)
        self.history = History(self.sync_name, self.q, self._rows, _literal)

    # --- statements ------------------------------------------------------------------------

    def _query(self, sql: str) -> Any:
        """Run one statement; a BigQuery error becomes one SourceError line naming the dataset."""
        with api_errors(f"state.dataset: {self.project}.{self.dataset}: "):
            return self.client.query_and_wait(sql, location=self.location)

    def _rows(self, sql: str) -> list[dict]:
        return [{k: naive_utc(v) for k, v in row.items()} for row in self._query(sql)]

    # --- tables ----------------------------------------------------------------------------

    def tables_exist(self) -> bool:
        from google.api_core.exceptions import NotFound
        with api_errors(f"state.dataset: {self.project}.{self.dataset}: "):
            try:
                names = {t.table_id for t in self.client.list_tables(f"{self.project}.{self.dataset}")}
            except NotFound:
                return False
        return set(DDL) <= names

    def ensure_tables(self) -> None:
        """Create the dataset and tables if missing (idempotent; `CREATE TABLE IF NOT EXISTS`)."""
        if self.tables_exist():
            return
        from google.cloud import bigquery
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            dataset.location = self.location
        with api_errors(f"state.dataset: cannot create {self.project}.{self.dataset}: "):
            self.client.create_dataset(dataset, exists_ok=True)
        for table, columns in DDL.items():
            cluster = f" CLUSTER BY {CLUSTERING[table]}" if table in CLUSTERING else ""
            self._query(f"CREATE TABLE IF NOT EXISTS {self.q[table]} ({columns}){cluster}")

    # --- lock ------------------------------------------------------------------------------

    def _lock_rows(self) -> list[dict]:
        return self._rows(f"SELECT {', '.join(LOCK_COLUMNS)} FROM {self.q[LOCKS]} WHERE sync_name = {self._name} "
                          "ORDER BY acquired_at, run_id")

    def acquire_lock(self, run_id: str, holder: str, now: dt.datetime, lease_seconds: int,
                     exclusive_os_lock: bool) -> dict | None:
        """Take the lease row: read it; MERGE it over to this run where it is still absent, expired
        or a dead holder's; read it back: every row of the sync must now be this run's."""
        rows = self._lock_rows()
        dead = []
        for current in rows:
            if not (exclusive_os_lock or lease_expired(current, now)):
                if holder_alive(current["holder"]) is not False:
                    raise lock_held_error(self.sync_name, current)
                dead.append(current)
        stale = rows[0] if rows else None
        expires = now + dt.timedelta(seconds=lease_seconds)
        values = (f"SELECT {self._name} AS sync_name, {string_literal(run_id)} AS run_id, "
                  f"{string_literal(holder)} AS holder, {timestamp_literal(now)} AS acquired_at, "
                  f"{timestamp_literal(now)} AS heartbeat_at, {timestamp_literal(expires)} AS expires_at")
        replaceable = [f"T.expires_at IS NULL OR T.expires_at < {timestamp_literal(now)}"]
        replaceable += [f"(T.run_id = {string_literal(d['run_id'])} AND T.expires_at = "
                        f"{timestamp_literal(d['expires_at'])})" for d in dead]
        if exclusive_os_lock:
            replaceable = ["TRUE"]
        self._query(
            f"MERGE {self.q[LOCKS]} AS T USING ({values}) AS S ON T.sync_name = S.sync_name "
            f"WHEN MATCHED AND ({' OR '.join(replaceable)}) THEN UPDATE SET run_id = S.run_id, "
            "holder = S.holder, acquired_at = S.acquired_at, heartbeat_at = S.heartbeat_at, expires_at = S.expires_at "
            "WHEN NOT MATCHED THEN INSERT (sync_name, run_id, holder, acquired_at, heartbeat_at, expires_at) "
            "VALUES (S.sync_name, S.run_id, S.holder, S.acquired_at, S.heartbeat_at, S.expires_at)")
        after = self._lock_rows()
        others = [r for r in after if r["run_id"] != run_id]
        if others:
            if len(others) < len(after):
                self.release_lock(run_id)   # two runs took it at once: both back off
            raise lock_held_error(self.sync_name, others[0])
        if not after:
            raise LockHeldError(f"the lock of sync '{self.sync_name}' changed while this run took it; "
                                "nothing was sent (run again)")
        return stale

    def heartbeat(self, run_id: str, now: dt.datetime, lease_seconds: int) -> None:
        self._query(
            f"MERGE {self.q[LOCKS]} AS T USING (SELECT {self._name} AS sync_name, {string_literal(run_id)} AS run_id) "
            "AS S ON T.sync_name = S.sync_name AND T.run_id = S.run_id WHEN MATCHED THEN UPDATE SET "
            f"heartbeat_at = {timestamp_literal(now)}, "
            f"expires_at = {timestamp_literal(now + dt.timedelta(seconds=lease_seconds))}")

    def release_lock(self, run_id: str) -> None:
        self._query(
            f"MERGE {self.q[LOCKS]} AS T USING (SELECT {self._name} AS sync_name, {string_literal(run_id)} AS run_id) "
            "AS S ON T.sync_name = S.sync_name AND T.run_id = S.run_id WHEN MATCHED THEN DELETE")

    # --- runs ------------------------------------------------------------------------------

    @staticmethod
    def _run_select(run: RunRecord) -> str:
        values = [string_literal(run.run_id), string_literal(run.sync_name), timestamp_literal(run.started_at),
                  timestamp_literal(run.ended_at), string_literal(run.status), bool_literal(run.dry_run),
                  bool_literal(run.full_refresh), int_literal(run.rows_read), int_literal(run.events_sent),
                  int_literal(run.batches_sent), string_literal(json.dumps(run.skipped, sort_keys=True)),
                  int_literal(run.failed), int_literal(run.dead_lettered), string_literal(json.dumps(run.fbtrace_ids)),
                  int_literal(run.watermark_before), int_literal(run.watermark_after), string_literal(run.error)]
        return "SELECT " + ", ".join(f"{v} AS {c}" for v, c in zip(values, RUN_COLUMNS))

    def start_run(self, run: RunRecord) -> None:
        self._query(f"INSERT INTO {self.q[RUNS]} ({', '.join(RUN_COLUMNS)}) {self._run_select(run)}")

    def finish_run(self, run: RunRecord) -> None:
        updates = ", ".join(f"{c} = S.{c}" for c in RUN_COLUMNS[1:])
        self._query(
            f"MERGE {self.q[RUNS]} AS T USING ({self._run_select(run)}) AS S ON T.run_id = S.run_id "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(RUN_COLUMNS)}) "
            f"VALUES ({', '.join('S.' + c for c in RUN_COLUMNS)})")
        match_keys = self.history.insert_match_keys(run)
        if match_keys:
            self._query(match_keys)

    def mark_abandoned(self, run_id: str, now: dt.datetime, reason: str) -> None:
        self._query(
            f"MERGE {self.q[RUNS]} AS T USING (SELECT {string_literal(run_id)} AS run_id) AS S "
            "ON T.run_id = S.run_id AND T.status = 'running' WHEN MATCHED THEN UPDATE SET status = 'abandoned', "
            f"ended_at = COALESCE(T.ended_at, {timestamp_literal(now)}), error = {string_literal(reason)}")

    # --- checkpoint ------------------------------------------------------------------------

    def checkpoint(self, run_id: str, cursor_column: str, checkpoint: Checkpoint, now: dt.datetime) -> None:
        """Ledger rows, resolutions, dead letters, then the watermark, one statement each (the ledger more
        past MAX_JSON_CHARS); no transaction: a failure leaves the watermark behind (docs/bigquery.md)."""
        name, run, at = self._name, string_literal(run_id), timestamp_literal(now)
        if checkpoint.sent_count:
            self._write_sent(checkpoint, run, at)
        if checkpoint.resolved_event_ids:
            for doc in json_chunks(sorted(set(checkpoint.resolved_event_ids))):
                self._query(
                    f"MERGE {self.q[DEAD_LETTERS]} AS T USING (SELECT DISTINCT JSON_VALUE(r) AS event_id "
                    f"FROM {_json_rows(doc)}) AS S ON T.sync_name = {name} AND T.resolved_at IS NULL "
                    f"AND T.event_id = S.event_id WHEN MATCHED THEN UPDATE SET resolved_at = {at}")
        if checkpoint.dead_letters:
            self._write_dead_letters(checkpoint.dead_letters, run, at)
        if checkpoint.watermark is not None:
            self._query(
                f"MERGE {self.q[WATERMARKS]} AS T USING (SELECT {name} AS sync_name, "
                f"{string_literal(cursor_column)} AS cursor_column, {int_literal(checkpoint.watermark)} AS watermark, "
                f"{run} AS run_id, {at} AS updated_at) AS S ON T.sync_name = S.sync_name "
                "WHEN MATCHED THEN UPDATE SET cursor_column = S.cursor_column, watermark = S.watermark, "
                "run_id = S.run_id, updated_at = S.updated_at "
                "WHEN NOT MATCHED THEN INSERT (sync_name, cursor_column, watermark, run_id, updated_at) "
                "VALUES (S.sync_name, S.cursor_column, S.watermark, S.run_id, S.updated_at)")

    def _write_sent(self, checkpoint: Checkpoint, run: str, at: str) -> None:
        # One [event_id, event_time, fbtrace_id] per event, the last one of an id kept.
        sent = checkpoint.sent_table()
        rows = {event_id: [event_id, event_time, trace] for event_id, event_time, trace in
                zip(*(sent.column(name).to_pylist() for name in ("event_id", "event_time", "fbtrace_id")))}
        select = ("SELECT JSON_VALUE(r, '$[0]') AS event_id, CAST(JSON_VALUE(r, '$[1]') AS INT64) AS event_time, "
                  "JSON_VALUE(r, '$[2]') AS fbtrace_id FROM {rows}")
        for doc in json_chunks(list(rows.values())):
            source = select.format(rows=_json_rows(doc))
            if checkpoint.replace_sent:
                # Full refresh / dead-letter retry: the id may be in the ledger already.
                self._query(
                    f"MERGE {self.q[SENT_EVENTS]} AS T USING ({source}) AS S ON T.sync_name = {self._name} "
                    f"AND T.event_id = S.event_id WHEN MATCHED THEN UPDATE SET event_time = S.event_time, "
                    f"run_id = {run}, fbtrace_id = S.fbtrace_id, sent_at = {at} "
                    "WHEN NOT MATCHED THEN INSERT (sync_name, event_id, event_time, run_id, fbtrace_id, sent_at) "
                    f"VALUES ({self._name}, S.event_id, S.event_time, {run}, S.fbtrace_id, {at})")
            else:
                self._query(f"INSERT INTO {self.q[SENT_EVENTS]} (sync_name, event_id, event_time, run_id, "
                            f"fbtrace_id, sent_at) SELECT {self._name}, event_id, event_time, {run}, fbtrace_id, "
                            f"{at} FROM ({source})")

    def _write_dead_letters(self, letters: list[dict], run: str, at: str) -> None:
        """At most one unresolved dead letter per event (rows without an event_id: per order_id):
        the old ones of these events are deleted (MERGE ... DELETE), then all are inserted."""
        rows = [[d.get(f) for f in DEAD_LETTER_FIELDS] for d in letters]
        keys = sorted({(r[0], None) if r[0] is not None else (None, r[1]) for r in rows},
                      key=lambda k: (k[0] or "", k[1] or ""))
        for doc in json_chunks([list(k) for k in keys]):
            self._query(
                f"MERGE {self.q[DEAD_LETTERS]} AS T USING (SELECT JSON_VALUE(r, '$[0]') AS event_id, "
                f"JSON_VALUE(r, '$[1]') AS order_id FROM {_json_rows(doc)}) AS S "
                f"ON T.sync_name = {self._name} AND T.resolved_at IS NULL AND ("
                "(S.event_id IS NOT NULL AND T.event_id = S.event_id) OR "
                "(S.event_id IS NULL AND T.event_id IS NULL AND T.order_id IS NOT DISTINCT FROM S.order_id)) "
                "WHEN MATCHED THEN DELETE")
        columns = ", ".join(f"JSON_VALUE(r, '$[{i}]')" if f not in ("event_time", "code", "error_subcode")
                            else f"CAST(JSON_VALUE(r, '$[{i}]') AS INT64)" for i, f in enumerate(DEAD_LETTER_FIELDS))
        for doc in json_chunks(rows):
            self._query(
                f"INSERT INTO {self.q[DEAD_LETTERS]} (sync_name, {', '.join(DEAD_LETTER_FIELDS)}, run_id, "
                f"recorded_at, resolved_at) SELECT {self._name}, {columns}, {run}, {at}, CAST(NULL AS TIMESTAMP) "
                f"FROM {_json_rows(doc)}")

    def prune_ledger(self, older_than: int) -> int:
        """Forget ledger entries with event_time < older_than (outside every future read)."""
        result = self._query(
            f"MERGE {self.q[SENT_EVENTS]} AS T USING (SELECT 1 AS one) AS S ON T.sync_name = {self._name} "
            f"AND T.event_time < {int_literal(older_than)} WHEN MATCHED THEN DELETE")
        return result.num_dml_affected_rows or 0

    def checkpoint_wal(self) -> str | None:
        return None   # BigQuery has no write-ahead log to checkpoint: every job is stored when it ends

    def close(self) -> None:
        if self._own_client:
            with contextlib.suppress(Exception):   # closing must never fail a run
                self.client.close()
