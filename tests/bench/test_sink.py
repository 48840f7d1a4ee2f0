"""The benchmark's counting sink (bench/sink.py) over real sockets: it counts every event of a
body however the body arrives, answers each request of a keep-alive connection in order, and
holds an answer back by its latency."""
from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from bench.processes import start_sink

PATH = "/v24.0/1234567890/events"


def body(events: int, pad: int = 0) -> bytes:
    data = ",".join('{"event_name":"Purchase","event_id":"e%d","x":"%s"}' % (i, "y" * pad) for i in range(events))
    return ('{"data":[' + data + '],"access_token":"t"}').encode()


def request(payload: bytes) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


def read_answers(sock: socket.socket, count: int) -> list[dict]:
    """`count` HTTP answers from the socket, in order, as their JSON bodies."""
    data, answers = b"", []
    while len(answers) < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
        while b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            if len(rest) < length:
                break
            answers.append(json.loads(rest[:length]))
            data = rest[length:]
    return answers


@pytest.fixture(scope="module")
def sink():
    with start_sink() as server:
        yield server


@pytest.fixture()
def connection(sink):
    port = int(sink.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        yield sock


def test_counts_a_body_sent_in_small_pieces(sink, connection):
    sink.get("/_sink/reset")
    raw = request(body(1000))
    for at in range(0, len(raw), 997):   # pieces that split the key "event_id" itself
        connection.sendall(raw[at:at + 997])
    assert read_answers(connection, 1) == [{"events_received": 1000, "messages": [], "fbtrace_id": "bench-sink"}]
    stats = sink.get("/_sink/stats")
    assert (stats["requests"], stats["events"], stats["bytes"]) == (1, 1000, len(body(1000)))


def test_a_body_larger_than_the_buffer_and_requests_back_to_back(sink, connection):
    sink.get("/_sink/reset")
    large, small = body(3000, pad=1000), body(7)   # about 3.1 MB: the 2 MiB buffer grows
    connection.sendall(request(large) + request(small) + request(body(0)))   # three in one send
    answers = read_answers(connection, 3)
    assert [a["events_received"] for a in answers] == [3000, 7, 0]
    stats = sink.get("/_sink/stats")
    assert (stats["requests"], stats["events"], stats["bytes"]) == (3, 3007, len(large) + len(small) + len(body(0)))


def test_keep_alive_with_an_http_client_and_unknown_paths(sink):
    sink.get("/_sink/reset")
    with httpx.Client(base_url=sink.url, trust_env=False) as client:
        got = [client.post(PATH, content=body(n)).json()["events_received"] for n in (1, 250, 1000)]
        missing = client.get("/v24.0/other")
    assert got == [1, 250, 1000]
    assert missing.status_code == 404
    assert sink.get("/_sink/stats")["events"] == 1251


def test_latency_holds_each_answer_back():
    with start_sink(latency_ms=150) as slow, httpx.Client(base_url=slow.url, trust_env=False) as client:
        started = time.perf_counter()
        answers = [client.post(PATH, content=body(10)).json()["events_received"] for _ in range(3)]
        elapsed = time.perf_counter() - started
    assert answers == [10, 10, 10]
    assert elapsed >= 0.45


def test_sink_counts_the_events_of_the_sdk_script_bodies():
    """The SDK script's real bodies (bench/sdk_baseline.py: form-encoded, each event JSON in JSON)."""
    import datetime as dt

    from bench.sdk_baseline import sdk_bodies
    row = ("O1", 1_790_000_000, "USD", 12.5, 2, [{"id": "P1", "quantity": 2, "revenue": 12.5}],
           "a@b.co", "+1 650 555 1212", "Ann", "Lee", dt.date(1990, 1, 2), "f", "Paris", "CA", "94105", "US", "C1")
    bodies = list(sdk_bodies([row] * 1500))
    with start_sink() as sink:
        answers = [httpx.post(sink.url + PATH, content=b, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              trust_env=False).json()["events_received"] for b in bodies]
        assert answers == [1000, 500]
        assert sink.get("/_sink/stats")["events"] == 1500
