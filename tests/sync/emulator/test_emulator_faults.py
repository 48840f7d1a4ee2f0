"""Fault injection: each kind, scripts, seeded rates, poison ids, changing faults at run time."""
from __future__ import annotations

import time

import httpx
import pytest
from emulator_helpers import DATASET, TOKEN, make_event, post_events

from sync.emulator import ConversionsApiEmulator, EmulatorClient, Faults


def emulator_with(faults: Faults, **kwargs) -> ConversionsApiEmulator:
    return ConversionsApiEmulator(access_token=TOKEN, faults=faults, **kwargs)


@pytest.mark.parametrize("entry, status, code", [
    ("server_error:1", 500, 1), ("server_error:2", 503, 2),
    ("throttle:4", 400, 4), ("throttle:17", 400, 17), ("throttle:32", 400, 32), ("throttle:341", 400, 341),
    ("throttle:613", 400, 613), ("throttle:80003", 400, 80003), ("throttle:80004", 400, 80004),
])
def test_transient_errors_from_the_script(client, entry, status, code):
    with emulator_with(Faults(script=[entry])) as emu:
        response = post_events(client, emu, [make_event(1)])
        assert response.status_code == status
        error = response.json()["error"]
        assert (error["code"], error["is_transient"]) == (code, True)
        assert "error_subcode" not in error
        assert emu.accepted_events() == []
        assert emu.requests[0].fault == entry.split(":")[0]
        # the script is used up: the retry goes through
        assert post_events(client, emu, [make_event(1)]).json()["events_received"] == 1
        assert [r.status for r in emu.requests] == [status, 200]
        assert emu.accepted_event_ids() == [make_event(1)["event_id"]]


def test_script_runs_in_order_then_random_faults_apply(client):
    with emulator_with(Faults(script=["ok", "bad_token", "throttle", "ok"])) as emu:
        statuses = [post_events(client, emu, [make_event(i)]) for i in range(5)]
        assert [r.status_code for r in statuses] == [200, 400, 400, 200, 200]
        assert statuses[1].json()["error"]["code"] == 190
        assert statuses[2].json()["error"]["code"] in (4, 17, 32, 341, 613, 80003, 80004)
        assert [r.fault for r in emu.requests] == [None, "bad_token", "throttle", None, None]
        assert emu.accepted_event_ids() == [make_event(i)["event_id"] for i in (0, 3, 4)]


def test_drop_closes_the_connection_without_an_answer(client):
    with emulator_with(Faults(script=["drop"])) as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            post_events(client, emu, [make_event(1)])
        assert emu.accepted_events() == []
        [record] = emu.requests
        assert (record.status, record.fault, record.n_accepted, record.fbtrace_id) == (0, "drop", 0, None)
        assert post_events(client, emu, [make_event(1)]).status_code == 200


def test_drop_after_accept_keeps_the_events_but_never_answers(client):
    with emulator_with(Faults(script=["drop_after_accept"])) as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            post_events(client, emu, [make_event(1), make_event(2)])
        assert emu.accepted_event_ids() == [make_event(1)["event_id"], make_event(2)["event_id"]]
        [record] = emu.requests
        assert (record.status, record.fault, record.n_events, record.n_accepted) == (0, "drop_after_accept", 2, 2)
        # the client resends (same event ids): the emulator keeps both copies, like Meta before dedup
        assert post_events(client, emu, [make_event(1), make_event(2)]).json()["events_received"] == 2
        assert len(emu.accepted_event_ids()) == 4


def test_timeout_stalls_longer_than_the_client_waits(client):
    with emulator_with(Faults(script=["timeout"], timeout_seconds=2.0)) as emu:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"{emu.url}/v24.0/{DATASET}/events", json={"data": [make_event(1)]},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 1.5
        assert emu.accepted_events() == []
        assert [(r.status, r.fault) for r in emu.requests] == [(0, "timeout")]
    # close() does not wait for the stalled request to finish


def test_latency_delays_every_answer(client):
    with emulator_with(Faults(latency_ms=150)) as emu:
        started = time.monotonic()
        assert post_events(client, emu, [make_event(1)]).status_code == 200
        assert time.monotonic() - started >= 0.15
        assert emu.requests[0].duration_ms >= 150


