"""The Conversions API's event rules, as the emulator enforces them.

`check_events` raises the GraphError of the first invalid event: like the real API, one
invalid event rejects the whole request. Error messages never echo a customer value.
"""
from __future__ import annotations

import math
import re

from . import graph_errors as ge
from .graph_errors import GraphError

MAX_EVENTS_PER_REQUEST = 1000
ACTION_SOURCES = frozenset({
    "email", "website", "app", "phone_call", "chat", "physical_store",
    "system_generated", "business_messaging", "other",
})
MAX_AGE_SECONDS = 7 * 86400
MAX_AGE_SECONDS_PHYSICAL_STORE = 62 * 86400
MAX_FUTURE_SECONDS = 60

# Keys that must be SHA-256 hashes of normalized values (string or list of strings).
HASHED_KEYS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country")
# Every key that counts as customer information for matching.
CUSTOMER_INFORMATION_KEYS = frozenset(HASHED_KEYS) | {
    "external_id", "client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id",
    "fb_login_id", "lead_id", "madid", "anon_id", "ctwa_clid", "page_id",
    "f5first", "f5last", "fi", "dobd", "dobm", "doby",
}
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_match_sha256 = _SHA256_HEX.fullmatch
_HASHED_KEY_SET = frozenset(HASHED_KEYS)
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_INTEGER_STRING = re.compile(r"-?[0-9]{1,12}")


def check_request_size(n_events: int) -> None:
    if n_events > MAX_EVENTS_PER_REQUEST:
        raise ge.invalid_request(
            f"Param data must contain at most {MAX_EVENTS_PER_REQUEST} events; got {n_events}"
        )


def check_events(events: list, now: float) -> None:
    """Raise the GraphError of the first invalid event of `events`."""
    for index, event in enumerate(events):
        check_event(index, event, now)


def check_event(index: int, event: object, now: float) -> None:
    if not isinstance(event, dict):
        raise ge.invalid_event(ge.WRONG_TYPE, index, None, "an event must be a JSON object")
    event_id = event.get("event_id")

    def fail(subcode: int, detail: str) -> GraphError:
        return ge.invalid_event(subcode, index, event_id, detail)

    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, (str, int))):
        raise fail(ge.WRONG_TYPE, "event_id must be a string")

    event_name = event.get("event_name")
    if event_name is None or event_name == "":
        raise fail(ge.MISSING_PARAMETER, "the parameter event_name is required")
    if not isinstance(event_name, str):
        raise fail(ge.WRONG_TYPE, "event_name must be a string")

    event_time = event.get("event_time")
    if event_time is None:
        raise fail(ge.MISSING_PARAMETER, "the parameter event_time is required")
    if isinstance(event_time, str) and _INTEGER_STRING.fullmatch(event_time):
        event_time = int(event_time)
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        raise fail(ge.WRONG_TYPE, "event_time must be an integer (unix seconds)")

    action_source = event.get("action_source")
    if action_source is None or action_source == "":
        raise fail(ge.MISSING_PARAMETER, "the parameter action_source is required")
    if action_source not in ACTION_SOURCES:
        raise fail(ge.INVALID_ACTION_SOURCE,
                   f"action_source must be one of {', '.join(sorted(ACTION_SOURCES))}")

    max_age = MAX_AGE_SECONDS_PHYSICAL_STORE if action_source == "physical_store" else MAX_AGE_SECONDS
    age = now - event_time
    if age > max_age:
        raise fail(ge.EVENT_TIME_TOO_OLD,
                   f"event_time is {age / 86400:.1f} days in the past; events with action_source "
                   f"{action_source} must be at most {max_age // 86400} days old")
    if -age > MAX_FUTURE_SECONDS:
        raise fail(ge.EVENT_TIME_IN_FUTURE,
                   f"event_time is {-age:.0f} seconds in the future (at most {MAX_FUTURE_SECONDS} allowed)")

    _check_user_data(event.get("user_data"), fail)
    custom_data = event.get("custom_data")
    if custom_data is not None and not isinstance(custom_data, dict):
        raise fail(ge.WRONG_TYPE, "custom_data must be a JSON object")
    if event_name == "Purchase":
        _check_purchase(custom_data or {}, fail)
    if custom_data and custom_data.get("contents") is not None:
        _check_contents(custom_data["contents"], fail)
    if custom_data and custom_data.get("delivery_category") is not None:
        _check_delivery_category(custom_data["delivery_category"], "custom_data.delivery_category", ge.WRONG_TYPE,
                                 fail)
    _check_data_processing_options(event, fail)


def _hashes_ok(user_data: dict) -> bool:
    """Fast path: every hashed key holds 64-hex strings and some customer information is there."""
    has_information = False
    for key, value in user_data.items():
        if key in _HASHED_KEY_SET:
            if value.__class__ is list:
                for item in value:
                    if item.__class__ is not str or _match_sha256(item) is None:
                        return False
                has_information = has_information or bool(value)
            elif value.__class__ is not str or _match_sha256(value) is None:
                return False
            else:
                has_information = True
        elif key == "external_id":
            values = value if value.__class__ is list else (value,)
            for item in values:
                if item.__class__ is not str or not item:
                    return False
            has_information = has_information or bool(values)
        elif key in CUSTOMER_INFORMATION_KEYS and value not in (None, "", []):
            has_information = True
    return has_information


