"""What the run needs from a warehouse source: pages of ready-to-send events.

A source yields `sync.events.ReadyChunk`s in (cursor, event_id) order, NULL cursors last, at
most chunk_size rows each: per row its event_id, order_id, event_time and cursor (what the
ledger and the watermark need) and either the event's JSON bytes, written by the warehouse
(sync/sources/ready.py joins its parts), or a skip with its reason (sync/contract.py).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol

from sync.contract import ACTION_SOURCES, MAX_FUTURE_SKEW, SKIP_REASONS, oldest_allowed
from sync.errors import SourceError
from sync.events import REQUIRED_COLUMNS, EventSettings, ReadyChunk
from sync.identifiers import sql_literal

CURSOR_KEY = "_cursor"

Chunk = dict[str, list]


class Source(Protocol):
    description: str   # e.g. "analytics.offline_events in data/warehouse.duckdb", for messages

    def check_columns(self) -> None:
        """Raise SourceError naming the relation and column when a required column is missing."""

    def read_ready(self, lower_bound: int | None, exclude_sent: bool, settings: EventSettings) -> Iterator[ReadyChunk]:
        """Rows with cursor >= lower_bound (all when None) or a NULL cursor; when exclude_sent,
        minus the event ids in this sync's ledger and its unresolved dead letters."""

    def read_event_ids_ready(self, event_ids: list[str], settings: EventSettings) -> Iterator[ReadyChunk]:
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


def row_checks(settings: EventSettings, c: dict[str, str], user_data: str, contents: str) -> list[tuple[str, str]]:
    """(skip reason, the SQL condition a row must meet) of the contract's checks in their order,
    but for duplicates and the 64-hex check of the user_data values (made on the read's Arrow
    arrays); `user_data` and `contents` are the conditions that the row has an identifier and
    contents (c: column name -> its SQL). Also BigQuery's SQL."""
    now = int(settings.now)
    sources = ", ".join(sql_literal(s) for s in sorted(ACTION_SOURCES))
    conditions = {
        "missing_event_id": f"coalesce({c['event_id']}, '') <> ''",
        "missing_event_name": f"coalesce({c['event_name']}, '') <> ''",
        "invalid_action_source": f"{c['action_source']} IN ({sources})",
        "missing_event_time": f"{c['event_time']} IS NOT NULL",
        "event_time_in_future": f"{c['event_time']} <= {now + MAX_FUTURE_SKEW}",
        "event_time_too_old": f"{c['event_time']} >= CASE WHEN {c['action_source']} = 'physical_store' "
                              f"THEN {oldest_allowed(now, 'physical_store')} ELSE {oldest_allowed(now, None)} END",
        "no_customer_identifier": user_data,
        "missing_currency": f"coalesce({c['currency']}, '') <> ''",
        "missing_value": f"{c['value']} IS NOT NULL",
        "non_positive_value": f"{c['value']} > 0",
        "empty_contents": contents,
    }
    return [(reason, conditions[reason]) for reason in SKIP_REASONS if reason in conditions]


def check_reasons() -> list[str]:
    """The skip reasons the SQL decides, in order."""
    return [reason for reason, _ in row_checks(EventSettings(now=0), dict.fromkeys(REQUIRED_COLUMNS, "x"), "u", "c")]
