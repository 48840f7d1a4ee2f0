"""One sync run: open (lock, state, run record) -> plan -> read -> batch -> deliver -> commit -> close.
An event id enters the ledger only once the API accepted it (docs/reliability.md, "exactly once")."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections import Counter
from typing import Callable, Iterable, Iterator

from sync.config import SyncConfig
from sync.destination import ConversionsApiDestination, StoppedError
from sync.errors import EXIT_SIGINT, EXIT_SIGTERM, SyncError
from sync.events import DAY, ReadyChunk
from sync.graph_versions import version_warning
from sync.locking import FileLock, holder_id
from sync.read_ahead import ReadAhead
from sync.runner.batch import Batch, Batcher
from sync.runner.commit import LOCK_LEASE_SECONDS, GroupCommit
from sync.runner.deliver import Sender
from sync.runner.plan import READ_FLOOR_AGE, event_settings, plan_read, plan_retry
from sync.runner.read import read_event_ids, read_planned
from sync.runner.stop import StopRequest, stop_message
from sync.runner.summary import Progress, RunSummary
from sync.sources import Source, open_source
from sync.state import RunRecord, StateStore, open_state, utcnow
from sync.watermark import WatermarkTracker

log = logging.getLogger("capi_sync")

DRY_RUN_OUTPUT = "data/capi-sync-dry-run.jsonl"


def lock_file_path(duckdb_path: str) -> str:
    return f"{duckdb_path}.capi-sync.lock"


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
        self.run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.summary = RunSummary(self.run_id, config.name, dry_run=dry_run, full_refresh=full_refresh)
        self.stop = threading.Event()
        self._file_lock: FileLock | None = None
        self._source: Source | None = None
        self._state: StateStore | None = None
        self._record: RunRecord | None = None
        self._state_ready = False
        self._skipped: Counter = Counter()
        self._fbtrace_ids: list[str] = []
        self._error: SyncError | None = None
        self._retry_found: set[str] | None = None   # a dead-letter retry: the ids read
        self._commit = GroupCommit(config, None, self.run_id, self.summary, replace_sent=full_refresh)
        self._stop_request: StopRequest | None = None
        self._cancelled_batches = 0   # batches in flight cancelled at the stop's deadline
        self._now: int | None = None   # the run's clock (unix seconds), read once when reading starts

    # --- public entry points ---------------------------------------------------------------

    def run(self) -> RunSummary:
        """An incremental run (or a full refresh / dry run)."""
        return self._execute(self._run_body)

    def retry_dead_letters(self, event_ids: list[str] | None = None) -> RunSummary:
        """Re-read unresolved dead letters from the view and send them; resolve the accepted ones."""
        self.summary.command = "dead-letter retry"
        self._commit.pending.replace_sent = True
        return self._execute(lambda: self._retry_body(event_ids))

    def request_stop(self, reason: str = "a stop request", exit_code: int = EXIT_SIGTERM) -> None:
        """Stop gracefully (sync/runner/stop.py); safe from a signal handler or another thread."""
        if self._stop_request is None:
            self._stop_request = StopRequest(reason, exit_code,
                                             time.monotonic() + self.config.destination.timeout.stop)

    def _stop_requested(self) -> StopRequest | None:
        return self._stop_request

    # --- open and close --------------------------------------------------------------------

    def _execute(self, body) -> RunSummary:
        started = time.monotonic()
        try:
            self._open()
            body()
        except SyncError as exc:
            self._set_error(exc)
        except KeyboardInterrupt:   # Ctrl-C without the command's handler: stop now, keep what was accepted
            self._stop_request = StopRequest("SIGINT", EXIT_SIGINT, time.monotonic())
        except BaseException as exc:  # an internal error: still commit what the API accepted
            self._set_error(SyncError(f"internal error: {type(exc).__name__}: {exc}"))
            raise
        finally:
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
        version = version_warning(config.destination.api_version,
                                  dt.datetime.fromtimestamp(self.now(), dt.timezone.utc).date())
        if version:
            log.warning("%s", version)
        if config.source.type == "duckdb" and not self.dry_run:
            self._file_lock = FileLock(lock_file_path(config.source.path), f"sync '{config.name}'").acquire()
        self._source = open_source(config, read_only=self.dry_run)
        self._source.check_columns()
        self._state = state = open_state(config, self._source)
        if self.dry_run:
            self._state_ready = state.tables_exist()
        else:
            state.ensure_tables()
            self._state_ready = True
            self._take_lock(state)
        watermark = state.read_watermark() if self._state_ready else None
        self.summary.watermark_before = self.summary.watermark_after = watermark
        self._commit = GroupCommit(config, None if self.dry_run else state, self.run_id, self.summary,
                                   replace_sent=self._commit.pending.replace_sent, watermark=watermark)
        if not self.dry_run:
            self._record = RunRecord(self.run_id, config.name, utcnow(), dry_run=False,
                                     full_refresh=self.full_refresh, watermark_before=watermark,
                                     watermark_after=watermark)
            state.start_run(self._record)

    def _take_lock(self, state: StateStore) -> None:
        """The sync's lock row (a stale one is taken over); runs left `running` are abandoned."""
        now = utcnow()
        stale = state.acquire_lock(self.run_id, holder_id(), now, LOCK_LEASE_SECONDS,
                                   exclusive_os_lock=self._file_lock is not None)
        if stale is not None:
            log.warning("taking over a stale lock of sync '%s' from run %s (%s, last heartbeat %s UTC)",
                        self.config.name, stale["run_id"], stale["holder"], stale["heartbeat_at"])
            state.mark_abandoned(stale["run_id"], now, "the run died holding the lock")
        # We hold the lock: any other run still `running` died (maybe before it took the lock row).
        for other in state.last_runs(20):
            if other["status"] == "running" and other["run_id"] != self.run_id:
                state.mark_abandoned(other["run_id"], now, "the run died before it finished")

    def _close(self, started: float) -> None:
        """End the run: last commit, ledger pruning, WAL checkpoint, run record, lock, connections;
        `summary.seconds` runs from `started` to the last commit."""
        summary = self.summary
        summary.seconds = round(time.monotonic() - started, 3)   # a run without state to commit
        summary.skipped = dict(sorted(self._skipped.items()))
        self._set_status()
        try:
            if self._state is not None and not self.dry_run and self._state_ready:
                self._finish(self._state, started)
        finally:
            try:
                if self._state is not None:
                    self._state.close()
                if self._source is not None:
                    self._source.close()
            finally:
                self._commit.close()
                if self._file_lock is not None:
                    self._file_lock.release()
                self.progress.close()

    def _finish(self, state: StateStore, started: float) -> None:
        summary = self.summary
        try:
            self._commit.checkpoint(force=True)
            cutoff = self._prune_cutoff()
            if cutoff is not None:
                state.prune_ledger(cutoff)
        except SyncError as exc:
            # Reported in the summary like any error of the run; the events not recorded are
            # sent again by the next run, with the same event_id.
            self._set_error(exc)
            self._set_status()
        finally:
            summary.seconds = round(time.monotonic() - started, 3)
            if self._error is None:
                _checkpoint_wal(state)
            if self._record is not None:
                self._record_run(state, self._record)
            state.release_lock(self.run_id)

    def _set_status(self) -> None:
        """failed (an error), interrupted (a stop request), else succeeded (maybe alert, exit 7)."""
        summary, request, error = self.summary, self._stop_request, self._error
        if error is not None and (request is None or not isinstance(error, StoppedError)):
            summary.status = "failed"
        elif request is not None:
            summary.status, summary.exit_code = "interrupted", request.exit_code
            summary.error = stop_message(request, self._cancelled_batches, self.config.destination.timeout.stop)
        else:
            summary.status = "succeeded"
            if summary.command == "run":   # a scheduled run; a dead-letter retry shows what it resolved
                summary.check_rejected_share(self.config.destination.max_rejected_share)

    def _prune_cutoff(self) -> int | None:
        """Ledger entries with an event_time before this are outside every later read
        (docs/sync.md, "Pruning"); None: prune nothing."""
        if self.config.cursor.column != "event_time":
            return None if self._now is None else self._now - READ_FLOOR_AGE
        watermark = self.summary.watermark_after
        return None if watermark is None else watermark - self.config.cursor.lookback - DAY

    def _record_run(self, state: StateStore, record: RunRecord) -> None:
        record.ended_at = utcnow()
        record.status = self.summary.status
        for name in ("rows_read", "events_sent", "batches_sent", "failed", "dead_lettered", "watermark_after",
                     "error", "skipped"):
            setattr(record, name, getattr(self.summary, name))
        record.match_keys = dict(self.summary.match_keys)
        record.fbtrace_ids = self._fbtrace_ids[-1000:]
        state.finish_run(record)

    # --- the steps -------------------------------------------------------------------------

    def _run_body(self) -> None:
        watermark = self.summary.watermark_before
        self._commit.tracker = WatermarkTracker(watermark)
        self._now = int(self.now())
        plan = plan_read(self.config, watermark, self._now, full_refresh=self.full_refresh,
                         state_ready=self._state_ready)
        log.info("sync '%s' run %s: reading %s from %s=%s (watermark %s, lookback %ss)%s",
                 self.config.name, self.run_id, self._source.description, self.config.cursor.column,
                 plan.lower_bound if plan.lower_bound is not None else "the beginning", watermark,
                 self.config.cursor.lookback, " [dry run]" if self.dry_run else "")
        self._deliver(read_planned(self._source, plan, self._stop_requested), advance_watermark=True)

    def _retry_body(self, event_ids: list[str] | None) -> None:
        ids = plan_retry(self._state, event_ids)
        if not ids:
            return
        self._retry_found = set()
        self._now = int(self.now())
        settings = event_settings(self.config, self._now)
        self._deliver(read_event_ids(self._source, ids, settings, self._stop_requested), advance_watermark=False)
        self.summary.not_found = sorted(set(ids) - self._retry_found)
        if self.summary.not_found:
            log.warning("%d dead-lettered events are no longer in the view (left unresolved), e.g. %s",
                        len(self.summary.not_found), self.summary.not_found[0])

    def _batches(self, chunks: Iterable[ReadyChunk]) -> Iterator[Batch]:
        return Batcher(self.config.destination, self.summary, self._skipped, self._retry_found, now=self._now,
                       cursor_column=self.config.cursor.column).batches(chunks)

    def _deliver(self, chunks: ReadAhead[ReadyChunk], advance_watermark: bool) -> None:
        sender = Sender(self.config, self._commit, self.summary, self.progress, self.stop, self._set_error,
                        config_file=self.config_file, resolve=self._retry_found is not None,
                        fbtrace_ids=self._fbtrace_ids, stop_requested=self._stop_requested)
        try:
            if self.dry_run:
                sender.dry_run(self._batches(chunks), self.output or DRY_RUN_OUTPUT)
            else:
                sender.send(self._batches(chunks), self.destination_factory, advance_watermark)
        finally:
            self._cancelled_batches = sender.cancelled
            chunks.close()   # stop reading (the source's cursor is closed on its thread)


def _checkpoint_wal(state: StateStore) -> None:
    """The store's checkpoint of its write-ahead log after the run's last commit; never after a
    failure (a DuckDB commit that failed for memory can make CHECKPOINT fail fatally)."""
    reason = state.checkpoint_wal()
    if reason is not None:
        log.warning("state: the run's commits stay in DuckDB's write-ahead log, not yet in the file (%s); "
                    "nothing is lost: DuckDB writes them at close, or replays them when the file is next "
                    "opened", reason)
