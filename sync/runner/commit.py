"""Commit: record what the API accepted (ledger rows, dead letters, the watermark) in ONE state
transaction per checkpoint, as group commits on a background thread (docs/reliability.md)."""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sync.config import SyncConfig
from sync.errors import SourceError, SyncError, first_line
from sync.runner.summary import RunSummary
from sync.state import Checkpoint, StateStore, utcnow
from sync.watermark import WatermarkTracker

log = logging.getLogger("capi_sync")

LOCK_LEASE_SECONDS = 15 * 60
HEARTBEAT_EVERY_SECONDS = 30
CHECKPOINT_EVERY_SECONDS = 5.0   # with checkpoint_every_batches > 1: commit at least this often


class GroupCommit:
    """The run's state writer. `checkpoint()` is called on the main thread after every batch;
    one commit runs at a time on its own thread, batches answered during it go into the next."""

    def __init__(self, config: SyncConfig, state: StateStore | None, run_id: str, summary: RunSummary,
                 replace_sent: bool, watermark: int | None = None):
        self.config = config
        self.state = state                 # None: nothing is written (a dry run)
        self.run_id = run_id
        self.summary = summary
        self.pending = Checkpoint(replace_sent=replace_sent)
        self.tracker = WatermarkTracker(None)
        self.committed_watermark = watermark
        self._pending_batches = 0          # batches answered since the last hand-off to the writer
        self._committing_batches = 0       # batches in the commit now running
        self._commit: Future | None = None
        self._commit_checkpoint: Checkpoint | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_checkpoint = self._last_heartbeat = time.monotonic()

    @property
    def window_batches(self) -> int:
        """Most batches ever between submission and commit: the crash re-send window."""
        return 2 * self.config.destination.concurrency + self.config.checkpoint_every_batches

    @property
    def uncommitted_batches(self) -> int:
        return self._pending_batches + self._committing_batches

    def queue_dead_letters(self, letters: list[dict]) -> None:
        if letters:
            self.pending.dead_letters.extend(letters)
            self.summary.dead_lettered += len(letters)

    def answered(self) -> None:
        """One more batch was answered by the API (accepted, rejected or failed)."""
        self._pending_batches += 1

    def checkpoint(self, force: bool = False, hand_off: bool = False) -> None:
        """Give what the API accepted to the state writer once it is free; `hand_off`: wait for it
        and start the next even if not due; `force`: write on this thread, durable on return."""
        if self.state is None:
            return
        if self._commit is not None:
            if not (force or hand_off or self._commit.done()):
                return
            self._finish_commit()
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY_SECONDS:
            self.state.heartbeat(self.run_id, utcnow(), LOCK_LEASE_SECONDS)
            self._last_heartbeat = now
        due = (force or hand_off or self._pending_batches >= self.config.checkpoint_every_batches
               or now - self._last_checkpoint >= CHECKPOINT_EVERY_SECONDS)
        watermark = self.tracker.watermark
        advanced = watermark is not None and watermark != self.committed_watermark
        if not (self.pending or advanced):
            self._pending_batches = 0   # nothing of theirs to record
            return
        if due:
            self._start(watermark if advanced else None, now, force)

    def _start(self, watermark: int | None, now: float, force: bool) -> None:
        checkpoint = self.pending
        checkpoint.watermark = watermark
        self.pending = Checkpoint(replace_sent=checkpoint.replace_sent)
        self._committing_batches += self._pending_batches
        self._pending_batches = 0
        self._last_checkpoint = now
        if force:
            self._write(checkpoint)
            self._committed(checkpoint)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capi-commit")
        self._commit_checkpoint = checkpoint
        self._commit = self._pool.submit(self._write, checkpoint)

    def _write(self, checkpoint: Checkpoint) -> None:
        """One state transaction: ledger rows, dead letters, resolutions, watermark."""
        log.debug("checkpoint: writing %d sent events, %d dead letters, watermark %s",
                  checkpoint.sent_count, len(checkpoint.dead_letters), checkpoint.watermark)
        try:
            self.state.checkpoint(self.run_id, self.config.cursor.column, checkpoint, utcnow())
        except Exception as exc:
            # Not recorded: those events are re-sent by the next run (same event_id).
            message = f"state: could not record a checkpoint of {checkpoint.sent_count} sent events: {first_line(exc)}"
            # a SyncError keeps its kind (and exit code): e.g. DuckDB out of its memory_limit
            raise (type(exc)(message) if type(exc) in (SyncError, SourceError) else SyncError(message)) from None
        log.debug("checkpoint: committed %d sent events", checkpoint.sent_count)

    def _finish_commit(self) -> None:
        future, checkpoint = self._commit, self._commit_checkpoint
        self._commit = self._commit_checkpoint = None
        self._committing_batches = 0
        future.result()   # raises the SyncError of _write
        self._committed(checkpoint)

    def _committed(self, checkpoint: Checkpoint) -> None:
        self._committing_batches = 0
        if checkpoint.watermark is not None:
            self.committed_watermark = checkpoint.watermark
            self.summary.watermark_after = checkpoint.watermark

    def close(self) -> None:
        """Wait for the running commit's thread to end (its outcome was taken or is abandoned)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
