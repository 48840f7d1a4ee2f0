"""The official facebook-business SDK, pointed at the emulator, sends an event it accepts."""
from __future__ import annotations

import hashlib
import hmac
import time

import pytest

pytest.importorskip("facebook_business")

from facebook_business.adobjects.serverside.action_source import ActionSource  # noqa: E402
from facebook_business.adobjects.serverside.content import Content  # noqa: E402
from facebook_business.adobjects.serverside.custom_data import CustomData  # noqa: E402
from facebook_business.adobjects.serverside.event import Event  # noqa: E402
from facebook_business.adobjects.serverside.event_request import EventRequest  # noqa: E402
from facebook_business.adobjects.serverside.gender import Gender  # noqa: E402
from facebook_business.adobjects.serverside.user_data import UserData  # noqa: E402
from facebook_business.api import FacebookAdsApi  # noqa: E402
from facebook_business.exceptions import FacebookRequestError  # noqa: E402

from sync.emulator import ConversionsApiEmulator  # noqa: E402

TOKEN = "sdk-token-55e1"
SECRET = "sdk-app-secret"
DATASET = "998877"


@pytest.fixture
def sdk_emulator():
    with ConversionsApiEmulator(access_token=TOKEN, app_secret=SECRET, dataset_ids=[DATASET]) as emu:
        previous = FacebookAdsApi.get_default_api()
        api = FacebookAdsApi.init(access_token=TOKEN, app_secret=SECRET, crash_log=False)
        api._session.GRAPH = emu.url  # the SDK builds f"{GRAPH}/{version}/{dataset}/events"
        yield emu
        FacebookAdsApi.set_default_api(previous)


def purchase(event_time: int, email: str = "John_Smith@gmail.com") -> Event:
    user_data = UserData(emails=[email], phones=["16505551212"], first_names=["Mary"], genders=[Gender.FEMALE],
                         country_codes=["us"], external_ids=["customer-42"])
    custom_data = CustomData(currency="usd", value=25.5, order_id="order-1", num_items=3,
                             contents=[Content(product_id="sku-1", quantity=3, item_price=8.5)])
    return Event(event_name="Purchase", event_time=event_time, event_id="evt-1", user_data=user_data,
                 custom_data=custom_data, action_source=ActionSource.PHYSICAL_STORE)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_sdk_event_is_accepted_and_stored(sdk_emulator):
    event_time = int(time.time()) - 600
    response = EventRequest(events=[purchase(event_time)], pixel_id=DATASET, test_event_code="TEST777").execute()
    assert response.events_received == 1
    assert response.fbtrace_id == sdk_emulator.accepted_batches()[0].fbtrace_id

    [stored] = sdk_emulator.accepted_events()
    assert stored == {
        "event_name": "Purchase",
        "event_time": event_time,
        "event_id": "evt-1",
        "action_source": "physical_store",
        "user_data": {
            "em": [sha("john_smith@gmail.com")],  # the meta-capi-facts.md vector
            "ph": [sha("16505551212")],
            "fn": [sha("mary")],
            "ge": [sha("f")],
            "country": [sha("us")],
            "external_id": ["customer-42"],  # the Python SDK does not hash external_id
        },
        "custom_data": {"currency": "usd", "value": 25.5, "order_id": "order-1", "num_items": 3,
                        "contents": [{"id": "sku-1", "quantity": 3, "item_price": 8.5}]},
    }
    assert stored["user_data"]["em"] == ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"]
    [batch] = sdk_emulator.accepted_batches()
    assert (batch.dataset_id, batch.parameters) == (DATASET, {"test_event_code": "TEST777"})
    [record] = sdk_emulator.requests
    # the SDK form-encodes and puts the token (and appsecret_proof) in the URL: recorded as such
    assert record.content_type == "application/x-www-form-urlencoded"
    assert (record.had_token_in_url, record.token_source, record.had_appsecret_proof) == (True, "query", True)
    assert record.query_keys == ["access_token", "appsecret_proof"]
    assert record.api_version == FacebookAdsApi.API_VERSION
    expected_proof = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert FacebookAdsApi.get_default_api()._session.appsecret_proof == expected_proof


def test_sdk_sees_graph_errors(sdk_emulator):
    stale = int(time.time()) - 70 * 86400
    with pytest.raises(FacebookRequestError) as caught:
        EventRequest(events=[purchase(stale)], pixel_id=DATASET).execute()
    error = caught.value
    assert (error.http_status(), error.api_error_code(), error.api_error_subcode()) == (400, 100, 2804003)
    assert error.api_transient_error() is False
    assert sdk_emulator.accepted_events() == []


def test_sdk_with_wrong_dataset(sdk_emulator):
    with pytest.raises(FacebookRequestError) as caught:
        EventRequest(events=[purchase(int(time.time()))], pixel_id="111").execute()
    assert (caught.value.api_error_code(), caught.value.api_error_subcode()) == (100, 33)
