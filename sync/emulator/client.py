"""EmulatorClient: drive an emulator running in another process through its control API."""
from __future__ import annotations

import json
import urllib.request

from .faults import Faults


class EmulatorClient:
    """`EmulatorClient("http://127.0.0.1:8716").accepted_event_ids()` and friends, over HTTP."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, name: str, payload: dict | None = None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}/_emulator/{name}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def health(self) -> dict:
        return self._call("GET", "health")

    def accepted_events(self) -> list[dict]:
        return self._call("GET", "events")["events"]

    def accepted_event_ids(self) -> list[str]:
        return self._call("GET", "event_ids")["event_ids"]

    def batches(self) -> list[dict]:
        return self._call("GET", "batches")["batches"]

    def requests(self) -> list[dict]:
        return self._call("GET", "requests")["requests"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def faults(self) -> Faults:
        return Faults.from_dict(self._call("GET", "faults"))

    def set_faults(self, faults: Faults) -> Faults:
        return Faults.from_dict(self._call("POST", "faults", faults.to_dict()))

    def reset(self) -> None:
        self._call("POST", "reset", {})
