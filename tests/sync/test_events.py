"""Event building (exact dicts) and every pre-send check."""
from __future__ import annotations

import pytest
from offline_events_fixture import event_id, make_row, sha

from sync.events import COPIES_COLUMN, EVENT_COLUMNS, USER_DATA_COLUMNS, EventSettings
from tests.support.events_oracle import build_events

NOW = 1_800_000_000


def chunk_of(rows: list[dict], copies: list[int] | None = None) -> dict[str, list]:
    chunk = {c: [r[c] for r in rows] for c in EVENT_COLUMNS + USER_DATA_COLUMNS}
    chunk["value"] = [float(v) if v is not None else None for v in chunk["value"]]
    chunk[COPIES_COLUMN] = copies or [1] * len(rows)
    return chunk


def build(rows, settings=None, copies=None):
    return build_events(chunk_of(rows, copies), settings or EventSettings(now=NOW))


def test_exact_event():
    built = build([make_row(7, NOW - 3600)])
    assert built.skips == []
    assert built.events == [{
        "event_name": "Purchase", "event_time": NOW - 3600, "event_id": event_id("o7"),
        "action_source": "physical_store",
        "user_data": {"em": [sha("user7@example.com")], "ph": [sha("16505550007")], "fn": sha("mary"),
                      "ge": sha("f"), "zp": sha("94035"), "country": sha("us"),
                      "external_id": [sha("amp-7")]},
        "custom_data": {"currency": "USD", "value": 30.5,
                        "contents": [{"id": "p1", "quantity": 2, "item_price": 10.0},
                                     {"id": "p2", "quantity": 1, "item_price": 10.5}],
                        "order_id": "o7", "num_items": 3, "delivery_category": "in_store", "store_id": "s1"},
    }]


def test_null_product_fields_are_left_out_of_contents_items():
    contents = [{"id": "p1", "quantity": 2, "item_price": 10.0, "title": "Mug", "brand": None},
                {"id": "p2", "quantity": 1, "item_price": 10.5, "title": None, "brand": "Acme"}]
    event = build([make_row(1, NOW - 10, contents=contents)]).events[0]
    assert event["custom_data"]["contents"] == [{"id": "p1", "quantity": 2, "item_price": 10.0, "title": "Mug"},
                                                {"id": "p2", "quantity": 1, "item_price": 10.5, "brand": "Acme"}]


def test_ldu_fields():
    settings = EventSettings(now=NOW, data_processing_options=["LDU"], data_processing_options_country=1,
                             data_processing_options_state=1000)
    event = build([make_row(1, NOW - 10)], settings).events[0]
    assert event["data_processing_options"] == ["LDU"]
    assert event["data_processing_options_country"] == 1
    assert event["data_processing_options_state"] == 1000


def test_nulls_left_out():
    row = make_row(1, NOW - 10, em=None, ph=None, fn=None, ge=None, zp=None, country=None, order_id=None,
                   num_items=None, delivery_category=None, store_id=None)
    event = build([row]).events[0]
    assert event["user_data"] == {"external_id": [sha("amp-1")]}
    assert event["custom_data"] == {"currency": "USD", "value": 30.5, "contents": row["contents"]}


DAY = 86400


@pytest.mark.parametrize("overrides, reason", [
    ({"event_id": None}, "missing_event_id"),
    ({"event_id": ""}, "missing_event_id"),
    ({"event_name": None}, "missing_event_name"),
    ({"action_source": "store"}, "invalid_action_source"),
    ({"event_time": None}, "missing_event_time"),
    ({"event_time": NOW + 61}, "event_time_in_future"),
    ({"event_time": NOW - 62 * DAY}, "event_time_too_old"),
    ({"event_time": NOW - 8 * DAY, "action_source": "website"}, "event_time_too_old"),
    ({"em": "john@example.com"}, "invalid_hash"),
    ({"ph": sha("x").upper()}, "invalid_hash"),
    ({"zp": "94035"}, "invalid_hash"),
    ({"external_id": "amp-1"}, "invalid_hash"),
    ({c: None for c in USER_DATA_COLUMNS}, "no_customer_identifier"),
    ({"currency": None}, "missing_currency"),
    ({"value": None}, "missing_value"),
    ({"value": "0.00"}, "non_positive_value"),
    ({"value": "-5.00"}, "non_positive_value"),
    ({"contents": []}, "empty_contents"),
    ({"contents": None}, "empty_contents"),
])
def test_skip_reasons(overrides, reason):
    rows = [make_row(1, NOW - 100), {**make_row(2, NOW - 100), **overrides}, make_row(3, NOW - 100)]
    built = build(rows)
    assert [r for _, r, _ in built.skips] == [reason]
    assert built.skips[0][0] == 1
    assert built.events[1] is None
    assert built.events[0]["event_id"] == event_id("o1") and built.events[2]["event_id"] == event_id("o3")


def test_edges_still_sent():
    rows = [make_row(1, NOW + 60), make_row(2, NOW - 62 * DAY + 3600),
            make_row(3, NOW - 7 * DAY + 3600, action_source="website"), make_row(4, NOW, value="0.01")]
    assert build(rows).skips == []


def test_raw_personal_data_never_in_an_event():
    built = build([make_row(1, NOW - 10, em="John_Smith@gmail.com", fn="Mary")])
    assert built.events == [None]
    assert "em" in built.skips[0][2] and "John_Smith" not in built.skips[0][2]


def test_duplicate_event_id_first_kept_across_chunks():
    seen: set[str] = set()
    row = make_row(1, NOW - 10)
    first = build_events(chunk_of([row], [2]), EventSettings(now=NOW), seen)
    second = build_events(chunk_of([dict(row, order_id="other")], [2]), EventSettings(now=NOW), seen)
    assert first.skips == [] and first.events[0]["event_id"] == row["event_id"]
    assert [r for _, r, _ in second.skips] == ["duplicate_event_id"]
