"""The destination against the real emulator on 127.0.0.1: body, header-only token, retries,
permanent errors, and the cost of isolating invalid events by splitting."""
from __future__ import annotations

from dataclasses import replace

import math
import random

import orjson
import pyarrow as pa
import pytest
from offline_events_fixture import DATASET_ID, TOKEN, make_row, sha

from sync.config import parse_config
from sync.destination import (BODY_PART_BYTES, ConversionsApiDestination, DestinationError, body_tail, request_body,
                              request_body_parts)
from sync.emulator import ConversionsApiEmulator, Faults
from sync.events import COPIES_COLUMN, EVENT_COLUMNS, USER_DATA_COLUMNS, EventSettings
from tests.support.events_oracle import build_events
from sync.errors import EXIT_DESTINATION_REFUSED, EXIT_RETRIES_EXHAUSTED

import time

NOW = int(time.time())


def destination_config(url: str, **extra):
    lines = "".join(f"  {k}: {v}\n" for k, v in extra.items())
    text = (f"destination:\n  endpoint: {url}\n  dataset_id: '{DATASET_ID}'\n"
            "  access_token: \"{{ env_var('T') }}\"\n"
            "  retry: {max_attempts: 4, base_delay: 0.001, max_delay: 0.01, throttle_base_delay: 0.002, budget_seconds: 2}\n"
            + lines)
    return parse_config(text, "test.yml").destination


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("T", TOKEN)


@pytest.fixture
def emulator():
    with ConversionsApiEmulator(access_token=TOKEN, clock=lambda: NOW) as emu:
        yield emu


def events(n: int) -> list[bytes]:
    rows = [make_row(i, NOW - 3600) for i in range(n)]
    chunk = {c: [r[c] for r in rows] for c in EVENT_COLUMNS + USER_DATA_COLUMNS}
    chunk["value"] = [float(v) for v in chunk["value"]]
    chunk[COPIES_COLUMN] = [1] * n
    built = build_events(chunk, EventSettings(now=NOW))
    return [orjson.dumps(e) for e in built.events]


def test_accepts_batch_token_only_in_header(emulator):
    encoded = events(20)
    with ConversionsApiDestination(destination_config(emulator.url, test_event_code="TEST1")) as dest:
        delivery = dest.deliver(encoded)
    assert delivery.accepted == [(0, 20, emulator.accepted_batches()[0].fbtrace_id)]
    assert delivery.accepted_count == 20
    assert delivery.requests == 1 and delivery.rejected == [] and delivery.error is None
    assert emulator.accepted_event_ids() == [orjson.loads(e)["event_id"] for e in encoded]
    record = emulator.requests[0]
    assert record.path == f"/v26.0/{DATASET_ID}/events"
    assert record.token_source == "header" and record.had_token_in_url is False
    assert record.query_keys == []
    assert emulator.accepted_batches()[0].parameters.get("test_event_code") == "TEST1"


def test_exact_body(emulator):
    config = destination_config(emulator.url, partner_agent="capi-sync", upload_tag="stores")
    body = request_body([b'{"a":1}', b'{"b":2}'], body_tail(config))
    assert body == b'{"data":[{"a":1},{"b":2}],"partner_agent":"capi-sync","upload_tag":"stores"}'


def test_an_arrow_batch_is_sent_as_the_same_body(emulator):
    """The runner hands batches over as Arrow binary arrays (slices of a read's chunk):
    the request body is byte for byte the one a list of the same bytes makes."""
    encoded = events(30)
    arrow = pa.array([b"x"] * 5 + encoded + [b"y"], pa.binary()).slice(5, 30)
    config = destination_config(emulator.url, test_event_code="TEST1")
    with ConversionsApiDestination(config) as dest:
        assert request_body(arrow, body_tail(config)) == request_body(encoded, body_tail(config))
        delivery = dest.deliver(arrow)
    assert delivery.accepted_count == 30 and delivery.error is None
    assert emulator.accepted_events() == [orjson.loads(e) for e in encoded]
    assert request_body(pa.array([], pa.binary())) == request_body([]) == b'{"data":[]}'


def test_a_large_body_goes_to_the_socket_in_views_of_256_kib(emulator):
    """The joined events of an Arrow batch are handed to httpx as views of at most
    BODY_PART_BYTES of one buffer (h11 copies each part it writes): together, byte for byte
    the body; the emulator parses and accepts every event."""
    encoded = [e[:-1] + b',"pad":"' + b"p" * 1000 + b'"}' for e in events(1000)]
    arrow = pa.array(encoded, pa.binary())
    config = destination_config(emulator.url, upload_tag="stores")
    parts = request_body_parts(arrow, body_tail(config))
    whole, rest = divmod(len(b",".join(encoded)), BODY_PART_BYTES)
    assert whole >= 4 and rest > 0
    assert [len(p) for p in parts[1:-1]] == [BODY_PART_BYTES] * whole + [rest]
    assert all(isinstance(p, memoryview) and p.obj is parts[1].obj for p in parts[1:-1])
    assert b"".join(parts) == request_body(encoded, body_tail(config))
    with ConversionsApiDestination(config) as dest:
        delivery = dest.deliver(arrow)
    assert delivery.accepted_count == 1000 and delivery.requests == 1 and delivery.error is None
    assert emulator.accepted_events() == [orjson.loads(e) for e in encoded]


def test_a_null_event_is_refused_not_sent_as_an_empty_body():
    events = pa.array([b'{"a":1}', None, b'{"b":2}'], pa.binary())
    with pytest.raises(ValueError, match="1 of a request's 3 events are NULL"):
        request_body(events)
    assert request_body(events.slice(2, 1)) == b'{"data":[{"b":2}]}'


