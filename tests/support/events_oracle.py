"""An independent oracle of the event the sync sends: a row's Conversions API event built in
Python with orjson, by the contract's CHECKS in their order (sync/contract.py). The sync
itself sends what the warehouse writes (sync/sources/base.py `ready_query`); tests compare
the two, and the payload benchmark times this one as the reference."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sync.contract import (ACTION_SOURCES, CONTENTS_OPTIONAL_KEYS, CUSTOM_DATA, DAY, MAX_FUTURE_SKEW, future_unit, max_age,
                           oldest_allowed, skip_message)
from sync.events import ARRAY_USER_KEYS, COPIES_COLUMN, USER_DATA_COLUMNS, EventSettings, ReadyChunk, hash_match


def _without_null_product_fields(item):
    """A contents item as sent: its optional keys (title, brand, category) left out when NULL."""
    if not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if v is not None or k not in CONTENTS_OPTIONAL_KEYS}


def invalid_hash_message(key: str) -> str:
    return skip_message("invalid_hash", key=key, expected="a lowercase hex SHA-256; raw personal data is never sent")


@dataclass
class BuiltChunk:
    """The outcome of one chunk, row by row in read order.

    events[i] is the event for row i, or None when row i was skipped;
    skips holds (row index, reason, message) for the skipped rows.
    """

    events: list[dict | None]
    skips: list[tuple[int, str, str]] = field(default_factory=list)


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
    """Build and check the events of one columnar chunk (column name -> list of values), by
    the contract's CHECKS in their order (sync/contract.py).

    `seen_duplicates` remembers, across chunks of one read, the ids of rows whose
    event_id occurs more than once (COPIES_COLUMN > 1): the first is sent, later ones skipped.
    """
    seen = set() if seen_duplicates is None else seen_duplicates
    n = len(chunk["event_id"])
    bad_hash = _bad_hash_rows(chunk)
    copies = chunk.get(COPIES_COLUMN) or [1] * n
    user_columns = [(key, chunk[key], key in ARRAY_USER_KEYS) for key in USER_DATA_COLUMNS]
    custom_columns = [(field.key, chunk[field.key]) for field in CUSTOM_DATA]
    events: list[dict | None] = [None] * n
    skips: list[tuple[int, str, str]] = []
    for i in range(n):
        skip = _first_failing_check(chunk, i, settings, copies[i], seen, bad_hash)
        user_data: dict[str, Any] = {}
        if skip is None:
            for key, column, as_array in user_columns:
                v = column[i]
                if v is not None:
                    user_data[key] = [v] if as_array else v
            skip = _after_identifiers(chunk, i, user_data)
        if skip is not None:
            skips.append((i, *skip))
            continue
        custom_data = {key: column[i] for key, column in custom_columns if column[i] is not None}
        custom_data["contents"] = [_without_null_product_fields(item) for item in custom_data["contents"]]
        event = {"event_name": chunk["event_name"][i], "event_time": chunk["event_time"][i],
                 "event_id": chunk["event_id"][i], "action_source": chunk["action_source"][i],
                 "user_data": user_data, "custom_data": custom_data}
        if chunk.get("data_processing_options") is not None:   # per-event LDU, from the relation
            if chunk["data_processing_options"][i]:
                event["data_processing_options"] = list(chunk["data_processing_options"][i])
                for key in ("data_processing_options_country", "data_processing_options_state"):
                    if chunk[key][i] is not None:
                        event[key] = chunk[key][i]
        elif settings.data_processing_options is not None:
            event["data_processing_options"] = settings.data_processing_options
            event["data_processing_options_country"] = settings.data_processing_options_country
            event["data_processing_options_state"] = settings.data_processing_options_state
        events[i] = event
    return BuiltChunk(events, skips)


def _first_failing_check(chunk: dict[str, list], i: int, settings: EventSettings, n_copies, seen: set[str],
                         bad_hash: dict[int, str]) -> tuple[str, str] | None:
    """(reason, message) of the first failing check up to invalid_hash, or None."""
    event_id, source, event_time = chunk["event_id"][i], chunk["action_source"][i], chunk["event_time"][i]
    if not event_id:
        return "missing_event_id", skip_message("missing_event_id")
    if n_copies is not None and n_copies > 1:
        if event_id in seen:
            return "duplicate_event_id", skip_message("duplicate_event_id", copies=n_copies)
        seen.add(event_id)
    if not chunk["event_name"][i]:
        return "missing_event_name", skip_message("missing_event_name")
    if source not in ACTION_SOURCES:
        return "invalid_action_source", skip_message("invalid_action_source", action_source=source)
    if event_time is None:
        return "missing_event_time", skip_message("missing_event_time")
    now = settings.now
    if event_time > now + MAX_FUTURE_SKEW:
        return "event_time_in_future", skip_message("event_time_in_future", event_time=event_time,
                                                    ahead=event_time - now, unit=future_unit(event_time))
    if event_time < oldest_allowed(now, source):
        return "event_time_too_old", skip_message("event_time_too_old", event_time=event_time, action_source=source,
                                                  days=max_age(source) // DAY)
    if i in bad_hash:
        return "invalid_hash", invalid_hash_message(bad_hash[i])
    return None


def _after_identifiers(chunk: dict[str, list], i: int, user_data: dict) -> tuple[str, str] | None:
    """(reason, message) of the first failing check after invalid_hash, or None."""
    value = chunk["value"][i]
    if not user_data:
        return "no_customer_identifier", skip_message("no_customer_identifier")
    if not chunk["currency"][i]:
        return "missing_currency", skip_message("missing_currency")
    if value is None:
        return "missing_value", skip_message("missing_value")
    if value <= 0:
        return "non_positive_value", skip_message("non_positive_value", value=value)
    if not chunk["contents"][i]:
        return "empty_contents", skip_message("empty_contents")
    return None




def ready_chunk(chunk: dict[str, list], settings: EventSettings, seen_duplicates: set[str],
                cursor_key: str = "_cursor") -> ReadyChunk:
    """`build_events` and orjson per event, as a ReadyChunk."""
    built = build_events(chunk, settings, seen_duplicates)
    dumps = orjson.dumps
    return ReadyChunk(chunk["event_id"], chunk["order_id"], chunk["event_time"], chunk[cursor_key],
                      [None if e is None else dumps(e) for e in built.events],
                      {i: (reason, message) for i, reason, message in built.skips})


def user_data_keys(event: dict) -> set[str]:
    """The match keys a sent event (decoded) carries with a value: the oracle of sync/match_keys.py."""
    user_data = event.get("user_data") or {}
    return {key for key in USER_DATA_COLUMNS if user_data.get(key) not in (None, "", [])}
