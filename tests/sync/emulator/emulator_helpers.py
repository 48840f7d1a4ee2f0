"""Helpers of the emulator tests: a valid event, hashes, posting like the sync does."""
from __future__ import annotations

import copy
import hashlib
import time

import httpx
from sync.emulator import ConversionsApiEmulator

TOKEN = "test-token-7f3a"
DATASET = "1234567890"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = sha("john_smith@gmail.com")
PH = sha("16505551212")


def make_event(i: int = 0, **overrides) -> dict:
    """A valid physical_store Purchase one hour old; overrides replace top-level keys."""
    event = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 3600,
        "action_source": "physical_store",
        "event_id": sha(f"Purchase:order-{i}"),
        "user_data": {"em": [EM], "ph": [PH], "external_id": [sha(f"customer-{i}")], "fn": sha("mary"),
                      "country": sha("us")},
        "custom_data": {"currency": "USD", "value": 25.5, "order_id": f"order-{i}", "num_items": 3,
                        "contents": [{"id": "sku-1", "quantity": 1, "item_price": 10.5},
                                     {"id": "sku-2", "quantity": 2, "item_price": 7.5}]},
    }
    event.update(copy.deepcopy(overrides))
    return event


def post_events(client: httpx.Client, emu: ConversionsApiEmulator, events: list, *, token: str | None = TOKEN,
                dataset: str = DATASET, **top_level) -> httpx.Response:
    """POST a JSON body the way the sync does (token in the Authorization header)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"{emu.url}/v24.0/{dataset}/events", json={"data": events, **top_level}, headers=headers)