def test_seeded_rates_are_reproducible(client):
    faults = Faults(server_error_rate=0.2, throttle_rate=0.2, drop_rate=0.1, seed=7)
    runs = []
    for _ in range(2):
        with emulator_with(faults) as emu:
            for i in range(40):
                try:
                    post_events(client, emu, [make_event(i)])
                except httpx.RemoteProtocolError:
                    pass
            runs.append([r.fault for r in emu.requests])
    assert runs[0] == runs[1]
    kinds = set(runs[0])
    assert kinds == {None, "server_error", "throttle", "drop"}
    assert 40 - runs[0].count(None) >= 8  # ~50% faults expected; 8 is far below


def test_rates_of_one_always_fail(client):
    with emulator_with(Faults(throttle_rate=1.0)) as emu:
        codes = [post_events(client, emu, [make_event(i)]).json()["error"]["code"] for i in range(10)]
        assert set(codes) <= {4, 17, 32, 341, 613, 80003, 80004}
        assert emu.accepted_events() == []


def test_poison_event_ids_reject_the_request_naming_the_event(client):
    bad = make_event(2)
    with emulator_with(Faults(poison_event_ids={bad["event_id"]})) as emu:
        response = post_events(client, emu, [make_event(1), bad, make_event(3)])
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["error_subcode"], error["is_transient"]) == (100, 2804090, False)
        assert f"data[1] (event_id {bad['event_id']})" in error["message"]
        assert emu.accepted_events() == []
        # the halves without the poisoned event go through
        assert post_events(client, emu, [make_event(1)]).status_code == 200
        assert post_events(client, emu, [make_event(3)]).status_code == 200
        assert emu.accepted_event_ids() == [make_event(1)["event_id"], make_event(3)["event_id"]]


def test_poison_applies_without_validation_too(client):
    with emulator_with(Faults(poison_event_ids={"x"}), validate=False) as emu:
        response = post_events(client, emu, [{"event_id": "y"}, {"event_id": "x"}])
        assert response.json()["error"]["error_subcode"] == 2804090


def test_set_faults_at_run_time(emulator, client):
    assert post_events(client, emulator, [make_event(1)]).status_code == 200
    emulator.set_faults(Faults(script=["server_error:2"]))
    assert post_events(client, emulator, [make_event(2)]).status_code == 503
    assert post_events(client, emulator, [make_event(2)]).status_code == 200
    emulator.set_faults(Faults())
    assert emulator.faults == Faults()


def test_control_api_drives_faults_and_reads_state(emulator, client):
    control = EmulatorClient(emulator.url)
    assert control.health()["ok"] is True
    applied = control.set_faults(Faults(script=["throttle:613"], poison_event_ids={"p"}, latency_ms=1))
    assert applied == Faults(script=["throttle:613"], poison_event_ids={"p"}, latency_ms=1)
    assert emulator.faults == applied
    assert post_events(client, emulator, [make_event(1)]).json()["error"]["code"] == 613
    assert post_events(client, emulator, [make_event(1)]).status_code == 200
    assert control.accepted_event_ids() == [make_event(1)["event_id"]]
    assert control.accepted_events() == emulator.accepted_events()
    assert [r["status"] for r in control.requests()] == [400, 200]
    assert control.stats() == {"requests": 2, "events_received": 1, "batches": 1, "by_status": {"400": 1, "200": 1},
                               "in_progress": 0}
    assert control.batches()[0]["dataset_id"] == DATASET
    control.reset()
    assert control.accepted_event_ids() == [] and emulator.requests == []


@pytest.mark.parametrize("payload, message", [
    ({"drop_rate": 2}, "drop_rate is a probability between 0 and 1"),
    ({"drop_rate": 0.6, "throttle_rate": 0.6}, "the rates add up to 1.2"),
    ({"script": ["explode"]}, "unknown script entry 'explode'"),
    ({"script": ["drop:3"]}, "only throttle:<code> and server_error:<1|2> take a code"),
    ({"latency": 3}, "unknown key 'latency'"),
    ({"latency_ms": "slow"}, "latency_ms must be a number"),
])
def test_control_api_rejects_bad_faults(emulator, client, payload, message):
    response = client.post(f"{emulator.url}/_emulator/faults", json=payload)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert emulator.faults == Faults()


