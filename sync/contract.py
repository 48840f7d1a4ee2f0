"""The Conversions API event this project sends, declared once: the sources' checks, the hash
check and the tests read it; the dbt macros and the emulator are tested against it."""
from __future__ import annotations

import re
from dataclasses import dataclass

# The event's top-level keys, in the order they are written; the LDU keys follow when configured.
EVENT_KEYS = ("event_name", "event_time", "event_id", "action_source", "user_data", "custom_data")
LDU_KEYS = ("data_processing_options", "data_processing_options_country", "data_processing_options_state")


@dataclass(frozen=True)
class UserDataKey:
    """A user_data key; its model column has the same name. Every value is a SHA-256 of the
    normalized identifier, 64 lowercase hex characters (raw personal data never leaves)."""

    key: str
    array: bool = False   # sent as a one-element array, ["<hash>"]


USER_DATA = (UserDataKey("em", array=True), UserDataKey("ph", array=True), UserDataKey("fn"), UserDataKey("ln"),
             UserDataKey("db"), UserDataKey("ge"), UserDataKey("ct"), UserDataKey("st"), UserDataKey("zp"),
             UserDataKey("country"), UserDataKey("external_id", array=True))
USER_DATA_KEYS = tuple(k.key for k in USER_DATA)
ARRAY_USER_DATA_KEYS = frozenset(k.key for k in USER_DATA if k.array)
SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class CustomDataField:
    """A custom_data key, written from the model column of the same name. `required`: a row
    without it is skipped (its check below); otherwise a NULL value leaves the key out."""

    key: str
    required: bool = False


CUSTOM_DATA = (CustomDataField("currency", required=True), CustomDataField("value", required=True),
               CustomDataField("contents", required=True), CustomDataField("order_id"),
               CustomDataField("num_items"), CustomDataField("delivery_category"), CustomDataField("store_id"))
CUSTOM_DATA_KEYS = tuple(f.key for f in CUSTOM_DATA)
# Keys of a contents item left out when NULL (the product_*_column vars, docs/warehouse.md).
CONTENTS_OPTIONAL_KEYS = ("title", "brand", "category")
# Numbers written as JSON doubles: a whole one as `12.0`.
DOUBLE_KEYS = frozenset(("value", "item_price"))

# The model's columns an event is made of: the head, custom_data, user_data.
EVENT_COLUMNS = ("event_id", "event_name", "event_time", "action_source", *CUSTOM_DATA_KEYS)
MODEL_COLUMNS = EVENT_COLUMNS + USER_DATA_KEYS
# The model's columns holding the event's two objects as JSON text, sent as dbt wrote them.
USER_DATA_JSON, CUSTOM_DATA_JSON = "user_data_json", "custom_data_json"
# The columns the sync reads: the head, order_id (the ledger's), the checked ones, the two objects.
REQUIRED_COLUMNS = ("event_id", "event_name", "event_time", "action_source", "order_id",
                    *(f.key for f in CUSTOM_DATA if f.required), USER_DATA_JSON, CUSTOM_DATA_JSON)

# Which events the API takes.
ACTION_SOURCES = frozenset(("email", "website", "app", "phone_call", "chat", "physical_store",
                            "system_generated", "business_messaging", "other"))
DAY = 86_400
MAX_AGE_PHYSICAL_STORE = 62 * DAY
MAX_AGE_OTHER = 7 * DAY
EVENT_TIME_SAFETY_MARGIN = 3_600   # events are checked a while before they are sent: refuse them this much early
MAX_FUTURE_SKEW = 60
MILLISECONDS_FROM = 100_000_000_000   # an event_time this large is surely not unix seconds: the skip says so


# The checks before sending, reason -> dead-letter message: a failing row is skipped with the
# reason of its first failing check, in this order.
CHECKS = {
    "missing_event_id": "event_id is empty",
    "duplicate_event_id": "event_id occurs {copies} times in this read; the first was kept",
    "missing_event_name": "event_name is empty",
    "invalid_action_source": "action_source {action_source!r} is not one the API accepts",
    "missing_event_time": "event_time is NULL",
    "event_time_in_future": "event_time {event_time} is {ahead} s in the future{unit}",
    "event_time_too_old": "event_time {event_time} is older than the API accepts for {action_source} "
                          "({days} days)",
    "invalid_hash": "user_data {key} is not {expected}",
    "no_customer_identifier": "no user_data value to match a customer",
    "missing_currency": "currency is NULL (not a 3-letter ISO 4217 code)",
    "missing_value": "value is NULL",
    "non_positive_value": "value {value} is not positive",
    "empty_contents": "contents is empty",
    # a relation not built by the project's dbt models may leave it out (docs/sync.md)
    "missing_custom_data": "custom_data_json is NULL though currency, value and contents are set",
}
SKIP_REASONS = tuple(CHECKS)
# source.external_id: as_given. The longest raw external_id the sync sends (sync/sources/user_data_check.py).
AS_GIVEN_MAX_LENGTH = 256
# What an invalid_hash skip says the key's value must be: a hash, or for external_id under
# as_given a raw id the sync can send (AS_GIVEN_VALUE).
EXPECTED_HASH = "a lowercase hex SHA-256; raw personal data is never sent"
EXPECTED_AS_GIVEN = (f"an id as given (source.external_id: as_given): 1 to {AS_GIVEN_MAX_LENGTH} characters, "
                     "none a quote, backslash, control character or U+FFFD")


def skip_message(reason: str, **values) -> str:
    """The dead letter's message of a skip."""
    return CHECKS[reason].format(**values)


def invalid_hash_message(key: str, external_id_as_given: bool = False) -> str:
    """The invalid_hash skip's message for `key`."""
    as_given = external_id_as_given and key == "external_id"
    return skip_message("invalid_hash", key=key, expected=EXPECTED_AS_GIVEN if as_given else EXPECTED_HASH)


def future_unit(event_time: int) -> str:
    """What an event_time_in_future message adds when the time looks like milliseconds."""
    return " (milliseconds? event_time is unix seconds)" if event_time >= MILLISECONDS_FROM else ""


def max_age(action_source: str | None) -> int:
    return MAX_AGE_PHYSICAL_STORE if action_source == "physical_store" else MAX_AGE_OTHER


def oldest_allowed(now: int, action_source: str | None) -> int:
    """The oldest event_time the sync still sends for this action source."""
    return now - max_age(action_source) + EVENT_TIME_SAFETY_MARGIN
