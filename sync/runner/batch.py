"""Batch: the read's events, in read order, in requests of at most `batch_size` events and
`max_request_bytes` of body, each with its rows' dead letters and highest cursor (docs/sync.md)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.config import DestinationConfig
from sync.cursor_check import invalid_cursor_rows, watermark_cursors
from sync.destination import body_tail, request_body
from sync.events import ReadyChunk, value_offsets
from sync.runner.summary import RunSummary

# Not pa.array([]): an array from a Python list makes pyarrow check for pandas.
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


class OpenBatch:
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
        bits = [chunk.key_bits[start:stop] for chunk, start, stop in self.parts]
        return Batch(encoded=column("encoded", _EMPTY_BINARY), event_ids=column("event_ids", _EMPTY_STRING),
                     event_times=column("event_times", _EMPTY_INT64), order_ids=column("order_ids", _EMPTY_STRING),
                     dead_letters=self.dead_letters, max_cursor=self.max_cursor,
                     key_bits=np.concatenate(bits) if bits else np.zeros(0, np.uint16))


class Batcher:
    """Cuts ReadyChunks into Batches: runs of sendable rows with numpy on the Arrow offsets (the
    batches of adding one event at a time), skipped and too-large rows one at a time."""

    def __init__(self, destination: DestinationConfig, summary: RunSummary, skipped: Counter,
                 seen_ids: set[str] | None = None, *, now: int | None = None, cursor_column: str = "event_time"):
        self.size, self.max_bytes = destination.batch_size, destination.max_request_bytes
        self.empty_bytes = len(request_body([], body_tail(destination)))   # {"data":[]} and the tail
        self.summary = summary            # counts rows_read
        self.skipped = skipped            # skip reason -> rows
        self.seen_ids = seen_ids          # a dead-letter retry collects the ids it read
        self.now = now                    # the run's clock: cursor values after it never move the watermark
        self.cursor_column = cursor_column
        self.batch = OpenBatch(self.empty_bytes)

    def batches(self, chunks: Iterable[ReadyChunk]) -> Iterator[Batch]:
        for chunk in chunks:
            self.summary.rows_read += len(chunk)
            if len(chunk):
                yield from self._chunk(chunk)
        if self.batch.count or self.batch.dead_letters:
            yield self._close()

    def _close(self) -> Batch:
        closed, self.batch = self.batch.close(), OpenBatch(self.empty_bytes)
        return closed

    def _chunk(self, chunk: ReadyChunk) -> Iterator[Batch]:
        n = len(chunk)
        if self.seen_ids is not None:
            self.seen_ids.update(chunk.event_ids.to_pylist())
        lengths = np.diff(value_offsets(chunk.encoded)).astype(np.int64)   # 0 for NULL
        if self.now is not None:   # a cursor no run could have reached: skipped (the event's own reason first)
            for row, skip in invalid_cursor_rows(chunk.cursors, self.now, self.cursor_column).items():
                chunk.skips.setdefault(row, skip)
        cursors, last_cursor_row = _cursor_positions(chunk.cursors, self.now)
        skipped_rows = sorted(chunk.skips)
        next_skip, i = 0, 0
        while i < n:
            while next_skip < len(skipped_rows) and skipped_rows[next_skip] < i:
                next_skip += 1
            run_end = skipped_rows[next_skip] if next_skip < len(skipped_rows) else n
            j = self._take_run(chunk, lengths, i, run_end) if run_end > i else i
            if j > i:
                row = last_cursor_row[j - 1]
                if row >= i:
                    self.batch.max_cursor = int(cursors[row])
                i = j
            else:   # a skipped row, or the event that does not fit the open batch
                yield from self._one_row(chunk, lengths, i)
                if last_cursor_row[i] == i:
                    self.batch.max_cursor = int(cursors[i])
                i += 1
            if self.batch.count == self.size:
                yield self._close()

    def _take_run(self, chunk: ReadyChunk, lengths: np.ndarray, i: int, run_end: int) -> int:
        """Append the longest prefix of the sendable rows [i, run_end) that fits the open batch;
        return the row after it (i when none fits)."""
        batch = self.batch
        j = min(run_end, i + self.size - batch.count)
        # bytes after each event (its bytes and a comma; the first of an empty batch has none)
        ends = np.cumsum(lengths[i:j] + 1)
        first_without_comma = 0 if batch.count else 1
        j = i + int(np.searchsorted(ends, self.max_bytes - batch.bytes + first_without_comma, side="right"))
        if j > i:
            batch.bytes += int(ends[j - i - 1]) - first_without_comma
            batch.add(chunk, i, j)
        return j

    def _one_row(self, chunk: ReadyChunk, lengths: np.ndarray, i: int) -> Iterator[Batch]:
        if i in chunk.skips:
            reason, message = chunk.skips[i]
            self._dead_letter(chunk, i, reason, message)
            return
        length = int(lengths[i])
        grown = self.batch.bytes + length + (1 if self.batch.count else 0)
        if grown > self.max_bytes and self.empty_bytes + length > self.max_bytes:
            self._dead_letter(chunk, i, "event_too_large",
                              f"the event alone makes a request body of {self.empty_bytes + length} bytes, more "
                              f"than destination.max_request_bytes ({self.max_bytes}); it was not sent")
            return
        if grown > self.max_bytes:
            yield self._close()
            grown = self.empty_bytes + length
        self.batch.add(chunk, i, i + 1)
        self.batch.bytes = grown

    def _dead_letter(self, chunk: ReadyChunk, row: int, reason: str, message: str) -> None:
        """A row the sync will not send: a skip with its reason and a `check` dead letter."""
        self.skipped[reason] += 1
        self.batch.dead_letters.append({
            "event_id": chunk.event_ids[row].as_py(), "order_id": chunk.order_ids[row].as_py(),
            "event_time": chunk.event_times[row].as_py(), "stage": "check", "reason": reason, "message": message})


def _cursor_positions(cursors: pa.Array, now: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(cursor values, per row the last row at or before it whose cursor may move the watermark
    or -1): not NULL and, given the run's clock `now`, 0 <= cursor <= now (sync/cursor_check.py)."""
    rows = np.arange(len(cursors))
    if now is not None:
        values, valid = watermark_cursors(cursors, now)
    elif cursors.null_count == 0:
        return cursors.to_numpy(), rows
    else:
        values, valid = pc.fill_null(cursors, 0).to_numpy(), cursors.is_valid().to_numpy(zero_copy_only=False)
    if valid.all():
        return values, rows
    return values, np.maximum.accumulate(np.where(valid, rows, -1))