@pytest.mark.parametrize("entry, status, error", [
    ("graph_error:10", 400, {"message": "(#10) Application does not have permission for this action",
                             "type": "OAuthException", "code": 10, "is_transient": False}),
    ("graph_error:200", 400, {"message": "(#200) Permissions error", "type": "OAuthException", "code": 200,
                              "is_transient": False}),
    ("graph_error:299", 400, {"message": "(#299) Permissions error", "type": "OAuthException", "code": 299,
                              "is_transient": False}),
    ("graph_error:104", 400, {"message": "An access token is required to request this resource.",
                              "type": "OAuthException", "code": 104, "is_transient": False}),
    ("graph_error:190:463", 400, {"message": "Invalid OAuth access token - Cannot parse access token",
                                  "type": "OAuthException", "code": 190, "error_subcode": 463,
                                  "is_transient": False}),
    ("graph_error:100:33", 400, {"message": f"Unsupported post request. Object with ID '{DATASET}' does not exist, "
                                            "cannot be loaded due to missing permissions, or does not support this "
                                            "operation.",
                                 "type": "GraphMethodException", "code": 100, "error_subcode": 33,
                                 "is_transient": False}),
    ("graph_error:2", 503, {"message": "An unexpected error has occurred. Please retry your request later.",
                            "type": "OAuthException", "code": 2, "is_transient": True}),
    ("graph_error:2:permanent", 503, {"message": "An unexpected error has occurred. Please retry your request "
                                                 "later.", "type": "OAuthException", "code": 2,
                                      "is_transient": False}),
    ("graph_error:613:http=429", 429, {"message": "(#613) Calls to this api have exceeded the rate limit.",
                                       "type": "OAuthException", "code": 613, "is_transient": True}),
    ("graph_error:9999:transient", 400, {"message": "(#9999) An error occurred (code 9999 injected by the emulator)",
                                         "type": "OAuthException", "code": 9999, "is_transient": True}),
    ("graph_error:368:7:http=403", 403, {"message": "(#368) An error occurred (code 368 injected by the emulator)",
                                         "type": "OAuthException", "code": 368, "error_subcode": 7,
                                         "is_transient": False}),
])
def test_graph_error_answers_any_code_in_graphs_shape(client, entry, status, error):
    with emulator_with(Faults(script=[entry])) as emu:
        response = post_events(client, emu, [make_event(1)])
        assert response.status_code == status
        body = response.json()
        trace = body["error"].pop("fbtrace_id")
        assert body == {"error": error}
        assert response.headers["x-fb-trace-id"] == trace and len(trace) == 23
        assert list(body["error"])[:3] == ["message", "type", "code"]
        [record] = emu.requests
        assert (record.status, record.fault, record.error_code, record.error_subcode, record.fbtrace_id) == (
            status, "graph_error", error["code"], error.get("error_subcode"), trace)
        assert emu.accepted_events() == []
        assert post_events(client, emu, [make_event(1)]).status_code == 200   # one request per entry


def test_graph_error_comes_after_the_token_check(client):
    with emulator_with(Faults(script=["graph_error:10"])) as emu:
        assert post_events(client, emu, [make_event(1)], token="wrong").json()["error"]["code"] == 190
        assert post_events(client, emu, [make_event(1)]).status_code == 200


def test_graph_error_rate_answers_the_configured_error(client):
    with emulator_with(Faults(graph_error="100:33", graph_error_rate=1.0)) as emu:
        codes = [(lambda e: (e["code"], e["error_subcode"]))(post_events(client, emu, [make_event(i)]).json()["error"])
                 for i in range(5)]
        assert codes == [(100, 33)] * 5
        assert [r.fault for r in emu.requests] == ["graph_error"] * 5
    with emulator_with(Faults(graph_error="10", graph_error_rate=0.5, seed=3)) as emu:
        statuses = [post_events(client, emu, [make_event(i)]).status_code for i in range(40)]
        assert set(statuses) == {200, 400} and 8 <= statuses.count(400) <= 32
        assert [r.error_code for r in emu.requests if r.status == 400] == [10] * statuses.count(400)


