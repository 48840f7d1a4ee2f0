"""Deliver: send the batches, several in flight, and give each answer (accepted ranges, `api`
dead letters) to the group commit; retry/split/stop is decided by sync/graph_errors.py."""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator

from sync.config import SyncConfig
from sync.destination import Delivery, DestinationError, StoppedError, body_tail, request_body
from sync.errors import SyncError
from sync.match_keys import MATCH_KEYS, count_keys
from sync.retry import RetryBudget
from sync.runner.batch import Batch
from sync.runner.commit import GroupCommit
from sync.runner.stop import StopRequest
from sync.runner.summary import Progress, RunSummary

log = logging.getLogger("capi_sync")


class Sender:
    """Sends one run's batches and hands what the API answered to the `GroupCommit`."""

    def __init__(self, config: SyncConfig, commit: GroupCommit, summary: RunSummary, progress: Progress,
                 stop: threading.Event, set_error: Callable[[SyncError], None], *, config_file: str,
                 resolve: bool, fbtrace_ids: list[str], stop_requested: Callable[[], StopRequest | None] = lambda: None):
        self.config = config
        self.commit = commit
        self.summary = summary
        self.progress = progress
        self.stop = stop
        self.set_error = set_error
        self.config_file = config_file
        self.resolve = resolve             # a dead-letter retry: accepted events resolve their dead letters
        self.fbtrace_ids = fbtrace_ids
        self.stop_requested = stop_requested   # a graceful stop (sync/runner/stop.py)
        self.cancelled = 0                     # batches in flight cancelled at the stop's deadline

    def send(self, batches: Iterator[Batch], destination_factory, advance_watermark: bool) -> None:
        config = self.config.destination
        tracker = self.commit.tracker
        destination = destination_factory(config, budget=RetryBudget(config.retry.budget_seconds), stop=self.stop)
        in_flight: dict[Future, Batch] = {}
        self.progress.start(self.summary)
        pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="capi-send")
        abandoned = False
        try:
            try:
                for batch in batches:
                    if self.stop_requested() is not None:
                        break   # no new batch: the rows not sent are read again by the next run
                    batch.seq = tracker.register(batch.max_cursor if advance_watermark else None)
                    self.commit.queue_dead_letters(batch.dead_letters)
                    if not len(batch):
                        tracker.finish(batch.seq)
                        continue
                    in_flight[pool.submit(destination.deliver, batch.encoded)] = batch
                    self._collect(in_flight, block=len(in_flight) >= 2 * config.concurrency)
                    if self.stop.is_set():
                        break
                    self._bound_window(in_flight)
            except KeyboardInterrupt:   # no handler installed (a library caller): stop at once
                abandoned = self._abandon(in_flight)
                raise
            finally:
                batches.close()
                abandoned = abandoned or self._drain(in_flight)
        finally:
            # Abandoned requests are not waited for: their threads end with their request
            # (they retry nothing, `stop` is set) and their answers are not recorded.
            pool.shutdown(wait=not abandoned, cancel_futures=True)
            destination.close()

    def _drain(self, in_flight: dict[Future, Batch]) -> bool:
        """Collect the batches in flight; on a stop request, cancel those not yet started and,
        at its deadline, abandon the rest (True when some were abandoned)."""
        while in_flight:
            request = self.stop_requested()
            if request is not None:
                for future in [f for f in in_flight if f.cancel()]:   # submitted, never sent
                    self.commit.tracker.fail(in_flight.pop(future).seq)
                if time.monotonic() >= request.deadline:
                    return self._abandon(in_flight)
            self._collect(in_flight, block=True)
        return False

    def _abandon(self, in_flight: dict[Future, Batch]) -> bool:
        """Give up on the batches in flight: the watermark stops before them, their events are
        not recorded (the next run sends them again, with the same event_id)."""
        self.stop.set()
        for future, batch in in_flight.items():
            self.commit.tracker.fail(batch.seq)
            if not future.cancel():
                self.cancelled += 1
                self.summary.failed += len(batch)
        in_flight.clear()
        return self.cancelled > 0

    def _past_deadline(self) -> bool:
        request = self.stop_requested()
        return request is not None and time.monotonic() >= request.deadline

    def _bound_window(self, in_flight: dict) -> None:
        """Before the next submission: keep in-flight + uncommitted batches under the window."""
        limit = self.commit.window_batches
        while len(in_flight) + self.commit.uncommitted_batches >= limit and self.stop_requested() is None:
            if self.commit.uncommitted_batches:
                self.commit.checkpoint(hand_off=True)   # waits for the running commit, starts the next
            else:
                self._collect(in_flight, block=True)

    def _collect(self, in_flight: dict[Future, Batch], block: bool) -> None:
        """Handle the answered batches, then checkpoint; `block`: wait for one (in steps, so a
        stop's deadline is noticed)."""
        while True:
            done, _ = wait(list(in_flight), timeout=0.1 if block else 0, return_when=FIRST_COMPLETED)
            if done or not block or not in_flight or self._past_deadline():
                break
        for future in done:
            batch = in_flight.pop(future)
            self._handle(batch, future.result())
        self.commit.checkpoint()

    def _handle(self, batch: Batch, delivery: Delivery) -> None:
        """Main thread: record what the API accepted and rejected for one batch."""
        summary, pending = self.summary, self.commit.pending
        ids, times = batch.event_ids, batch.event_times
        for start, stop, trace in delivery.accepted:
            for key, count in zip(MATCH_KEYS, count_keys(batch.key_bits[start:stop])):
                summary.match_keys[key] += count
            accepted_ids = ids.slice(start, stop - start)
            pending.add_sent(accepted_ids, times.slice(start, stop - start), trace)
            if self.resolve:
                pending.resolved_event_ids.extend(accepted_ids.to_pylist())
        accepted = delivery.accepted_count
        if self.resolve:
            summary.resolved += accepted
        letters = [{"event_id": ids[index].as_py(), "order_id": batch.order_ids[index].as_py(),
                    "event_time": times[index].as_py(), "stage": "api", "reason": "invalid_event",
                    "message": error.message, "code": error.code, "error_subcode": error.subcode,
                    "fbtrace_id": error.fbtrace_id} for index, error in delivery.rejected]
        self.commit.queue_dead_letters(letters)
        summary.rejected_by_api += len(letters)
        summary.events_sent += accepted
        summary.requests += delivery.requests
        summary.retries += delivery.retries
        self.fbtrace_ids.extend(delivery.fbtrace_ids)
        self.commit.answered()
        if delivery.error is None:
            summary.batches_sent += 1
            self.commit.tracker.finish(batch.seq)
            if letters:
                log.warning("batch %d: the API rejected %d of %d events (dead-lettered): %s",
                            batch.seq, len(letters), len(ids), letters[0]["message"])
        else:
            self.commit.tracker.fail(batch.seq)
            summary.failed += len(ids) - accepted - len(letters)
            if not isinstance(delivery.error, StoppedError):
                error = delivery.error
                if isinstance(error, DestinationError):
                    error = type(error)(error.error, f"{self.config_file}: {error}", error.exhausted)
                self.set_error(error)
        self.progress.update(summary, accepted)

    def dry_run(self, batches: Iterable[Batch], path: str) -> None:
        """Write the request bodies exactly as they would be sent, one per line, to `path`
        (mode 0600); the token is never part of a body."""
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.summary.output = path
        tail = body_tail(self.config.destination)
        self.progress.start(self.summary)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)   # owner only, also a file that existed (os.open sets the mode of a new one)
        with os.fdopen(fd, "wb") as out:
            for batch in batches:
                if self.stop_requested() is not None:
                    break
                self.commit.queue_dead_letters(batch.dead_letters)
                if len(batch):
                    out.write(request_body(batch.encoded, tail) + b"\n")
                    self.summary.events_written += len(batch)
                    self.summary.batches_sent += 1
                    self.progress.update(self.summary, len(batch))

