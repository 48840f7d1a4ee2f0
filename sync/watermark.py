"""The watermark moves only over the contiguous prefix of finished batches, in read order (they
finish out of order); a failed batch stops it for the rest of the run."""
from __future__ import annotations


class WatermarkTracker:
    def __init__(self, start: int | None):
        self._max_cursor: dict[int, int | None] = {}
        self._done: set[int] = set()
        self._next = 0          # first batch sequence number not yet in the finished prefix
        self._registered = 0
        self._failed = False
        self._watermark = start

    def register(self, max_cursor: int | None) -> int:
        """Record the next batch (in read order) and the highest cursor it covers; return its seq."""
        seq = self._registered
        self._registered += 1
        self._max_cursor[seq] = max_cursor
        return seq

    def finish(self, seq: int) -> None:
        """Mark a batch as fully handled (accepted or dead-lettered)."""
        self._done.add(seq)
        while not self._failed and self._next in self._done:
            cursor = self._max_cursor.pop(self._next)
            self._done.discard(self._next)
            if cursor is not None and (self._watermark is None or cursor > self._watermark):
                self._watermark = cursor
            self._next += 1

    def fail(self, seq: int) -> None:
        """A batch could not be finished: the watermark never passes it in this run."""
        if seq >= self._next:
            self._failed = True

    @property
    def watermark(self) -> int | None:
        return self._watermark

    @property
    def pending(self) -> int:
        return self._registered - self._next
