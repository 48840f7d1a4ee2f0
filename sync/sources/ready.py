"""A page of `ready_query`'s columns (sync/sources/base.py) -> ReadyChunk: duplicates (the first
copy in read order is sent), the user_data hash check, skips in the contract's order with their
messages, and each event's bytes joined by Arrow."""
from __future__ import annotations

import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sync.contract import (DAY, DOUBLE_KEYS, SKIP_REASONS, USER_DATA, future_unit, invalid_hash_message, max_age,
                           skip_message)
from sync.events import EventSettings, ReadyChunk, hash_match
from sync.match_keys import key_bits
from sync.sources.user_data_check import AS_GIVEN_VALUE, as_given_stand_in, hashed_user_data_keys

# A double the warehouse wrote as Infinity or NaN (not JSON; BigQuery quotes them).
_NOT_FINITE = re.compile(rb'("(?:' + "|".join(sorted(DOUBLE_KEYS)).encode() + rb')":)"?(?:-?Infinity|NaN)"?(?=[,}\]])')
# The SQL's checks that come before the 64-hex check of the user_data values.
_BEFORE_HASH = frozenset(SKIP_REASONS[:SKIP_REASONS.index("invalid_hash")])
_as_given_match = re.compile(AS_GIVEN_VALUE).match


def ldu_suffix(settings: EventSettings) -> bytes:
    """The data_processing_options keys every event ends with when LDU is configured, and `}`."""
    if settings.data_processing_options is None:
        return b"}"
    return (b',"data_processing_options":' + orjson.dumps(settings.data_processing_options)
            + b',"data_processing_options_country":' + orjson.dumps(settings.data_processing_options_country)
            + b',"data_processing_options_state":' + orjson.dumps(settings.data_processing_options_state) + b"}")


def ready_page(page: dict[str, pa.Array], settings: EventSettings, seen: set[str]) -> ReadyChunk:
    """`page`: `ready_query`'s columns plus _copies (Arrow arrays of one length); `seen`: the
    duplicated ids sent so far in this read (updated)."""
    n = len(page["event_id"])
    reasons = page["_skip"].to_pylist()
    user_data = page["_user_data"].cast(pa.binary())
    as_given = settings.external_id_as_given
    checked = as_given_stand_in(user_data) if as_given else user_data
    bits = hashed_user_data_keys(checked)   # per row its match keys, when every row's user_data is hashed
    bad_keys = {} if bits is not None else _bad_keys(user_data, as_given)
    duplicates = _duplicates(page, seen, reasons)
    skips: dict[int, tuple[str, str]] = {}
    for i in sorted({*(i for i in range(n) if reasons[i] is not None), *duplicates, *bad_keys}):
        skip = _skip(page, i, reasons[i], bad_keys.get(i), duplicates.get(i), settings)
        if skip is not None:
            skips[i] = skip
    # A skipped row's head is NULL, so its joined bytes are NULL (the join emits NULL for a NULL
    # part; a sent row has none): the mask touches the short head, not the whole event.
    head = page["_head"].cast(pa.binary())
    if skips:
        sent = np.ones(n, np.bool_)
        sent[list(skips)] = False
        head = pc.if_else(pa.array(sent), head, pa.scalar(None, pa.binary()))
    # the relation's per-event LDU keys (`_ldu`), else the sync-wide ones
    tail = [page["_ldu"].cast(pa.binary()), b"}"] if "_ldu" in page else [ldu_suffix(settings)]
    encoded = pc.binary_join_element_wise(head, b',"user_data":', user_data,
                                          b',"custom_data":', _finite(page["_custom_data"].cast(pa.binary())),
                                          *tail, b"")
    if bits is None:   # a page with a bad user_data: the keys of the events it sends
        bits = key_bits(encoded)
    elif skips:   # a skipped row sends no key
        bits[list(skips)] = 0
    return ReadyChunk(page["event_id"], page["order_id"], page["event_time"], page["_cursor"], encoded, skips, bits)


