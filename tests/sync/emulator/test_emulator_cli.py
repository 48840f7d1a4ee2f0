"""`python -m sync.emulator` (the same CLI as `capi-sync emulator`) as a separate process."""
from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from emulator_helpers import make_event

from sync.emulator import EmulatorClient, Faults

REPO = Path(__file__).resolve().parents[3]
SECRET_TOKEN = "cli-token-SECRET-4242"


def start(*args: str, env_token: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CAPI_EMULATOR_ACCESS_TOKEN", None)
    if env_token:
        env["CAPI_EMULATOR_ACCESS_TOKEN"] = env_token
    return subprocess.Popen([sys.executable, "-m", "sync.emulator", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(process: subprocess.Popen, timeout: float = 15) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    assert selector.select(timeout), "the emulator printed nothing"
    return process.stdout.readline()


def test_cli_serves_logs_without_the_token_and_stops_on_sigterm(tmp_path):
    record = tmp_path / "accepted.jsonl"
    process = start("--port", "0", "--record", str(record), "--seed", "3", env_token=SECRET_TOKEN)
    try:
        line = first_line(process)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line).group(1)
        assert "custom token" in line and "validation on" in line
        event = make_event(1)
        with httpx.Client(timeout=10) as client:
            ok = client.post(f"{url}/v24.0/42/events", params={"access_token": SECRET_TOKEN},
                             data={"data": json.dumps([event])})
            assert ok.json()["events_received"] == 1
            bad = client.post(f"{url}/v24.0/42/events", json={"data": [make_event(2, event_time=5)]},
                              headers={"Authorization": f"Bearer {SECRET_TOKEN}"})
            assert bad.json()["error"]["error_subcode"] == 2804003
            control = EmulatorClient(url)
            control.set_faults(Faults(script=["throttle:17"]))
            throttled = client.post(f"{url}/v24.0/42/events", json={"data": [event]},
                                    headers={"Authorization": f"Bearer {SECRET_TOKEN}"})
            assert throttled.json()["error"]["code"] == 17
            assert control.accepted_event_ids() == [event["event_id"]]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0
    lines = out.splitlines()
    assert len(lines) == 3 + 1  # one per request to /events, then the summary
    assert re.fullmatch(r"\d\d:\d\d:\d\d POST /v24\.0/42/events 200 events=1 accepted=1 token-in-url "
                        r"fbtrace_id=\S+ [\d.]+ms", lines[0]), lines[0]
    assert " 400 events=1 accepted=0 error=100/2804003 " in lines[1]
    assert " 400 events=1 accepted=0 error=17 fault=throttle " in lines[2]
    assert lines[3] == "emulator stopped: 3 requests, 1 events accepted"
    assert SECRET_TOKEN not in out + err + line + record.read_text()
    assert [json.loads(x)["event"]["event_id"] for x in record.read_text().splitlines()] == [event["event_id"]]


def test_cli_rejects_bad_fault_options_in_one_line():
    process = start("--port", "0", "--drop-rate", "2")
    out, err = process.communicate(timeout=15)
    assert process.returncode == 2
    assert err == "capi-sync emulator: faults: drop_rate is a probability between 0 and 1, got 2.0\n"


def test_cli_reports_a_busy_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start("--port", str(port))
        out, err = process.communicate(timeout=15)
    assert process.returncode == 2
    assert err.startswith(f"capi-sync emulator: cannot listen on 127.0.0.1:{port}: ")
    assert len(err.splitlines()) == 1


def test_cli_graph_error_and_clock_offset():
    """--script graph_error:..., --graph-error (every request by default) and --clock-offset."""
    process = start("--port", "0", "--script", "graph_error:100:33,graph_error:9999:transient:http=503",
                    "--graph-error", "10", "--clock-offset", "10800", env_token=SECRET_TOKEN)
    try:
        line = first_line(process)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line).group(1)
        assert "clock +10800 s" in line
        control = EmulatorClient(url)
        assert (control.faults().graph_error, control.faults().graph_error_rate) == ("10", 1.0)
        now = time.time()
        assert 10800 <= control.health()["now"] - now < 10800 + 5
        headers = {"Authorization": f"Bearer {SECRET_TOKEN}"}
        with httpx.Client(timeout=10) as client:
            answers = [client.post(f"{url}/v24.0/42/events", json={"data": [make_event(i)]}, headers=headers)
                       for i in range(3)]
            assert [(a.status_code, a.json()["error"]["code"], a.json()["error"].get("error_subcode"),
                     a.json()["error"]["is_transient"]) for a in answers] == [
                (400, 100, 33, False), (503, 9999, None, True), (400, 10, None, False)]
            control.set_faults(Faults())
            # 62 days minus 2 hours old: fine for Meta's clock, too old for one 3 hours ahead.
            stale = make_event(4, event_time=int(now) - 62 * 86400 + 7200)
            old = client.post(f"{url}/v24.0/42/events", json={"data": [stale]}, headers=headers)
            assert old.json()["error"]["error_subcode"] == 2804003
            # 2 hours in the future for Meta's clock is 1 hour in the past for this one: accepted.
            ahead = make_event(5, event_time=int(now) + 7200)
            assert client.post(f"{url}/v24.0/42/events", json={"data": [ahead]}, headers=headers).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert " 400 events=1 accepted=0 error=100/33 fault=graph_error " in lines[0]
    assert " 503 events=1 accepted=0 error=9999 fault=graph_error " in lines[1]
    assert " 400 events=1 accepted=0 error=10 fault=graph_error " in lines[2]


@pytest.mark.parametrize("args, message", [
    (("--graph-error", "10:http=1000"), "capi-sync emulator: faults: graph error '10:http=1000': unexpected "
                                        "'http=1000' (expected CODE[:SUBCODE][:transient|:permanent][:http=STATUS], "
                                        "HTTP status 100-599)\n"),
    (("--graph-error-rate", "0.5"), "capi-sync emulator: faults: graph_error_rate needs graph_error (the error to "
                                    "answer, e.g. 10 or 100:33)\n"),
    (("--clock-offset", "1e12"), "capi-sync emulator: --clock-offset must be seconds within 10 years, "
                                 "got 1000000000000.0\n"),
    (("--drop-rate", "nan"), "capi-sync emulator: faults: drop_rate must be a finite number, got nan\n"),
    (("--record", "/"), "capi-sync emulator: --record: cannot write /: Is a directory\n"),
])
def test_cli_rejects_bad_graph_error_and_clock_options(args, message):
    process = start("--port", "0", *args)
    out, err = process.communicate(timeout=15)
    assert (process.returncode, err) == (2, message)


def test_cli_rejects_a_port_out_of_range():
    process = start("--port", "99999")
    out, err = process.communicate(timeout=15)
    assert process.returncode == 2 and "argument --port: must be 0-65535 (got 99999)" in err
    assert "Traceback" not in err
