"""Read ahead: a source's chunks produced on a background thread, a bounded number ahead.

A run's source is pull-based: without this, the warehouse sits idle while the main thread
batches and hands out requests, and the main thread waits while the warehouse computes the
next page. DuckDB and the BigQuery client release the GIL while they work, so reading on
its own thread overlaps the two on separate cores. At most `depth` chunks wait in memory.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

_CHUNK, _END, _ERROR = range(3)


class ReadAhead(Generic[T]):
    """Iterate `chunks` (a generator) on a thread named capi-read, up to `depth` items ahead.
    An exception of the generator is raised by `__next__` where the item would have been;
    `close()` stops the thread and closes the generator there (its `finally` runs). When
    `stop_requested()` turns true while the consumer waits, iteration ends there (a graceful
    stop does not wait for the warehouse's next page)."""

    def __init__(self, chunks: Iterator[T], depth: int = 2, stop_requested: Callable[[], bool] | None = None):
        self._stop_requested = stop_requested
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._fill, args=(chunks,), name="capi-read", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, chunks: Iterator[T]) -> None:
        try:
            for chunk in chunks:
                if not self._put((_CHUNK, chunk)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_ERROR, exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> "ReadAhead[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, value = self._queue.get(timeout=None if self._stop_requested is None else 0.1)
                break
            except queue.Empty:
                if self._stop_requested():
                    self._done = True
                    raise StopIteration from None
        if kind == _CHUNK:
            return value
        self._done = True
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop reading; returns when the thread has closed the source's generator."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
