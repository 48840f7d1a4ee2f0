"""Where a sync keeps its watermark, ledger of sent events, dead letters, run history and lock:
tables keyed by `sync_name`; each `checkpoint` the runner calls is one transaction."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from sync.errors import LockHeldError

WATERMARKS = "sync_watermarks"
SENT_EVENTS = "sent_events"
DEAD_LETTERS = "dead_letters"
RUNS = "sync_runs"
LOCKS = "sync_locks"
MATCH_KEY_COUNTS = "sent_match_keys"     # per run: how many sent events carried each match key
QUALITY = "dataset_quality"              # each answer of the Dataset Quality API (capi-sync quality)

if TYPE_CHECKING:
    from sync.state.history import History

LOCK_COLUMNS = ("run_id", "holder", "acquired_at", "heartbeat_at", "expires_at")
DEAD_LETTER_FIELDS = ("event_id", "order_id", "event_time", "stage", "reason", "message", "code",
                      "error_subcode", "fbtrace_id")


def table_columns(t: dict[str, str]) -> dict[str, str]:
    """The columns of the watermark, ledger, dead-letter, run and lock tables in a dialect
    (t: STRING, INT, INT32, BOOL, TIMESTAMP -> its type names)."""
    s, i, i32, b, ts = t["STRING"], t["INT"], t["INT32"], t["BOOL"], t["TIMESTAMP"]
    return {
        WATERMARKS: f"sync_name {s} NOT NULL, cursor_column {s}, watermark {i}, run_id {s}, updated_at {ts}",
        SENT_EVENTS: f"sync_name {s} NOT NULL, event_id {s} NOT NULL, event_time {i}, run_id {s}, "
                     f"fbtrace_id {s}, sent_at {ts}",
        DEAD_LETTERS: f"sync_name {s} NOT NULL, event_id {s}, order_id {s}, event_time {i}, stage {s}, "
                      f"reason {s}, message {s}, code {i32}, error_subcode {i32}, fbtrace_id {s}, run_id {s}, "
                      f"recorded_at {ts}, resolved_at {ts}",
        RUNS: f"run_id {s} NOT NULL, sync_name {s} NOT NULL, started_at {ts}, ended_at {ts}, status {s}, "
              f"dry_run {b}, full_refresh {b}, rows_read {i}, events_sent {i}, batches_sent {i}, skipped {s}, "
              f"failed {i}, dead_lettered {i}, fbtrace_ids {s}, watermark_before {i}, watermark_after {i}, "
              f"error {s}",
        LOCKS: f"sync_name {s} NOT NULL, run_id {s}, holder {s}, acquired_at {ts}, heartbeat_at {ts}, "
               f"expires_at {ts}",
    }


def lease_expired(lock: dict, now: dt.datetime) -> bool:
    """The lock row's lease has run out (or has no end)."""
    return lock["expires_at"] is None or lock["expires_at"] < now


def lock_held_error(sync_name: str, lock: dict) -> LockHeldError:
    """Another run holds the sync's lock row `lock`."""
    since = f" since {lock['acquired_at']:%Y-%m-%d %H:%M:%S} UTC" if lock.get("acquired_at") else ""
    return LockHeldError(f"another run of sync '{sync_name}' is in progress (run {lock['run_id']} "
                         f"held by {lock['holder']}{since}); nothing was sent")


