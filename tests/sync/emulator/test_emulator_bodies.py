"""Request bodies: JSON, form-encoded and multipart as the SDK and curl send them, gzip, bad JSON."""
from __future__ import annotations

import gzip
import json

import orjson
from emulator_helpers import DATASET, TOKEN, make_event

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_form_body_with_events_as_json_text_like_the_sdk(emulator, client):
    events = [make_event(1), make_event(2)]
    # the SDK: data = JSON list of JSON-encoded events, form-encoded, token in the query
    form = {"data": json.dumps([json.dumps(e) for e in events]), "test_event_code": "TEST42",
            "upload_tag": "daily"}
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", params={"access_token": TOKEN}, data=form)
    assert response.json()["events_received"] == 2
    assert emulator.accepted_events() == events
    assert emulator.accepted_batches()[0].parameters == {"test_event_code": "TEST42", "upload_tag": "daily"}
    assert emulator.requests[0].content_type == "application/x-www-form-urlencoded"


def test_multipart_body_like_curl_dash_f(emulator, client):
    events = [make_event(3)]
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events",
                           files={"data": (None, json.dumps(events)), "access_token": (None, TOKEN),
                                  "partner_agent": (None, "curl")})
    assert response.json()["events_received"] == 1
    assert emulator.accepted_events() == events
    assert emulator.accepted_batches()[0].parameters == {"partner_agent": "curl"}
    assert emulator.requests[0].content_type.startswith("multipart/form-data; boundary=")


def test_gzip_json_body(emulator, client):
    events = [make_event(i) for i in range(4)]
    body = gzip.compress(orjson.dumps({"data": events}))
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", content=body,
                           headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.json()["events_received"] == 4
    assert emulator.accepted_events() == events


def test_invalid_json_body_is_code_100(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", content=b'{"data": [',
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100 and "not valid JSON" in error["message"]


def test_event_json_text_that_is_not_json_is_named(emulator, client):
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", params={"access_token": TOKEN},
                           data={"data": json.dumps([json.dumps(make_event(1)), "{broken"])})
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2804002)
    assert "data[1]" in error["message"]


def test_chunked_body(emulator, client):
    events = [make_event(5)]

    def chunks():
        raw = orjson.dumps({"data": events})
        yield raw[:10]
        yield raw[10:]

    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", content=chunks(),
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.json()["events_received"] == 1
    assert emulator.accepted_events() == events


def _raw_post(emulator, parts: list[bytes], pause: float = 0.05) -> bytes:
    """POST /events over a raw socket, the body sent in `parts` with pauses; the raw answer."""
    import socket
    import time
    body = b"".join(parts)
    head = (f"POST /v24.0/{DATASET}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        sock.sendall(head + parts[0])
        for part in parts[1:]:
            time.sleep(pause)
            sock.sendall(part)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_body_arriving_in_pieces_is_read_whole(emulator):
    events = [make_event(i) for i in range(300)]   # ~150 KB: more than the reader's buffer
    raw = orjson.dumps({"data": events})
    answer = _raw_post(emulator, [raw[:7], raw[7:70_000], raw[70_000:70_001], raw[70_001:]])
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["events_received"] == 300
    assert emulator.accepted_events() == events


def test_a_connection_closed_mid_body_is_not_taken_and_the_emulator_goes_on(emulator, client):
    import socket
    raw = orjson.dumps({"data": [make_event(1)]})
    head = (f"POST /v24.0/{DATASET}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        sock.sendall(head + raw[: len(raw) // 2])
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(65536)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
    assert emulator.accepted_events() == []
    response = client.post(f"{emulator.url}/v24.0/{DATASET}/events", json={"data": [make_event(2)]}, headers=AUTH)
    assert response.json()["events_received"] == 1
