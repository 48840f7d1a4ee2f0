"""Token, dataset and appsecret_proof checks, and where the token came from."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from emulator_helpers import DATASET, TOKEN, make_event, post_events

from sync.emulator import ConversionsApiEmulator

SECRET = "app-secret-91c2"


def proof(token: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def error_of(response) -> tuple[int, int, int | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("error_subcode")


def test_missing_token_is_code_104(emulator, client):
    response = post_events(client, emulator, [make_event()], token=None)
    assert error_of(response) == (400, 104, None)
    assert response.json()["error"]["type"] == "OAuthException"
    assert emulator.requests[0].token_source is None
    assert emulator.accepted_events() == []


def test_wrong_token_is_code_190(emulator, client):
    response = post_events(client, emulator, [make_event()], token="not-the-token")
    assert error_of(response) == (400, 190, None)
    assert response.json()["error"]["is_transient"] is False
    assert "not-the-token" not in response.text
    assert emulator.accepted_events() == []


def test_token_in_header_is_not_in_url(emulator, client):
    post_events(client, emulator, [make_event()])
    [record] = emulator.requests
    assert (record.had_token_in_url, record.token_source, record.query_keys) == (False, "header", [])


def test_token_in_query_string_is_recorded(emulator, client):
    event = make_event()
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", params={"access_token": TOKEN},
                           json={"data": [event]})
    assert response.json()["events_received"] == 1
    [record] = emulator.requests
    assert (record.had_token_in_url, record.token_source, record.query_keys) == (True, "query", ["access_token"])
    assert record.path == f"/v24.0/{DATASET}/events"  # the path kept never holds the query
    assert TOKEN not in json.dumps(record.to_dict())


def test_wrong_token_in_query_string_is_still_recorded_as_in_url(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events?access_token=nope", json={"data": [make_event()]})
    assert error_of(response) == (400, 190, None)
    assert emulator.requests[0].had_token_in_url is True


def test_token_in_json_body(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events",
                           json={"data": [make_event()], "access_token": TOKEN})
    assert response.json()["events_received"] == 1
    assert (emulator.requests[0].had_token_in_url, emulator.requests[0].token_source) == (False, "body")


def test_token_in_form_body(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events",
                           data={"data": json.dumps([make_event()]), "access_token": TOKEN})
    assert response.json()["events_received"] == 1
    assert (emulator.requests[0].had_token_in_url, emulator.requests[0].token_source) == (False, "body")


def test_unknown_dataset_is_code_100_subcode_33(client):
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids=[DATASET]) as emu:
        response = post_events(client, emu, [make_event()], dataset="999")
        assert error_of(response) == (400, 100, 33)
        assert "'999' does not exist" in response.json()["error"]["message"]
        assert post_events(client, emu, [make_event()]).status_code == 200
        assert [r.dataset_id for r in emu.requests] == ["999", DATASET]


@pytest.mark.parametrize("sent, status, message", [
    (None, 400, "require an appsecret_proof"),
    (proof(TOKEN, "other-secret"), 400, "Invalid appsecret_proof"),
    (proof(TOKEN), 200, None),
])
def test_appsecret_proof(client, sent, status, message):
    with ConversionsApiEmulator(access_token=TOKEN, app_secret=SECRET) as emu:
        body = {"data": [make_event()]}
        if sent is not None:
            body["appsecret_proof"] = sent
        response = client.post(f"{emu.url}/v24.0/{DATASET}/events", json=body,
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == status
        if message:
            assert response.json()["error"]["code"] == 100
            assert message in response.json()["error"]["message"]
            assert emu.accepted_events() == []
        else:
            assert response.json()["events_received"] == 1
            assert emu.requests[0].had_appsecret_proof is True


def test_appsecret_proof_in_query_string_like_the_sdk(client):
    with ConversionsApiEmulator(access_token=TOKEN, app_secret=SECRET) as emu:
        response = client.post(f"{emu.url}/v24.0/{DATASET}/events",
                               params={"access_token": TOKEN, "appsecret_proof": proof(TOKEN)},
                               data={"data": json.dumps([json.dumps(make_event())])})
        assert response.json()["events_received"] == 1