def utcnow() -> dt.datetime:
    """Now, UTC, naive (the state tables store UTC TIMESTAMPs)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass
class RunRecord:
    """One row of `sync_runs`."""

    run_id: str
    sync_name: str
    started_at: dt.datetime
    dry_run: bool = False
    full_refresh: bool = False
    ended_at: dt.datetime | None = None
    status: str = "running"   # running | succeeded | failed | abandoned
    rows_read: int = 0
    events_sent: int = 0
    batches_sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    dead_lettered: int = 0
    fbtrace_ids: list[str] = field(default_factory=list)
    watermark_before: int | None = None
    watermark_after: int | None = None
    error: str | None = None
    match_keys: dict[str, int] = field(default_factory=dict)   # key -> sent events carrying it


SENT_SCHEMA = pa.schema([("event_id", pa.string()), ("event_time", pa.int64()), ("fbtrace_id", pa.string())])


@dataclass
class Checkpoint:
    """What one state transaction records. Ledger rows arrive as Arrow record batches (one
    per request the API accepted), never as a Python object per event."""

    sent: list[pa.RecordBatch] = field(default_factory=list)   # SENT_SCHEMA
    dead_letters: list[dict] = field(default_factory=list)   # keys: DEAD_LETTER_FIELDS
    resolved_event_ids: list[str] = field(default_factory=list)
    watermark: int | None = None
    replace_sent: bool = False   # full refresh / dead-letter retry: ids may already be in the ledger

    def add_sent(self, event_ids: pa.Array, event_times: pa.Array, fbtrace_id: str | None) -> None:
        """Events the API accepted in one request (one fbtrace_id for all), copied out of the
        read's chunk (a slice would keep its whole column until the commit; bench/findings.md)."""
        event_ids, event_times = pa.concat_arrays([event_ids]), pa.concat_arrays([event_times])
        traces = pa.nulls(len(event_ids), pa.string())
        if fbtrace_id is not None:
            traces = pc.fill_null(traces, fbtrace_id)
        self.sent.append(pa.RecordBatch.from_arrays([event_ids, event_times, traces], schema=SENT_SCHEMA))

    @classmethod
    def of_sent(cls, event_ids: list[str], event_times: list[int | None], fbtrace_ids: list[str | None],
                **fields) -> "Checkpoint":
        """A checkpoint of ledger rows given as Python lists (tests, tools)."""
        batch = pa.RecordBatch.from_arrays([pa.array(event_ids, pa.string()), pa.array(event_times, pa.int64()),
                                            pa.array(fbtrace_ids, pa.string())], schema=SENT_SCHEMA)
        return cls(sent=[batch], **fields)

    @property
    def sent_count(self) -> int:
        return sum(batch.num_rows for batch in self.sent)

    def sent_table(self) -> pa.Table:
        """The ledger rows: event_id, event_time, fbtrace_id."""
        return pa.Table.from_batches(self.sent, schema=SENT_SCHEMA).combine_chunks()

    def __bool__(self) -> bool:
        return bool(self.sent_count or self.dead_letters or self.resolved_event_ids)


class StateStore(Protocol):
    sync_name: str
    history: "History"   # the report's reads and the quality answers' writes (sync/state/history.py)

    def tables_exist(self) -> bool: ...
    def ensure_tables(self) -> None: ...
    def read_watermark(self) -> int | None: ...

    def acquire_lock(self, run_id: str, holder: str, now: dt.datetime, lease_seconds: int,
                     exclusive_os_lock: bool) -> dict | None:
        """Take the sync's lock row; return the stale row taken over (or None).
        Raise LockHeldError when a live holder has it."""

    def heartbeat(self, run_id: str, now: dt.datetime, lease_seconds: int) -> None: ...
    def release_lock(self, run_id: str) -> None: ...
    def start_run(self, run: RunRecord) -> None: ...
    def checkpoint(self, run_id: str, cursor_column: str, checkpoint: Checkpoint,
                   now: dt.datetime) -> None: ...
    def finish_run(self, run: RunRecord) -> None: ...
    def mark_abandoned(self, run_id: str, now: dt.datetime, reason: str) -> None: ...
    def prune_ledger(self, older_than: int) -> int: ...

    def checkpoint_wal(self) -> str | None:
        """At the end of a run: move the run's commits from DuckDB's write-ahead log into its file
        (None on BigQuery). None, or why it could not (nothing is lost: the log keeps them)."""

    def last_runs(self, limit: int = 10) -> list[dict]: ...
    def dead_letters(self, event_ids: list[str] | None = None, include_resolved: bool = False,
                     limit: int | None = None) -> list[dict]: ...
    def dead_letter_count(self) -> int: ...
    def record_quality(self, rows: list[dict]) -> None: ...
    def close(self) -> None: ...
