"""One sync run: lock -> run record -> watermark -> stream chunks -> build/check -> batches ->
send (several in flight) -> commit ledger + watermark after acceptance -> run record.

Exactly once: an event id enters the ledger only after the API accepted it
(`events_received` equal to what was sent), in the same transaction as the watermark; the
next run re-reads `lookback` behind the watermark and skips ids in the ledger. Commits are
group commits on a background thread: once `checkpoint_every_batches` batches were answered
(or 5 s passed) and the previous commit has finished, the next one records every batch
answered meanwhile. A crash between acceptance and commit re-sends only those events (at
most `window_batches` batches), with the same event_id, which the API deduplicates.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.config import SyncConfig
from sync.destination import (ConversionsApiDestination, Delivery, DestinationError, StoppedError, body_tail,
                              request_body)
from sync.errors import EXIT_OK, SourceError, SyncError, first_line
from sync.events import DAY, MAX_AGE_PHYSICAL_STORE, EventSettings, ReadyChunk, ready_chunk, value_offsets
from sync.locking import FileLock, holder_id
from sync.match_keys import MATCH_KEYS, count_keys, key_bits
from sync.read_ahead import ReadAhead
from sync.retry import RetryBudget
from sync.sources import CURSOR_KEY, Chunk, Source, open_source
from sync.state import Checkpoint, RunRecord, StateStore, open_state, utcnow
from sync.watermark import WatermarkTracker

log = logging.getLogger("capi_sync")

LOCK_LEASE_SECONDS = 15 * 60
HEARTBEAT_EVERY_SECONDS = 30
CHECKPOINT_EVERY_SECONDS = 5.0   # with checkpoint_every_batches > 1: commit at least this often
# Rows older than this are outside every action source's window: never read them.
READ_FLOOR_AGE = MAX_AGE_PHYSICAL_STORE + DAY


@dataclass
class RunSummary:
    """What a run did; printed for humans and as JSON (`--json`)."""

    run_id: str
    sync_name: str
    command: str = "run"
    status: str = "running"
    dry_run: bool = False
    full_refresh: bool = False
    rows_read: int = 0
    events_sent: int = 0
    events_written: int = 0        # dry run: events written to the output file
    batches_sent: int = 0
    requests: int = 0
    retries: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected_by_api: int = 0
    dead_lettered: int = 0
    failed: int = 0
    resolved: int = 0              # dead-letter retry: dead letters now delivered
    match_keys: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MATCH_KEYS, 0))   # sent events carrying each
    not_found: list[str] = field(default_factory=list)
    watermark_before: int | None = None
    watermark_after: int | None = None
    output: str | None = None
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = EXIT_OK

    def to_dict(self) -> dict:
        return asdict(self)


# Not pa.array([]): an array from a Python list makes pyarrow import pandas (to check for a
# DataFrame) at import time, before `capi-sync` refuses it (sync/runtime_tuning.py).
_EMPTY_BINARY = pa.nulls(0, pa.binary())
_EMPTY_STRING = pa.nulls(0, pa.string())
_EMPTY_INT64 = pa.nulls(0, pa.int64())


@dataclass
class Batch:
    """Events to send in one request: their JSON bytes and, per event, what the ledger needs,
    as Arrow arrays (slices of the read's chunks, joined when a batch spans several)."""

    seq: int = -1
    encoded: pa.Array = field(default_factory=lambda: _EMPTY_BINARY)
    event_ids: pa.Array = field(default_factory=lambda: _EMPTY_STRING)
    event_times: pa.Array = field(default_factory=lambda: _EMPTY_INT64)
    order_ids: pa.Array = field(default_factory=lambda: _EMPTY_STRING)
    dead_letters: list[dict] = field(default_factory=list)
    max_cursor: int | None = None
    key_bits: np.ndarray | None = None   # per event, the match keys it carries (sync.match_keys)

    def __len__(self) -> int:
        return len(self.encoded)


class _OpenBatch:
    """The batch being filled: row ranges of chunks (no copy until it is closed)."""

    def __init__(self, empty_bytes: int):
        self.parts: list[tuple[ReadyChunk, int, int]] = []
        self.count = 0
        self.bytes = empty_bytes
        self.dead_letters: list[dict] = []
        self.max_cursor: int | None = None

    def add(self, chunk: ReadyChunk, start: int, stop: int) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and last[0] is chunk and last[2] == start:
            self.parts[-1] = (chunk, last[1], stop)
        else:
            self.parts.append((chunk, start, stop))
        self.count += stop - start

    def close(self) -> Batch:
        def column(name: str, empty: pa.Array) -> pa.Array:
            pieces = [getattr(chunk, name).slice(start, stop - start) for chunk, start, stop in self.parts]
            if not pieces:
                return empty
            return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
        return Batch(encoded=column("encoded", _EMPTY_BINARY), event_ids=column("event_ids", _EMPTY_STRING),
                     event_times=column("event_times", _EMPTY_INT64), order_ids=column("order_ids", _EMPTY_STRING),
                     dead_letters=self.dead_letters, max_cursor=self.max_cursor)


def new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def lock_file_path(duckdb_path: str) -> str:
    return f"{duckdb_path}.capi-sync.lock"


def _create_private(path: str):
    """Open `path` for writing, readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


class Progress:
    """Progress callbacks; the CLI plugs in a tqdm bar or log lines."""

    def start(self, summary: RunSummary) -> None: ...
    def update(self, summary: RunSummary, events: int) -> None: ...
    def close(self) -> None: ...


class SyncRun:
    """Runs one sync (or a dead-letter retry) for a config. Use `run()` / `retry_dead_letters()`."""

    def __init__(self, config: SyncConfig, *, dry_run: bool = False, output: str | None = None,
                 full_refresh: bool = False, config_file: str = "config", now: Callable[[], float] = time.time,
                 progress: Progress | None = None, destination_factory=None):
        self.config = config
        self.dry_run = dry_run
        self.output = output
        self.full_refresh = full_refresh
        self.config_file = config_file
        self.now = now
        self.progress = progress or Progress()
        self.destination_factory = destination_factory or ConversionsApiDestination
        self.run_id = new_run_id()
        self.summary = RunSummary(self.run_id, config.name, dry_run=dry_run, full_refresh=full_refresh)
        self.stop = threading.Event()
        self._file_lock: FileLock | None = None
        self._source: Source | None = None
        self._state: StateStore | None = None
        self._record: RunRecord | None = None
        self._pending = Checkpoint(replace_sent=full_refresh)
        self._pending_batches = 0          # batches answered since the last hand-off to the writer
        self._committing_batches = 0       # batches in the commit now running
        self._commit: Future | None = None
        self._commit_checkpoint: Checkpoint | None = None
        self._commit_pool: ThreadPoolExecutor | None = None
        self._last_checkpoint = time.monotonic()
        self._last_heartbeat = time.monotonic()
        self._committed_watermark: int | None = None
        self._skipped: Counter = Counter()
        self._fbtrace_ids: list[str] = []
        self._error: SyncError | None = None
        self._retry_ids: set[str] | None = None
        self._retry_found: set[str] = set()
        self._state_ready = False
        self._tracker = WatermarkTracker(None)

    # --- public entry points ---------------------------------------------------------------

    def run(self) -> RunSummary:
        """An incremental run (or a full refresh / dry run)."""
        return self._execute(self._run_body)

    def retry_dead_letters(self, event_ids: list[str] | None = None) -> RunSummary:
        """Re-read unresolved dead letters from the view and send them; resolve the accepted ones."""
        self.summary.command = "dead-letter retry"
        self._pending.replace_sent = True
        return self._execute(lambda: self._retry_body(event_ids))

    # --- lifecycle ---------------------------------------------------------------------------

    def _execute(self, body) -> RunSummary:
        started = time.monotonic()
        try:
            self._open()
            body()
        except SyncError as exc:
            self._set_error(exc)
        except KeyboardInterrupt:
            self._set_error(SyncError("interrupted"))
            self.summary.exit_code = 130
        except BaseException as exc:  # an internal error: still commit what the API accepted
            self._set_error(SyncError(f"internal error: {type(exc).__name__}: {exc}"))
            self._close(started)
            raise
        self._close(started)
        return self.summary

    def _set_error(self, exc: SyncError) -> None:
        if self._error is None or isinstance(self._error, StoppedError):
            self._error = exc
            self.summary.error = str(exc)
            self.summary.exit_code = exc.exit_code
        self.stop.set()

    def _open(self) -> None:
        config = self.config
        if config.source.type == "duckdb" and not self.dry_run:
            self._file_lock = FileLock(lock_file_path(config.source.path), f"sync '{config.name}'").acquire()
        self._source = open_source(config, read_only=self.dry_run)
        self._source.check_columns()
        self._state = open_state(config, self._source)
        state = self._state
        if self.dry_run:
            self._state_ready = state.tables_exist()
        else:
            state.ensure_tables()
            self._state_ready = True
            now = utcnow()
            stale = state.acquire_lock(self.run_id, holder_id(), now, LOCK_LEASE_SECONDS,
                                       exclusive_os_lock=self._file_lock is not None)
            if stale is not None:
                log.warning("taking over a stale lock of sync '%s' from run %s (%s, last heartbeat %s UTC)",
                            config.name, stale["run_id"], stale["holder"], stale["heartbeat_at"])
                state.mark_abandoned(stale["run_id"], now, "the run died holding the lock")
            # We hold the lock: any other run still `running` died (maybe before it took the lock row).
            for other in state.last_runs(20):
                if other["status"] == "running" and other["run_id"] != self.run_id:
                    state.mark_abandoned(other["run_id"], now, "the run died before it finished")
        watermark = state.read_watermark() if self._state_ready else None
        self._committed_watermark = watermark
        self.summary.watermark_before = self.summary.watermark_after = watermark
        if not self.dry_run:
            self._record = RunRecord(self.run_id, config.name, utcnow(), dry_run=False,
                                     full_refresh=self.full_refresh, watermark_before=watermark,
                                     watermark_after=watermark)
            state.start_run(self._record)

    def _close(self, started: float) -> None:
        """End the run: the last commit and the ledger's pruning, then the store's checkpoint of
        its write-ahead log, the run's record, the lock, the connections. `summary.seconds` runs
        from `started` (before the source was opened) to the last commit: the run's events are
        recorded by then (on DuckDB in its write-ahead log, which survives a crash)."""
        summary = self.summary
        summary.seconds = round(time.monotonic() - started, 3)   # a run without state to commit
        summary.skipped = dict(sorted(self._skipped.items()))
        summary.status = "failed" if self._error is not None else "succeeded"
        state = self._state
        try:
            if state is not None and not self.dry_run and self._state_ready:
                try:
                    self._checkpoint(force=True)
                    if summary.watermark_after is not None:
                        state.prune_ledger(summary.watermark_after - self.config.cursor.lookback - DAY)
                except SyncError as exc:
                    # Reported in the summary (with --json too) like any error of the run; the
                    # events not recorded are sent again by the next run, with the same event_id.
                    self._set_error(exc)
                    summary.status = "failed"
                finally:
                    summary.seconds = round(time.monotonic() - started, 3)
                    if self._error is None:
                        self._checkpoint_wal(state)
                    if self._record is not None:
                        record = self._record
                        record.ended_at = utcnow()
                        record.status = summary.status
                        for name in ("rows_read", "events_sent", "batches_sent", "failed", "dead_lettered",
                                     "watermark_after", "error"):
                            setattr(record, name, getattr(summary, name))
                        record.skipped = summary.skipped
                        record.match_keys = dict(summary.match_keys)
                        record.fbtrace_ids = self._fbtrace_ids[-1000:]
                        state.finish_run(record)
                    state.release_lock(self.run_id)
        finally:
            try:
                if state is not None:
                    state.close()
                if self._source is not None:
                    self._source.close()
            finally:
                if self._commit_pool is not None:
                    self._commit_pool.shutdown(wait=True)
                if self._file_lock is not None:
                    self._file_lock.release()
                self.progress.close()

    @staticmethod
    def _checkpoint_wal(state: StateStore) -> None:
        """The store's checkpoint of its write-ahead log, once the run's last commit is in it.
        Not after a failure: a DuckDB commit that failed for memory can leave the database's
        memory inconsistent, and CHECKPOINT would then fail fatally; the commits are in the log
        all the same (DuckDB checkpoints at close, or replays the log at the next open)."""
        reason = state.checkpoint_wal()
        if reason is not None:
            log.warning("state: the run's commits stay in DuckDB's write-ahead log, not yet in the file (%s); "
                        "nothing is lost: DuckDB writes them at close, or replays them when the file is next "
                        "opened", reason)

    # --- state -------------------------------------------------------------------------------

    @property
    def window_batches(self) -> int:
        """Most batches ever between submission and commit: the crash re-send window."""
        return 2 * self.config.destination.concurrency + self.config.checkpoint_every_batches

    @property
    def _uncommitted_batches(self) -> int:
        return self._pending_batches + self._committing_batches

    def _checkpoint(self, force: bool = False, hand_off: bool = False) -> None:
        """Group commit: give what the API accepted to the state writer as soon as it is free.

        One commit runs at a time on a background thread, so reading and sending go on
        meanwhile; batches answered during a commit go into the next one. `hand_off`
        waits for the running commit and starts the next one even if not yet due;
        `force` also writes on this thread and returns when it is durable (end of run).
        """
        if self.dry_run or self._state is None:
            return
        if self._commit is not None:
            if not (force or hand_off or self._commit.done()):
                return
            self._finish_commit()
        now_mono = time.monotonic()
        if now_mono - self._last_heartbeat >= HEARTBEAT_EVERY_SECONDS:
            self._state.heartbeat(self.run_id, utcnow(), LOCK_LEASE_SECONDS)
            self._last_heartbeat = now_mono
        due = (force or hand_off or self._pending_batches >= self.config.checkpoint_every_batches
               or now_mono - self._last_checkpoint >= CHECKPOINT_EVERY_SECONDS)
        watermark = self._tracker.watermark
        advanced = watermark is not None and watermark != self._committed_watermark
        if not (self._pending or advanced):
            self._pending_batches = 0   # nothing of theirs to record
            return
        if not due:
            return
        checkpoint = self._pending
        checkpoint.watermark = watermark if advanced else None
        self._pending = Checkpoint(replace_sent=checkpoint.replace_sent)
        self._committing_batches += self._pending_batches
        self._pending_batches = 0
        self._last_checkpoint = now_mono
        if force:
            self._write(checkpoint)
            self._committed(checkpoint)
            return
        if self._commit_pool is None:
            self._commit_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capi-commit")
        self._commit_checkpoint = checkpoint
        self._commit = self._commit_pool.submit(self._write, checkpoint)

    def _write(self, checkpoint: Checkpoint) -> None:
        """One state transaction: ledger rows, dead letters, resolutions, watermark."""
        log.debug("checkpoint: writing %d sent events, %d dead letters, watermark %s",
                  checkpoint.sent_count, len(checkpoint.dead_letters), checkpoint.watermark)
        try:
            self._state.checkpoint(self.run_id, self.config.cursor.column, checkpoint, utcnow())
        except Exception as exc:
            # Not recorded: those events are re-sent by the next run (same event_id).
            message = f"state: could not record a checkpoint of {checkpoint.sent_count} sent events: {first_line(exc)}"
            # a SyncError keeps its kind (and exit code): e.g. DuckDB out of its memory_limit
            raise (type(exc)(message) if type(exc) in (SyncError, SourceError) else SyncError(message)) from None
        log.debug("checkpoint: committed %d sent events", checkpoint.sent_count)

    def _finish_commit(self) -> None:
        future, checkpoint = self._commit, self._commit_checkpoint
        self._commit = self._commit_checkpoint = None
        try:
            future.result()
        except Exception:
            self._committing_batches = 0
            raise   # a SyncError from _write
        self._committed(checkpoint)

    def _committed(self, checkpoint: Checkpoint) -> None:
        self._committing_batches = 0
        if checkpoint.watermark is not None:
            self._committed_watermark = checkpoint.watermark
            self.summary.watermark_after = checkpoint.watermark

    def _bound_window(self, in_flight: dict) -> None:
        """Before the next submission: keep in-flight + uncommitted batches under the window."""
        limit = self.window_batches
        while len(in_flight) + self._uncommitted_batches >= limit:
            if self._uncommitted_batches:
                self._checkpoint(hand_off=True)   # waits for the running commit, starts the next
            else:
                self._collect(in_flight, block=True)
                self._checkpoint()

    # --- the run -----------------------------------------------------------------------------

    def _lower_bound(self, watermark: int | None, now: int) -> int | None:
        lower = None
        if watermark is not None and not self.full_refresh:
            lower = watermark - self.config.cursor.lookback
        if self.config.cursor.column == "event_time":
            floor = now - READ_FLOOR_AGE
            lower = floor if lower is None else max(lower, floor)
        return lower

    def _settings(self, now: int) -> EventSettings:
        dpo = self.config.destination.data_processing_options
        if dpo is None:
            return EventSettings(now=now)
        return EventSettings(now=now, data_processing_options=list(dpo.options),
                             data_processing_options_country=dpo.country,
                             data_processing_options_state=dpo.state)

    def _run_body(self) -> None:
        now = int(self.now())
        watermark = self.summary.watermark_before
        self._tracker = WatermarkTracker(watermark)
        lower = self._lower_bound(watermark, now)
        exclude = self._state_ready and not self.full_refresh
        log.info("sync '%s' run %s: reading %s from %s=%s (watermark %s, lookback %ss)%s",
                 self.config.name, self.run_id, self._source.description, self.config.cursor.column,
                 lower if lower is not None else "the beginning", watermark, self.config.cursor.lookback,
                 " [dry run]" if self.dry_run else "")
        settings = self._settings(now)
        if hasattr(self._source, "read_ready"):   # DuckDB: events written in SQL
            chunks = self._source.read_ready(lower, exclude, settings)
        else:
            chunks = _ready_chunks(self._source.read(lower, exclude_sent=exclude), settings)
        self._pipeline(ReadAhead(chunks))

    def _retry_body(self, event_ids: list[str] | None) -> None:
        now = int(self.now())
        self._tracker = WatermarkTracker(None)
        letters = self._state.dead_letters(event_ids=event_ids)
        ids = sorted({d["event_id"] for d in letters if d["event_id"]})
        if event_ids:
            unknown = sorted(set(event_ids) - set(ids))
            if unknown:
                log.warning("no unresolved dead letter for %d of the given event ids (e.g. %s)",
                            len(unknown), unknown[0])
        if not ids:
            log.info("no unresolved dead letters to retry")
            return
        self._retry_ids = set(ids)
        settings = self._settings(now)
        if hasattr(self._source, "read_event_ids_ready"):
            chunks = self._source.read_event_ids_ready(ids, settings)
        else:
            chunks = _ready_chunks(self._source.read_event_ids(ids), settings)
        self._pipeline(ReadAhead(chunks), advance_watermark=False)
        found = self._retry_found
        self.summary.not_found = sorted(set(ids) - found)
        if self.summary.not_found:
            log.warning("%d dead-lettered events are no longer in the view (left unresolved), e.g. %s",
                        len(self.summary.not_found), self.summary.not_found[0])

    def _batches(self, chunks: Iterable[ReadyChunk]) -> Iterator[Batch]:
        """Group the read's rows into batches in read order: at most batch_size events, and
        a request body of at most max_request_bytes (a batch closes early when the next event
        would not fit; an event too large to be sent even alone is dead-lettered,
        `event_too_large`). Events arrive JSON-encoded (`ReadyChunk`), once.

        Each batch also carries the check-stage dead letters and the highest cursor of
        the rows it covers, so the watermark passes skipped rows with their batch. Runs of
        sendable rows are measured and cut with numpy on the Arrow offsets; only skipped
        and too-large rows are handled one at a time.
        """
        destination = self.config.destination
        size, max_bytes = destination.batch_size, destination.max_request_bytes
        empty_bytes = len(request_body([], body_tail(destination)))   # {"data":[]} and the tail
        batch = _OpenBatch(empty_bytes)
        retry_found = self._retry_found
        for chunk in chunks:
            n = len(chunk)
            self.summary.rows_read += n
            if n == 0:
                continue
            if self._retry_ids is not None:
                retry_found.update(chunk.event_ids.to_pylist())
            lengths = _value_lengths(chunk.encoded)
            cursors, last_cursor_row = _cursor_positions(chunk.cursors)
            skips = chunk.skips
            skipped_rows = sorted(skips)
            next_skip = 0
            i = 0
            while i < n:
                # A run of sendable rows: as many as fit in the open batch, appended at once
                # (the same batches as one event at a time: sizes only grow).
                while next_skip < len(skipped_rows) and skipped_rows[next_skip] < i:
                    next_skip += 1
                run_end = skipped_rows[next_skip] if next_skip < len(skipped_rows) else n
                if run_end > i:
                    j = min(run_end, i + size - batch.count)
                    # bytes after each event of the run (its bytes and a comma; the first
                    # event of an empty batch has no comma): take the longest prefix that fits
                    ends = np.cumsum(lengths[i:j] + 1)
                    first_without_comma = 0 if batch.count else 1
                    j = i + int(np.searchsorted(ends, max_bytes - batch.bytes + first_without_comma, side="right"))
                    if j > i:
                        batch.bytes += int(ends[j - i - 1]) - first_without_comma
                        batch.add(chunk, i, j)
                        row = last_cursor_row[j - 1]
                        if row >= i:
                            batch.max_cursor = int(cursors[row])
                        i = j
                        if batch.count == size:
                            yield batch.close()
                            batch = _OpenBatch(empty_bytes)
                        continue
                # One row at a time: a skipped row, or the event that does not fit.
                if i in skips:
                    reason, message = skips[i]
                    self._dead_letter_check(batch, chunk, i, reason, message)
                else:
                    length = int(lengths[i])
                    # one more event: its bytes plus a comma when the batch already has one
                    grown = batch.bytes + length + (1 if batch.count else 0)
                    if grown > max_bytes and empty_bytes + length > max_bytes:
                        self._dead_letter_check(
                            batch, chunk, i, "event_too_large",
                            f"the event alone makes a request body of {empty_bytes + length} bytes, more "
                            f"than destination.max_request_bytes ({max_bytes}); it was not sent")
                    else:
                        if grown > max_bytes:
                            yield batch.close()
                            batch = _OpenBatch(empty_bytes)
                            grown = empty_bytes + length
                        batch.add(chunk, i, i + 1)
                        batch.bytes = grown
                if last_cursor_row[i] == i:
                    batch.max_cursor = int(cursors[i])
                if batch.count == size:
                    yield batch.close()
                    batch = _OpenBatch(empty_bytes)
                i += 1
        if batch.count or batch.dead_letters:
            yield batch.close()

    def _dead_letter_check(self, batch: _OpenBatch, chunk: ReadyChunk, row: int, reason: str, message: str) -> None:
        """A row the sync will not send: a skip with its reason and a `check` dead letter."""
        self._skipped[reason] += 1
        batch.dead_letters.append({"event_id": chunk.event_ids[row].as_py(), "order_id": chunk.order_ids[row].as_py(),
                                   "event_time": chunk.event_times[row].as_py(), "stage": "check",
                                   "reason": reason, "message": message})

    def _pipeline(self, chunks: ReadAhead[ReadyChunk], advance_watermark: bool = True) -> None:
        try:
            self._send(chunks, advance_watermark)
        finally:
            chunks.close()   # stop reading (the source's cursor is closed on its thread)

    def _send(self, chunks: Iterable[ReadyChunk], advance_watermark: bool) -> None:
        config = self.config
        tracker = self._tracker
        batches = self._batches(chunks)
        if self.dry_run:
            self._dry_run(batches)
            return
        destination = self.destination_factory(config.destination, budget=RetryBudget(config.destination.retry.budget_seconds),
                                               stop=self.stop)
        concurrency = config.destination.concurrency
        max_in_flight = 2 * concurrency
        in_flight: dict[Future, Batch] = {}
        self.progress.start(self.summary)
        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="capi-send") as pool:
                try:
                    for batch in batches:
                        batch.seq = tracker.register(batch.max_cursor if advance_watermark else None)
                        self._queue_dead_letters(batch.dead_letters)
                        if not len(batch):
                            tracker.finish(batch.seq)
                            continue
                        in_flight[pool.submit(_deliver, destination, batch)] = batch
                        self._collect(in_flight, block=len(in_flight) >= max_in_flight)
                        self._checkpoint()
                        if self.stop.is_set():
                            break
                        self._bound_window(in_flight)
                finally:
                    batches.close()
                    while in_flight:
                        self._collect(in_flight, block=True)
                        self._checkpoint()
        finally:
            destination.close()

    def _collect(self, in_flight: dict[Future, Batch], block: bool) -> None:
        done, _ = wait(list(in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            batch = in_flight.pop(future)
            self._handle(batch, future.result())

    def _queue_dead_letters(self, letters: list[dict]) -> None:
        if letters:
            self._pending.dead_letters.extend(letters)
            self.summary.dead_lettered += len(letters)

    def _handle(self, batch: Batch, delivery: Delivery) -> None:
        """Main thread: record what the API accepted and rejected for one batch."""
        summary = self.summary
        ids, times = batch.event_ids, batch.event_times
        pending = self._pending
        accepted = delivery.accepted_count
        match_keys = summary.match_keys
        for start, stop, trace in delivery.accepted:
            for key, count in zip(MATCH_KEYS, count_keys(batch.key_bits[start:stop])):
                match_keys[key] += count
            accepted_ids = ids.slice(start, stop - start)
            pending.add_sent(accepted_ids, times.slice(start, stop - start), trace)
            if self._retry_ids is not None:
                pending.resolved_event_ids.extend(accepted_ids.to_pylist())
        if self._retry_ids is not None:
            summary.resolved += accepted
        letters = []
        for index, error in delivery.rejected:
            letters.append({"event_id": ids[index].as_py(), "order_id": batch.order_ids[index].as_py(),
                            "event_time": times[index].as_py(), "stage": "api", "reason": "invalid_event",
                            "message": error.message, "code": error.code, "error_subcode": error.subcode,
                            "fbtrace_id": error.fbtrace_id})
        self._queue_dead_letters(letters)
        summary.rejected_by_api += len(letters)
        summary.events_sent += accepted
        summary.requests += delivery.requests
        summary.retries += delivery.retries
        self._fbtrace_ids.extend(delivery.fbtrace_ids)
        self._pending_batches += 1
        if delivery.error is None:
            summary.batches_sent += 1
            self._tracker.finish(batch.seq)
            if letters:
                log.warning("batch %d: the API rejected %d of %d events (dead-lettered): %s",
                            batch.seq, len(letters), len(ids), letters[0]["message"])
        else:
            self._tracker.fail(batch.seq)
            summary.failed += len(ids) - accepted - len(letters)
            if not isinstance(delivery.error, StoppedError):
                error = delivery.error
                if isinstance(error, DestinationError):
                    error = type(error)(error.error, f"{self.config_file}: {error}", error.exhausted)
                self._set_error(error)
        self.progress.update(summary, accepted)

    def _dry_run(self, batches: Iterator[Batch]) -> None:
        path = self.output or "data/capi-sync-dry-run.jsonl"
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.summary.output = path
        # Bodies exactly as they would be sent; the token is never part of a body.
        tail = body_tail(self.config.destination)
        self.progress.start(self.summary)
        with _create_private(path) as out:
            for batch in batches:
                self._queue_dead_letters(batch.dead_letters)
                if len(batch):
                    out.write(request_body(batch.encoded, tail) + b"\n")
                    self.summary.events_written += len(batch)
                    self.summary.batches_sent += 1
                    self.progress.update(self.summary, len(batch))


def _deliver(destination, batch: Batch) -> Delivery:
    """A sender thread: which match keys each event carries (numpy, mostly outside the GIL),
    then the batch's delivery."""
    batch.key_bits = key_bits(batch.encoded)
    return destination.deliver(batch.encoded)


def _value_lengths(encoded: pa.Array) -> np.ndarray:
    """Byte length of each value of a binary array (0 for NULL), as int64, from its offsets."""
    return np.diff(value_offsets(encoded)).astype(np.int64)


def _cursor_positions(cursors: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(cursor values with NULL as 0, and for each row the last row at or before it whose
    cursor is not NULL, -1 when none)."""
    rows = np.arange(len(cursors))
    if cursors.null_count == 0:
        return cursors.to_numpy(), rows
    valid = cursors.is_valid().to_numpy(zero_copy_only=False)
    values = pc.fill_null(cursors, 0).to_numpy()
    return values, np.maximum.accumulate(np.where(valid, rows, -1))


def _ready_chunks(chunks: Iterable[Chunk], settings: EventSettings) -> Iterator[ReadyChunk]:
    """A source's columnar chunks through the reference path (`build_events` + orjson)."""
    seen_duplicates: set[str] = set()
    for chunk in chunks:
        yield ready_chunk(chunk, settings, seen_duplicates, CURSOR_KEY)
