"""Throughput sanity: many 1,000-event bodies over reused connections, all counted (no timing asserts)."""
from __future__ import annotations

import http.client
import threading

import orjson
import pytest
from emulator_helpers import DATASET, TOKEN, make_event

from sync.emulator import ConversionsApiEmulator


@pytest.mark.parametrize("validate", [True, False], ids=["validation on", "validation off"])
def test_parallel_1000_event_bodies_are_all_counted(validate):
    events = [make_event(i) for i in range(1000)]
    body = orjson.dumps({"data": events})
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    statuses: list[int] = []

    with ConversionsApiEmulator(access_token=TOKEN, validate=validate, keep="ids") as emu:
        def send(n: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
            for _ in range(n):
                connection.request("POST", f"/v24.0/{DATASET}/events", body=body, headers=headers)
                response = connection.getresponse()
                assert orjson.loads(response.read())["events_received"] == 1000
                statuses.append(response.status)
            connection.close()

        threads = [threading.Thread(target=send, args=(6,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 18
        assert emu.events_received == 18_000
        ids = emu.accepted_event_ids()
        assert len(ids) == 18_000 and set(ids) == {e["event_id"] for e in events}
