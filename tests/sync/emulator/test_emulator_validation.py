"""Event rules: each invalid event rejects the whole request with code 100 and its subcode."""
from __future__ import annotations

import time

import pytest
from emulator_helpers import EM, make_event, post_events, sha

DAY = 86400


def now() -> int:
    return int(time.time())


def with_user_data(**user_data) -> dict:
    return make_event(1, user_data=user_data)


def with_custom_data(**custom_data) -> dict:
    return make_event(1, custom_data=custom_data)


def without(key: str) -> dict:
    event = make_event(1)
    del event[key]
    return event


CASES = [
    # (case id, event, subcode, words the message must hold); events that depend on the clock
    # are built when the test runs (a callable), not when the module is imported
    # (collection can be minutes earlier on a busy machine).
    ("missing event_name", without("event_name"), 2804001, "event_name is required"),
    ("missing event_time", without("event_time"), 2804001, "event_time is required"),
    ("float event_time", make_event(1, event_time=1700000000.5), 2804002, "event_time must be an integer"),
    ("text event_time", make_event(1, event_time="yesterday"), 2804002, "event_time must be an integer"),
    ("missing action_source", without("action_source"), 2804001, "action_source is required"),
    ("unknown action_source", make_event(1, action_source="store"), 2804005, "action_source must be one of"),
    ("physical_store 63 days old", lambda: make_event(1, event_time=now() - 63 * DAY), 2804003, "at most 62 days old"),
    ("website 8 days old", lambda: make_event(1, event_time=now() - 8 * DAY, action_source="website"), 2804003,
     "at most 7 days old"),
    ("2 minutes in the future", lambda: make_event(1, event_time=now() + 120), 2804004, "in the future"),
    ("missing user_data", without("user_data"), 2804001, "user_data is required"),
    ("user_data not an object", make_event(1, user_data=["x"]), 2804002, "user_data must be a JSON object"),
    ("empty user_data", with_user_data(), 2804050, "no customer information"),
    ("only empty lists", with_user_data(em=[], ph=[]), 2804050, "no customer information"),
    ("raw email", with_user_data(em=["john_smith@gmail.com"]), 2804006, "user_data.em[0] is not a SHA-256 hash"),
    ("raw phone string", with_user_data(ph="16505551212"), 2804006, "user_data.ph is not a SHA-256 hash"),
    ("upper-case hash", with_user_data(em=[EM.upper()]), 2804006, "user_data.em[0] is not a SHA-256 hash"),
    ("raw first name", with_user_data(em=[EM], fn="Mary"), 2804006, "user_data.fn is not a SHA-256 hash"),
    ("raw zip in list", with_user_data(zp=[sha("94035"), "94035"]), 2804006, "user_data.zp[1] is not"),
    ("number for ct", with_user_data(ct=12), 2804006, "user_data.ct must be a string"),
    ("external_id number", with_user_data(external_id=[7]), 2804006, "external_id must be a non-empty string"),
    ("Purchase without currency", with_custom_data(value=10), 2804007, "currency is required"),
    ("Purchase with 4-letter currency", with_custom_data(value=10, currency="USDT"), 2804007,
     "three-letter ISO 4217"),
    ("Purchase without value", with_custom_data(currency="USD"), 2804008, "value is required"),
    ("Purchase with text value", with_custom_data(currency="USD", value="ten"), 2804008, "value must be a number"),
    ("Purchase with bool value", with_custom_data(currency="USD", value=True), 2804008, "value must be a number"),
    ("Purchase without custom_data", without("custom_data"), 2804007, "currency is required"),
    ("contents entry without id", with_custom_data(currency="USD", value=1, contents=[{"quantity": 1}]), 2804009,
     "custom_data.contents[0].id is required"),
    ("contents entry without quantity", with_custom_data(currency="USD", value=1, contents=[{"id": "a"}]),
     2804009, "custom_data.contents[0].quantity is required"),
    ("contents float quantity", with_custom_data(currency="USD", value=1, contents=[{"id": "a", "quantity": 1.5}]),
     2804009, "quantity must be an integer"),
    ("contents not a list", with_custom_data(currency="USD", value=1, contents={"id": "a"}), 2804009,
     "contents must be a list"),
    ("contents title a number", with_custom_data(currency="USD", value=1, contents=[{"id": "a", "quantity": 1,
                                                                                  "title": 7}]),
     2804009, "custom_data.contents[0].title must be a string"),
    ("contents brand a list", with_custom_data(currency="USD", value=1, contents=[{"id": "a", "quantity": 1,
                                                                                 "brand": ["x"]}]),
     2804009, "custom_data.contents[0].brand must be a string"),
    ("contents category an object", with_custom_data(currency="USD", value=1, contents=[
        {"id": "a", "quantity": 1, "category": {"a": 1}}]), 2804009, "custom_data.contents[0].category must be a string"),
    ("unknown delivery_category", with_custom_data(currency="USD", value=1, delivery_category="in-store"), 2804002,
     "custom_data.delivery_category must be one of in_store, curbside, home_delivery"),
    ("dpo unknown option", make_event(1, data_processing_options=["GDPR"]), 2804030, '[] or ["LDU"]'),
    ("LDU bad country", make_event(1, data_processing_options=["LDU"], data_processing_options_country=2),
     2804030, "data_processing_options_country must be 0"),
    ("LDU bad state", make_event(1, data_processing_options=["LDU"], data_processing_options_country=1,
                                 data_processing_options_state=6), 2804030, "data_processing_options_state must be"),
    ("LDU California without US", make_event(1, data_processing_options=["LDU"], data_processing_options_country=0,
                                             data_processing_options_state=1000), 2804030, "needs"),
    ("country without options", make_event(1, data_processing_options_country=1), 2804030, "need data_processing_options"),
    ("event not an object", "an event", 2804002, "must be a JSON object"),
]