def _check_user_data(user_data: object, fail) -> None:
    if user_data.__class__ is dict and _hashes_ok(user_data):
        return
    if user_data is None:
        raise fail(ge.MISSING_PARAMETER, "the parameter user_data is required")
    if not isinstance(user_data, dict):
        raise fail(ge.WRONG_TYPE, "user_data must be a JSON object")
    has_information = False
    for key, value in user_data.items():
        if key in HASHED_KEYS:
            values = value if isinstance(value, list) else [value]
            for position, item in enumerate(values):
                where = f"user_data.{key}[{position}]" if isinstance(value, list) else f"user_data.{key}"
                if not isinstance(item, str):
                    raise fail(ge.INVALID_CUSTOMER_INFORMATION,
                               f"{where} must be a string (a SHA-256 hash) or a list of them")
                if not _SHA256_HEX.fullmatch(item):
                    raise fail(ge.INVALID_CUSTOMER_INFORMATION,
                               f"{where} is not a SHA-256 hash (64 lowercase hex characters); "
                               "normalize and hash customer information before sending it")
            if values:
                has_information = True
        elif key == "external_id":
            values = value if isinstance(value, list) else [value]
            if any(not isinstance(item, str) or not item for item in values):
                raise fail(ge.INVALID_CUSTOMER_INFORMATION,
                           "user_data.external_id must be a non-empty string or a list of them")
            if values:
                has_information = True
        elif key in CUSTOMER_INFORMATION_KEYS and value not in (None, "", []):
            has_information = True
    if not has_information:
        raise fail(ge.NOT_ENOUGH_CUSTOMER_INFORMATION,
                   "user_data has no customer information parameter; send at least one of "
                   "em, ph, external_id, fn, ln, db, ge, ct, st, zp, country, madid, lead_id")


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _check_purchase(custom_data: dict, fail) -> None:
    currency = custom_data.get("currency")
    if currency is None or currency == "":
        raise fail(ge.INVALID_CURRENCY, "custom_data.currency is required for Purchase events")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise fail(ge.INVALID_CURRENCY, "custom_data.currency must be a three-letter ISO 4217 code")
    value = custom_data.get("value")
    if value is None:
        raise fail(ge.INVALID_VALUE, "custom_data.value is required for Purchase events")
    if not _is_number(value):
        raise fail(ge.INVALID_VALUE, "custom_data.value must be a number")


# A contents item's text fields (Meta's custom_data reference); null counts as absent.
CONTENTS_TEXT_KEYS = ("title", "description", "brand", "category")
DELIVERY_CATEGORIES = ("in_store", "curbside", "home_delivery")


def _check_delivery_category(value: object, where: str, subcode: int, fail) -> None:
    if value not in DELIVERY_CATEGORIES:
        raise fail(subcode, f"{where} must be one of {', '.join(DELIVERY_CATEGORIES)}")


def _check_contents(contents: object, fail) -> None:
    if not isinstance(contents, list):
        raise fail(ge.INVALID_CONTENTS, "custom_data.contents must be a list of objects")
    for position, item in enumerate(contents):
        where = f"custom_data.contents[{position}]"
        if not isinstance(item, dict):
            raise fail(ge.INVALID_CONTENTS, f"{where} must be an object")
        product_id = item.get("id")
        if product_id is None or product_id == "" or isinstance(product_id, (bool, dict, list, float)):
            raise fail(ge.INVALID_CONTENTS, f"{where}.id is required (a string)")
        quantity = item.get("quantity")
        if quantity is None:
            raise fail(ge.INVALID_CONTENTS, f"{where}.quantity is required")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise fail(ge.INVALID_CONTENTS, f"{where}.quantity must be an integer")
        item_price = item.get("item_price")
        if item_price is not None and not _is_number(item_price):
            raise fail(ge.INVALID_CONTENTS, f"{where}.item_price must be a number")
        for key in CONTENTS_TEXT_KEYS:
            if item.get(key) is not None and not isinstance(item[key], str):
                raise fail(ge.INVALID_CONTENTS, f"{where}.{key} must be a string")
        if item.get("delivery_category") is not None:
            _check_delivery_category(item["delivery_category"], f"{where}.delivery_category", ge.INVALID_CONTENTS, fail)


def _check_data_processing_options(event: dict, fail) -> None:
    options = event.get("data_processing_options")
    country = event.get("data_processing_options_country")
    state = event.get("data_processing_options_state")
    if options is None:
        if country is not None or state is not None:
            raise fail(ge.INVALID_DATA_PROCESSING_OPTIONS,
                       "data_processing_options_country/_state need data_processing_options")
        return
    if not isinstance(options, list) or any(option != "LDU" for option in options):
        raise fail(ge.INVALID_DATA_PROCESSING_OPTIONS,
                   'data_processing_options must be [] or ["LDU"]')
    if not options:
        return
    if country is not None and (isinstance(country, bool) or country not in (0, 1)):
        raise fail(ge.INVALID_DATA_PROCESSING_OPTIONS,
                   "data_processing_options_country must be 0 (geolocate) or 1 (United States)")
    if state is not None and (isinstance(state, bool) or state not in (0, 1000)):
        raise fail(ge.INVALID_DATA_PROCESSING_OPTIONS,
                   "data_processing_options_state must be 0 (geolocate) or 1000 (California)")
    if state == 1000 and country != 1:
        raise fail(ge.INVALID_DATA_PROCESSING_OPTIONS,
                   "data_processing_options_state 1000 (California) needs data_processing_options_country 1")
