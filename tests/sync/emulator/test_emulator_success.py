"""Accepted requests: the answer's shape, what the emulator keeps, the record file, reset."""
from __future__ import annotations

import json
import os
import re
import time

import httpx
from emulator_helpers import DATASET, TOKEN, make_event, post_events

from sync.emulator import ConversionsApiEmulator

FBTRACE = re.compile(r"^A[A-Za-z0-9_-]{22}$")


def test_success_answer_and_kept_events(emulator, client):
    events = [make_event(i) for i in range(3)]
    response = post_events(client, emulator, events, test_event_code="TEST123", partner_agent="capi-sync/0.1",
                           upload_tag="store-2024")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"events_received", "messages", "fbtrace_id"}
    assert body["events_received"] == 3
    assert body["messages"] == []
    assert FBTRACE.match(body["fbtrace_id"])
    assert response.headers["x-fb-trace-id"] == body["fbtrace_id"]
    assert emulator.accepted_events() == events
    assert emulator.accepted_event_ids() == [e["event_id"] for e in events]
    assert emulator.events_received == 3
    [batch] = emulator.accepted_batches()
    assert batch.dataset_id == DATASET
    assert batch.api_version == "v24.0"
    assert batch.fbtrace_id == body["fbtrace_id"]
    assert batch.parameters == {"test_event_code": "TEST123", "partner_agent": "capi-sync/0.1",
                                "upload_tag": "store-2024"}
    [record] = emulator.requests
    assert (record.method, record.path, record.status, record.n_events, record.n_accepted) == (
        "POST", f"/v24.0/{DATASET}/events", 200, 3, 3)
    assert (record.error_code, record.error_subcode, record.fault) == (None, None, None)
    assert record.fbtrace_id == body["fbtrace_id"]
    assert record.had_token_in_url is False
    assert record.token_source == "header"
    assert record.dataset_id == DATASET


def test_connection_is_reused_across_requests(emulator):
    client = httpx.Client(timeout=10)
    for i in range(3):
        assert post_events(client, emulator, [make_event(i)]).status_code == 200
    # httpx keeps one pooled connection to the emulator when the server keeps it alive
    pool = client._transport._pool
    assert len(pool.connections) == 1
    client.close()
    assert emulator.accepted_event_ids() == [make_event(i)["event_id"] for i in range(3)]


def test_acceptance_order_across_requests_and_reset(emulator, client):
    post_events(client, emulator, [make_event(1), make_event(2)])
    post_events(client, emulator, [make_event(3)])
    assert emulator.accepted_event_ids() == [make_event(i)["event_id"] for i in (1, 2, 3)]
    emulator.reset()
    assert emulator.accepted_events() == []
    assert emulator.requests == []
    assert emulator.events_received == 0
    post_events(client, emulator, [make_event(4)])
    assert emulator.accepted_event_ids() == [make_event(4)["event_id"]]


def test_record_file_has_one_line_per_accepted_event(tmp_path, client):
    path = tmp_path / "out" / "accepted.jsonl"
    with ConversionsApiEmulator(access_token=TOKEN, record_path=path) as emu:
        events = [make_event(i) for i in range(2)]
        ok = post_events(client, emu, events, test_event_code="TEST9")
        post_events(client, emu, [make_event(5, event_time=1)])  # rejected: not recorded
        later = make_event(7)
        post_events(client, emu, [later])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == [*events, later]
    assert [line["dataset_id"] for line in lines] == [DATASET] * 3
    assert [line["test_event_code"] for line in lines] == ["TEST9", "TEST9", None]
    assert lines[0]["fbtrace_id"] == ok.json()["fbtrace_id"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert TOKEN not in path.read_text()


def test_keep_ids_and_count_modes(client):
    with ConversionsApiEmulator(access_token=TOKEN, keep="ids") as emu:
        post_events(client, emu, [make_event(1)])
        assert emu.accepted_event_ids() == [make_event(1)["event_id"]]
        try:
            emu.accepted_events()
            raise AssertionError("accepted_events must refuse when events are not kept")
        except RuntimeError as exc:
            assert "keep='ids'" in str(exc)
    with ConversionsApiEmulator(access_token=TOKEN, keep="count", validate=False) as emu:
        post_events(client, emu, [make_event(i) for i in range(5)])
        assert emu.events_received == 5
        assert emu.stats() == {"requests": 1, "events_received": 5, "batches": 0, "by_status": {"200": 1},
                               "in_progress": 0}


def test_no_validation_accepts_anything_shaped_like_a_list(client):
    with ConversionsApiEmulator(access_token=TOKEN, validate=False) as emu:
        response = post_events(client, emu, [{"event_name": "Purchase", "user_data": {"em": "raw@x.com"}}, {}])
        assert response.status_code == 200
        assert response.json()["events_received"] == 2


def test_port_zero_picks_a_free_port_and_close_frees_it():
    with ConversionsApiEmulator(access_token=TOKEN) as emu:
        url = emu.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and emu.port > 0
        health = httpx.get(f"{url}/_emulator/health").json()
        now = health.pop("now")
        assert health == {"ok": True, "validate": True, "keep": "events"}
        assert abs(now - time.time()) < 5
    try:
        httpx.get(f"{url}/_emulator/health", timeout=1)
        raise AssertionError("the emulator still answers after close()")
    except httpx.TransportError:
        pass


def test_unknown_path_and_method(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/nope", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2500
    response = client.get(f"{emulator.url}/v24.0/{DATASET}/events", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100
    assert response.json()["error"]["message"] == "(#100) Unsupported get request."
