"""The emulator's control API under /_emulator/ (docs/emulator.md): what a test in another
process reads (events, requests, stats) and sets (faults, reset)."""
from __future__ import annotations

from urllib.parse import urlsplit

import orjson

from .faults import Faults
from .http_server import send_json


def answer_control(emulator, handler, method: str, body: bytes) -> None:
    split = urlsplit(handler.path)
    name = split.path[len("/_emulator/"):].strip("/")
    try:
        if method == "GET" and name == "health":
            payload = {"ok": True, "validate": emulator.validate, "keep": emulator.keep, "now": emulator._clock()}
        elif method == "GET" and name == "events":
            events = emulator.accepted_events()
            payload = {"count": len(events), "events": events}
        elif method == "GET" and name == "event_ids":
            ids = emulator.accepted_event_ids()
            payload = {"count": len(ids), "event_ids": ids}
        elif method == "GET" and name == "batches":
            payload = {"batches": [batch.to_dict() for batch in emulator.accepted_batches()]}
        elif method == "GET" and name == "requests":
            payload = {"requests": [record.to_dict() for record in emulator.requests]}
        elif method == "GET" and name == "stats":
            payload = emulator.stats()
        elif method == "GET" and name == "faults":
            payload = emulator.faults.to_dict()
        elif method == "POST" and name == "faults":
            emulator.set_faults(Faults.from_dict(orjson.loads(body or b"{}")))
            payload = emulator.faults.to_dict()
        elif method == "POST" and name == "reset":
            emulator.reset()
            payload = {"ok": True}
        else:
            send_json(handler, 404, {"error": {"message": f"no control endpoint {method} {split.path}"}})
            return
    except (ValueError, TypeError, RuntimeError) as exc:  # orjson.JSONDecodeError is a ValueError
        send_json(handler, 400, {"error": {"message": str(exc)}})
        return
    send_json(handler, 200, payload)