def _finite(custom_data: pa.Array) -> pa.Array:
    """custom_data with a non-finite double written null, as JSON has no other way to write it."""
    # one search of the page's bytes in Arrow (a hit in a string value only costs the regex below)
    if not pc.any(pc.match_substring_regex(custom_data, "Infinity|NaN")).as_py():
        return custom_data
    return pa.array([None if text is None else _NOT_FINITE.sub(rb"\1null", text) for text in custom_data.to_pylist()],
                    pa.binary())


def _duplicates(page: dict[str, pa.Array], seen: set[str], reasons: list) -> dict[int, int]:
    """Row -> its copies, for the later copies of a duplicated event_id (the first copy in read
    order, which goes into `seen`, is kept whatever its other checks say)."""
    copies = page["_copies"]
    candidates = np.flatnonzero(pc.fill_null(pc.greater(copies, 1), False).to_numpy(zero_copy_only=False))
    later: dict[int, int] = {}
    for i in candidates.tolist():
        if reasons[i] == "missing_event_id":
            continue
        event_id = page["event_id"][i].as_py()
        if event_id in seen:
            later[i] = copies[i].as_py()
        else:
            seen.add(event_id)
    return later


def _skip(page: dict[str, pa.Array], i: int, reason: str | None, bad_key: str | None, copies: int | None,
          settings: EventSettings) -> tuple[str, str] | None:
    """The row's (reason, message) by the contract's order of checks."""
    if reason == "missing_event_id":
        return reason, skip_message(reason)
    if copies is not None:
        return "duplicate_event_id", skip_message("duplicate_event_id", copies=copies)
    if reason is None or reason not in _BEFORE_HASH:
        if bad_key is not None:
            return "invalid_hash", invalid_hash_message(bad_key, settings.external_id_as_given)
        if reason is None:
            return None
    event_time, source = page["event_time"][i].as_py(), page["action_source"][i].as_py()
    values = {"action_source": source, "event_time": event_time, "value": page["value"][i].as_py()}
    if reason == "event_time_in_future":
        values.update(ahead=event_time - settings.now, unit=future_unit(event_time))
    if reason == "event_time_too_old":
        values["days"] = max_age(source) // DAY
    return reason, skip_message(reason, **values)


def _bad_keys(user_data: pa.Array, as_given: bool) -> dict[int, str]:
    """Row -> the first user_data key whose value is not a hash ("user_data" when the text is
    not an object of the contract's keys), for the rows whose text fails the check."""
    bad = {}
    for i, text in enumerate(user_data.to_pylist()):
        if text is not None and (key := _first_bad_key(text, as_given)) is not None:
            bad[i] = key
    return bad


def _first_bad_key(text: bytes, as_given: bool = False) -> str | None:
    """The first key, in the contract's order, whose entry is not `"key":"<hash>"` (or
    `"key":["<hash>"]`), read left to right; "user_data" when the text is not an object of such
    entries. `as_given`: external_id may be a raw id AS_GIVEN_VALUE accepts."""
    text = text.decode("utf-8", "replace")
    if not text.startswith("{"):
        return "user_data"
    at = 1
    for key in USER_DATA:
        prefix, close = (f'"{key.key}":["', '"]') if key.array else (f'"{key.key}":"', '"')
        if not text.startswith(prefix, at):
            continue
        if as_given and key.key == "external_id":
            raw = _as_given_match(text, at + len(prefix))
            value, end = ("0" * 64, raw.end()) if raw else ("", at + len(prefix))
        else:
            value, end = text[at + len(prefix):at + len(prefix) + 64], at + len(prefix) + 64
        if not (hash_match(value) and text.startswith(close, end) and text[end + len(close):end + len(close) + 1]
                in (",", "}")):
            return key.key
        at = end + len(close) + 1
    return None if at == len(text) and at > 1 else "user_data"
