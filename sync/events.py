"""Turn a columnar chunk of `offline_events` rows into Conversions API events, checking each first.

One invalid event makes the API reject a whole request, so every event is checked here
and a failing row is skipped with a named reason (it becomes a dead letter, stage `check`)
instead of being sent. Events are plain dicts; no per-event classes on this hot path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

# Columns the sync reads from the view, in the view's order (store_id is not sent).
EVENT_COLUMNS = ("event_id", "event_name", "event_time", "action_source", "order_id", "currency",
                 "value", "num_items", "contents")
USER_DATA_COLUMNS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")
ARRAY_USER_KEYS = frozenset(("em", "ph", "external_id"))
REQUIRED_COLUMNS = EVENT_COLUMNS + USER_DATA_COLUMNS
# Extra column every source adds: how many rows of this read carry the same event_id.
COPIES_COLUMN = "_copies"

ACTION_SOURCES = frozenset(("email", "website", "app", "phone_call", "chat", "physical_store",
                            "system_generated", "business_messaging", "other"))
DAY = 86_400
MAX_AGE_PHYSICAL_STORE = 62 * DAY
MAX_AGE_OTHER = 7 * DAY
# Events are checked a while before they are sent: refuse them this much early.
EVENT_TIME_SAFETY_MARGIN = 3_600
MAX_FUTURE_SKEW = 60
# An event_time this large is surely not unix seconds (year 5138): the skip says so.
MILLISECONDS_FROM = 100_000_000_000

hash_match = re.compile(r"[0-9a-f]{64}\Z").match

# Skip reasons, in the order they are checked (the first failing one is recorded).
SKIP_REASONS = (
    "missing_event_id", "duplicate_event_id", "missing_event_name", "invalid_action_source",
    "missing_event_time", "event_time_in_future", "event_time_too_old", "invalid_hash",
    "no_customer_identifier", "missing_currency", "missing_value", "non_positive_value",
    "empty_contents",
)


@dataclass(frozen=True)
class EventSettings:
    """Per-run inputs to event building that do not come from the row."""

    now: int
    data_processing_options: list[str] | None = None
    data_processing_options_country: int = 0
    data_processing_options_state: int = 0


@dataclass
class BuiltChunk:
    """The outcome of one chunk, row by row in read order.

    events[i] is the event for row i, or None when row i was skipped;
    skips holds (row index, reason, message) for the skipped rows.
    """

    events: list[dict | None]
    skips: list[tuple[int, str, str]] = field(default_factory=list)


def oldest_allowed(now: int, action_source: str | None) -> int:
    """The oldest event_time the sync still sends for this action source."""
    max_age = MAX_AGE_PHYSICAL_STORE if action_source == "physical_store" else MAX_AGE_OTHER
    return now - max_age + EVENT_TIME_SAFETY_MARGIN


def invalid_hash_message(key: str) -> str:
    return f"user_data {key} is not a lowercase hex SHA-256; raw personal data is never sent"


def _bad_hash_rows(chunk: dict[str, list]) -> dict[int, str]:
    """Row index -> first user_data key whose value is not 64 lowercase hex."""
    bad: dict[int, str] = {}
    for key in USER_DATA_COLUMNS:
        column = chunk[key]
        values = [v for v in column if v is not None]
        if all(map(hash_match, values)):
            continue
        for i, v in enumerate(column):
            if v is not None and i not in bad and not (isinstance(v, str) and hash_match(v)):
                bad[i] = key
    return bad


def build_events(chunk: dict[str, list], settings: EventSettings,
                 seen_duplicates: set[str] | None = None) -> BuiltChunk:
    """Build and check the events of one columnar chunk (column name -> list of values).

    `seen_duplicates` remembers, across chunks of one read, the ids of rows whose
    event_id occurs more than once (COPIES_COLUMN > 1): the first is sent, later ones skipped.
    """
    if seen_duplicates is None:
        seen_duplicates = set()
    now = settings.now
    newest = now + MAX_FUTURE_SKEW
    oldest_store = oldest_allowed(now, "physical_store")
    oldest_other = oldest_allowed(now, None)
    ldu = settings.data_processing_options
    bad_hash = _bad_hash_rows(chunk)
    n = len(chunk["event_id"])
    copies = chunk.get(COPIES_COLUMN) or [1] * n
    user_columns = [(key, chunk[key], key in ARRAY_USER_KEYS) for key in USER_DATA_COLUMNS]
    events: list[dict | None] = [None] * n
    skips: list[tuple[int, str, str]] = []
    rows = zip(chunk["event_id"], chunk["event_name"], chunk["event_time"], chunk["action_source"],
               chunk["order_id"], chunk["currency"], chunk["value"], chunk["num_items"],
               chunk["contents"], copies)
    for i, (event_id, name, event_time, source, order_id, currency, value, num_items, contents,
            n_copies) in enumerate(rows):
        if not event_id:
            skips.append((i, "missing_event_id", "event_id is empty"))
            continue
        if n_copies is not None and n_copies > 1:
            if event_id in seen_duplicates:
                skips.append((i, "duplicate_event_id",
                              f"event_id occurs {n_copies} times in this read; the first was kept"))
                continue
            seen_duplicates.add(event_id)
        if not name:
            skips.append((i, "missing_event_name", "event_name is empty"))
            continue
        if source not in ACTION_SOURCES:
            skips.append((i, "invalid_action_source", f"action_source {source!r} is not one the API accepts"))
            continue
        if event_time is None:
            skips.append((i, "missing_event_time", "event_time is NULL"))
            continue
        if event_time > newest:
            unit = " (milliseconds? event_time is unix seconds)" if event_time >= MILLISECONDS_FROM else ""
            skips.append((i, "event_time_in_future",
                          f"event_time {event_time} is {event_time - now} s in the future{unit}"))
            continue
        if event_time < (oldest_store if source == "physical_store" else oldest_other):
            limit = 62 if source == "physical_store" else 7
            skips.append((i, "event_time_too_old",
                          f"event_time {event_time} is older than the API accepts for "
                          f"{source} ({limit} days)"))
            continue
        if i in bad_hash:
            skips.append((i, "invalid_hash", invalid_hash_message(bad_hash[i])))
            continue
        user_data: dict[str, Any] = {}
        for key, column, as_array in user_columns:
            v = column[i]
            if v is not None:
                user_data[key] = [v] if as_array else v
        if not user_data:
            skips.append((i, "no_customer_identifier", "no user_data value to match a customer"))
            continue
        if not currency:
            skips.append((i, "missing_currency", "currency is NULL (not a 3-letter ISO 4217 code)"))
            continue
        if value is None:
            skips.append((i, "missing_value", "value is NULL"))
            continue
        if value <= 0:
            skips.append((i, "non_positive_value", f"value {value} is not positive"))
            continue
        if not contents:
            skips.append((i, "empty_contents", "contents is empty"))
            continue
        custom_data: dict[str, Any] = {"currency": currency, "value": value, "contents": contents}
        if order_id is not None:
            custom_data["order_id"] = order_id
        if num_items is not None:
            custom_data["num_items"] = num_items
        event = {"event_name": name, "event_time": event_time, "event_id": event_id,
                 "action_source": source, "user_data": user_data, "custom_data": custom_data}
        if ldu is not None:
            event["data_processing_options"] = ldu
            event["data_processing_options_country"] = settings.data_processing_options_country
            event["data_processing_options_state"] = settings.data_processing_options_state
        events[i] = event
    return BuiltChunk(events, skips)


@dataclass
class ReadyChunk:
    """One chunk's rows ready to batch, in read order, as Arrow arrays (the runner batches,
    sends and records them without a Python object per event): per row its event_id,
    order_id, event_time and cursor, and either the event's JSON bytes (`encoded`, binary)
    or a skip (skips[i] = (reason, message), encoded[i] NULL). Python lists are accepted
    and converted."""

    event_ids: pa.Array
    order_ids: pa.Array
    event_times: pa.Array
    cursors: pa.Array
    encoded: pa.Array
    skips: dict[int, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.event_ids = _arrow(self.event_ids, pa.string())
        self.order_ids = _arrow(self.order_ids, pa.string())
        self.event_times = _arrow(self.event_times, pa.int64())
        self.cursors = _arrow(self.cursors, pa.int64())
        self.encoded = _arrow(self.encoded, pa.binary())
        if self.encoded.null_count != len(self.skips):
            raise ValueError(f"ReadyChunk: {self.encoded.null_count} rows without bytes but {len(self.skips)} skips "
                             "(every row is either an event or a skip)")

    def __len__(self) -> int:
        return len(self.event_ids)


def value_offsets(values: pa.Array) -> np.ndarray:
    """The int32 offsets of a binary or string Arrow array, read in place: len(values) + 1 of
    them, from the array's own offset (a slice's first value starts at offsets[0])."""
    return np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)


def _arrow(values, type_: pa.DataType) -> pa.Array:
    """`values` (a list or an Arrow array) as an Arrow array of `type_`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        return pa.array(values, type_)
    return values if values.type == type_ else values.cast(type_)


def ready_chunk(chunk: dict[str, list], settings: EventSettings, seen_duplicates: set[str],
                cursor_key: str = "_cursor") -> ReadyChunk:
    """The reference path: `build_events` and orjson per event (the BigQuery source uses it;
    the DuckDB source writes the same bytes in SQL and falls back to this for unusual rows)."""
    built = build_events(chunk, settings, seen_duplicates)
    dumps = orjson.dumps
    return ReadyChunk(chunk["event_id"], chunk["order_id"], chunk["event_time"], chunk[cursor_key],
                      [None if e is None else dumps(e) for e in built.events],
                      {i: (reason, message) for i, reason, message in built.skips})