@pytest.mark.parametrize("event, subcode, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_event_rejects_the_whole_request(emulator, client, event, subcode, words):
    good = [make_event(10), make_event(11)]
    event = event() if callable(event) else event
    response = post_events(client, emulator, [*good, event])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error["error_subcode"] == subcode
    assert error["type"] == "OAuthException"
    assert error["is_transient"] is False
    assert words in error["message"]
    assert error["message"].startswith("(#100) Invalid parameter: event data[2]")
    assert "index 2" in error["error_user_msg"]
    assert error["error_user_title"]
    assert error["fbtrace_id"] == response.headers["x-fb-trace-id"]
    assert emulator.accepted_events() == []  # nothing of the request was processed
    [record] = emulator.requests
    assert (record.status, record.error_code, record.error_subcode, record.n_events, record.n_accepted) == (
        400, 100, subcode, 3, 0)


def test_message_names_the_event_id_and_never_echoes_the_value(emulator, client):
    bad = with_user_data(em=["john_smith@gmail.com"])
    error = post_events(client, emulator, [bad]).json()["error"]
    assert f"data[0] (event_id {bad['event_id']})" in error["message"]
    assert "john_smith" not in str(error)


@pytest.mark.parametrize("event", [
    make_event(1, event_time=now() - 61 * DAY),  # physical_store: 62 days allowed
    make_event(1, event_time=now() - 6 * DAY, action_source="website", event_name="Lead", custom_data=None),
    make_event(1, event_time=now() + 30),  # less than a minute ahead: clock skew
    make_event(1, event_time=str(now() - 60)),  # integer as text
    with_user_data(external_id="customer-42"),  # external_id may be unhashed, alone it is enough
    with_user_data(client_ip_address="203.0.113.7", client_user_agent="pos/1.0"),
    with_user_data(em=EM, ph=[sha("1"), sha("2")], ge=[sha("f")], db=[sha("19970216")]),
    with_custom_data(currency="usd", value="12.50"),
    with_custom_data(currency="EUR", value=0, contents=[{"id": 17, "quantity": 3}]),
    make_event(1, data_processing_options=[]),
    make_event(1, data_processing_options=["LDU"], data_processing_options_country=0, data_processing_options_state=0),
    make_event(1, data_processing_options=["LDU"], data_processing_options_country=1,
               data_processing_options_state=1000),
    make_event(1, event_name="Other", custom_data={"note": "no currency needed"}),
    with_custom_data(currency="USD", value=3, delivery_category="in_store", store_id="S1",
                     contents=[{"id": "a", "quantity": 1, "title": "Mug", "brand": "Acme", "category": "Kitchen"}]),
], ids=["physical_store 61 days", "website 6 days", "30 s ahead", "time as text", "raw external_id",
        "ip and agent", "single and list hashes", "lower-case currency, text value", "int product id",
        "no LDU", "LDU geolocated", "LDU California", "non-Purchase without currency",
        "product fields, delivery_category, store"])
def test_valid_events_are_accepted(emulator, client, event):
    event = {k: v for k, v in event.items() if v is not None}
    response = post_events(client, emulator, [event])
    assert response.status_code == 200, response.text
    assert response.json()["events_received"] == 1
    assert emulator.accepted_events() == [event]


def test_at_most_1000_events(emulator, client):
    events = [make_event(i) for i in range(1001)]
    response = post_events(client, emulator, events)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error.get("error_subcode")) == (100, None)
    assert "at most 1000 events; got 1001" in error["message"]
    assert emulator.accepted_events() == []
    response = post_events(client, emulator, events[:1000])
    assert response.json()["events_received"] == 1000


@pytest.mark.parametrize("body, message", [
    ({}, "The parameter data is required"),
    ({"data": {"event_name": "Purchase"}}, "Param data must be an array"),
    ({"data": "not json"}, "Param data must be an array"),
])
def test_malformed_data_parameter(emulator, client, body, message):
    response = client.post(f"{emulator.url}/v24.0/1/events", json=body,
                           headers={"Authorization": "Bearer test-token-7f3a"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error.get("error_subcode")) == (100, None)
    assert message in error["message"]


def test_empty_data_list_is_accepted_with_zero_events(emulator, client):
    response = post_events(client, emulator, [])
    assert response.json()["events_received"] == 0