def test_adding_a_graph_error_rate_keeps_the_other_draws(client):
    """graph_error is drawn last: the faults of a seed stay the same when it is added."""
    runs = []
    for extra in ({}, {"graph_error": "10", "graph_error_rate": 0.2}):
        with emulator_with(Faults(throttle_rate=0.2, server_error_rate=0.2, seed=11, **extra)) as emu:
            for i in range(30):
                post_events(client, emu, [make_event(i)])
            runs.append([r.fault for r in emu.requests])
    assert [f if f != "graph_error" else None for f in runs[1]] == runs[0]
    assert "graph_error" in runs[1]


@pytest.mark.parametrize("faults, message", [
    ({"script": ["graph_error"]}, "faults: script entry 'graph_error': graph_error takes "
                                  "CODE[:SUBCODE][:transient|:permanent][:http=STATUS], e.g. graph_error:10"),
    ({"script": ["graph_error:ten"]}, "faults: graph error 'ten': expected "
                                      "CODE[:SUBCODE][:transient|:permanent][:http=STATUS]"),
    ({"script": ["graph_error:10:http=600"]}, "faults: graph error '10:http=600': unexpected 'http=600' (expected "
                                              "CODE[:SUBCODE][:transient|:permanent][:http=STATUS], HTTP status "
                                              "100-599)"),
    ({"script": ["graph_error:10:transient:permanent"]}, "faults: graph error '10:transient:permanent': unexpected "
                                                         "'permanent' (expected CODE[:SUBCODE][:transient|:permanent]"
                                                         "[:http=STATUS], HTTP status 100-599)"),
    ({"graph_error_rate": 0.1}, "faults: graph_error_rate needs graph_error (the error to answer, e.g. 10 or 100:33)"),
    ({"graph_error": "10", "graph_error_rate": 0.6, "throttle_rate": 0.6}, "faults: the rates add up to 1.2, more "
                                                                           "than 1"),
])
def test_bad_graph_error_settings_are_refused(faults, message):
    with pytest.raises(ValueError) as excinfo:
        Faults(**faults)
    assert str(excinfo.value) == message


def test_graph_error_through_the_control_api(emulator, client):
    control = EmulatorClient(emulator.url)
    assert control.set_faults(Faults(script=["graph_error:200"], graph_error="1:permanent")).graph_error == \
        "1:permanent"
    assert control.faults().script == ["graph_error:200"]
    assert post_events(client, emulator, [make_event(1)]).json()["error"]["code"] == 200
    bad = client.post(f"{emulator.url}/_emulator/faults", json={"script": ["graph_error:abc"]})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == ("faults: graph error 'abc': expected "
                                              "CODE[:SUBCODE][:transient|:permanent][:http=STATUS]")


def test_in_progress_counts_requests_not_yet_decided(client):
    """stats()["in_progress"]: read but not yet accepted or refused (latency included); a
    timeout's stall after the decision is not counted."""
    import threading
    with emulator_with(Faults(latency_ms=400, script=["ok", "timeout"], timeout_seconds=3)) as emu:
        sender = threading.Thread(target=post_events, args=(client, emu, [make_event(1)]))
        sender.start()
        deadline = time.monotonic() + 2
        while emu.stats()["in_progress"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert emu.stats()["in_progress"] == 1 and emu.accepted_events() == []
        sender.join()
        assert emu.stats()["in_progress"] == 0 and len(emu.accepted_events()) == 1
        stalled = threading.Thread(target=lambda: pytest.raises(httpx.ReadTimeout, client.post,
                                                                f"{emu.url}/v24.0/{DATASET}/events",
                                                                json={"data": [make_event(2)]},
                                                                headers={"Authorization": f"Bearer {TOKEN}"},
                                                                timeout=1.0))
        stalled.start()
        time.sleep(0.6)   # past the latency: decided (timeout), now stalling
        assert emu.stats()["in_progress"] == 0 and [r.fault for r in emu.requests] == [None, "timeout"]
        stalled.join()
