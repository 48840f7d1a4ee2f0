"""What the runner needs from a warehouse source: ordered, streamed, columnar chunks.

A chunk is a dict column name -> Python list (all lists the same length, at most
chunk_size). Every chunk has the columns of `sync.events.REQUIRED_COLUMNS` (with `value`
as a float JSON number and `contents` as a list of {id, quantity, item_price} dicts),
plus `_cursor` (the cursor column's value) and `_copies` (how many rows of this read
carry the same event_id). Rows come ordered by (cursor, event_id), NULL cursors last.

A source may also offer `read_ready(lower_bound, exclude_sent, settings)` and
`read_event_ids_ready(event_ids, settings)`, yielding `sync.events.ReadyChunk`s (rows already
checked, events already JSON-encoded, byte-identical to `build_events` + orjson); the runner
uses them when present (DuckDB) and builds the events itself otherwise (BigQuery).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol

from sync.errors import SourceError
from sync.events import REQUIRED_COLUMNS

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


def require_columns(relation: str, present: Iterable[str], cursor_column: str) -> None:
    """Raise SourceError naming the relation and the first required column it lacks."""
    present = set(present)
    for column in (*REQUIRED_COLUMNS, cursor_column):
        if column not in present:
            raise SourceError(f"source.relation: {relation} has no column {column!r} "
                              f"(has: {', '.join(sorted(present))})")


def require_integer_cursor(relation: str, column: str, type_name: str, integer_types: Iterable[str]) -> None:
    """Raise SourceError when the cursor column is not of an integer type (unix seconds)."""
    if type_name.upper() not in integer_types:
        raise SourceError(f"cursor.column: column {column!r} of {relation} is {type_name}; the cursor must be "
                          "an integer column of unix seconds, like event_time; nothing was sent")


def required_columns_sql(quote_identifier: Callable[[str], str], double_type: str, alias: str = "v") -> list[str]:
    """The select list of REQUIRED_COLUMNS from `alias`, `value` cast to `double_type` (so it
    arrives as a float, a JSON number); identifiers quoted in the warehouse's dialect."""
    value = quote_identifier("value")
    return [f"CAST({alias}.{value} AS {double_type}) AS {value}" if name == "value"
            else f"{alias}.{quote_identifier(name)}" for name in REQUIRED_COLUMNS]