@pytest.mark.parametrize("n, bad", [(1000, 1), (1000, 3), (1000, 10), (64, 1)])
def test_split_cost_is_k_log_n(emulator, n, bad):
    encoded = events(n)
    ids = [orjson.loads(e)["event_id"] for e in encoded]
    poisoned = {ids[(i * 7919) % n] for i in range(bad)}
    emulator.set_faults(Faults(poison_event_ids=poisoned))
    with ConversionsApiDestination(destination_config(emulator.url)) as dest:
        delivery = dest.deliver(encoded)
    assert {ids[i] for i, _ in delivery.rejected} == poisoned
    assert delivery.accepted_count == n - bad
    accepted_rows = sorted(i for start, stop, _ in delivery.accepted for i in range(start, stop))
    assert accepted_rows == sorted(set(range(n)) - {i for i, _ in delivery.rejected})
    assert sorted(emulator.accepted_event_ids()) == sorted(set(ids) - poisoned)
    assert all(e.code == 100 and 2804000 <= e.subcode < 2805000 and e.fbtrace_id for _, e in delivery.rejected)
    # Each bad event costs at most 2 requests per level of the halving tree.
    assert delivery.requests <= 1 + 2 * bad * math.ceil(math.log2(n))
    if bad == 1:
        assert 1 + 2 * math.floor(math.log2(n)) <= delivery.requests <= 1 + 2 * math.ceil(math.log2(n))


def test_transient_faults_retried(emulator):
    emulator.set_faults(Faults(script=["server_error", "throttle:17", "drop"]))
    with ConversionsApiDestination(destination_config(emulator.url)) as dest:
        delivery = dest.deliver(events(10))
    assert delivery.accepted_count == 10 and delivery.error is None
    assert delivery.requests == 4 and delivery.retries == 3
    assert len(emulator.accepted_event_ids()) == 10


def test_retry_jitter_leaves_the_programs_random_stream_as_it_was(emulator):
    """An embedding program that seeded `random` draws the same numbers after the sync retried."""
    random.seed(7)
    expected = [random.random() for _ in range(3)]
    random.seed(7)
    emulator.set_faults(Faults(script=["server_error", "server_error"]))
    with ConversionsApiDestination(destination_config(emulator.url)) as dest:
        assert dest.deliver(events(3)).retries == 2
    assert [random.random() for _ in range(3)] == expected


def test_retries_exhausted(emulator):
    emulator.set_faults(Faults(server_error_rate=1.0))
    with ConversionsApiDestination(destination_config(emulator.url)) as dest:
        delivery = dest.deliver(events(5))
    assert delivery.accepted == [] and isinstance(delivery.error, DestinationError)
    assert delivery.error.exit_code == EXIT_RETRIES_EXHAUSTED
    assert delivery.requests == 4
    assert str(delivery.error).startswith("gave up after 4 attempts: temporary API error")


def test_budget_exhausted_before_attempts(emulator):
    emulator.set_faults(Faults(throttle_rate=1.0))
    config = destination_config(emulator.url)
    config = replace(config, retry=replace(config.retry, max_attempts=100, throttle_base_delay=1.0,
                                           budget_seconds=0.5))
    with ConversionsApiDestination(config, sleep=lambda s: None) as dest:
        delivery = dest.deliver(events(5))
    assert delivery.error.exit_code == EXIT_RETRIES_EXHAUSTED
    assert "retry budget of 0.5 s used up" in str(delivery.error)
    assert delivery.requests < 100


def test_bad_token_is_permanent_no_retry(emulator, monkeypatch):
    monkeypatch.setenv("T", "wrong-token-value")
    with ConversionsApiDestination(destination_config(emulator.url)) as dest:
        delivery = dest.deliver(events(5))
    assert delivery.requests == 1
    assert delivery.error.exit_code == EXIT_DESTINATION_REFUSED
    assert str(delivery.error).startswith("destination.access_token: the access token was refused")
    assert "wrong-token-value" not in str(delivery.error)


def test_unknown_dataset_names_the_key():
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids=["42"]) as emu:
        with ConversionsApiDestination(destination_config(emu.url)) as dest:
            delivery = dest.deliver(events(2))
    assert delivery.requests == 1
    assert str(delivery.error).startswith("destination.dataset_id: the dataset does not exist")


def test_unreachable_endpoint_is_transient_and_scrubbed():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with ConversionsApiDestination(destination_config(f"http://127.0.0.1:{port}")) as dest:
        delivery = dest.deliver(events(2))
    assert delivery.error.exit_code == EXIT_RETRIES_EXHAUSTED
    assert str(delivery.error).startswith(f"destination.endpoint: gave up after 4 attempts: connection to "
                                          f"http://127.0.0.1:{port}/v26.0/{DATASET_ID}/events failed (ConnectError")
    assert TOKEN not in str(delivery.error)


def test_appsecret_proof_in_body(monkeypatch):
    monkeypatch.setenv("S", "app-secret-xyz")
    with ConversionsApiEmulator(access_token=TOKEN, app_secret="app-secret-xyz", clock=lambda: NOW) as emu:
        config = destination_config(emu.url, app_secret="\"{{ env_var('S') }}\"")
        with ConversionsApiDestination(config) as dest:
            delivery = dest.deliver(events(3))
        assert delivery.accepted_count == 3
        assert emu.requests[0].had_appsecret_proof is True


def test_sha_helper_sanity():
    assert sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
