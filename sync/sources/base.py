"""What the runner needs from a warehouse source: ordered, streamed, columnar chunks.

A chunk is a dict column name -> Python list (all lists the same length, at most
chunk_size). Every chunk has the columns of `sync.events.REQUIRED_COLUMNS` (with `value`
as a float JSON number and `contents` as a list of {id, quantity, item_price} dicts),
plus `_cursor` (the cursor column's value) and `_copies` (how many rows of this read
carry the same event_id). Rows come ordered by (cursor, event_id), NULL cursors last.
"""
from __future__ import annotations

from typing import Iterator, Protocol

CURSOR_KEY = "_cursor"

Chunk = dict[str, list]


class Source(Protocol):
    description: str   # e.g. "analytics.offline_events in data/warehouse.duckdb", for messages

    def check_columns(self) -> None:
        """Raise SourceError naming the relation and column when a required column is missing."""

    def read(self, lower_bound: int | None, exclude_sent: bool) -> Iterator[Chunk]:
        """Rows with cursor >= lower_bound (all when None) or a NULL cursor; when exclude_sent,
        minus the event ids in this sync's ledger and its unresolved dead letters."""

    def read_event_ids(self, event_ids: list[str]) -> Iterator[Chunk]:
        """The rows with these event ids (for a dead-letter retry), same ordering."""

    def close(self) -> None: ...
