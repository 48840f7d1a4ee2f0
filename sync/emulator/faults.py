"""Fault injection settings (`Faults`) and the per-request draw (`FaultPlan`)."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields

from . import graph_errors

FAULT_KINDS = ("ok", "server_error", "throttle", "drop", "drop_after_accept", "timeout", "bad_token")
_RATE_FIELDS = ("server_error_rate", "throttle_rate", "drop_rate", "drop_after_accept_rate", "timeout_rate")


@dataclass
class Faults:
    """What goes wrong, per request to /events.

    Rates are probabilities per request (their sum at most 1). `script` lists fault kinds
    consumed one per request before any random fault; an entry may carry a code, e.g.
    "throttle:17" or "server_error:2". Requests holding an id of `poison_event_ids` are
    rejected as invalid (code 100, subcode 2804090). `timeout` sleeps `timeout_seconds`
    and then closes the connection without answering; nothing is accepted.
    """

    latency_ms: float = 0
    server_error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_accept_rate: float = 0.0
    timeout_rate: float = 0.0
    seed: int = 0
    script: list[str] = field(default_factory=list)
    poison_event_ids: set[str] = field(default_factory=set)
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        self.script = list(self.script)
        self.poison_event_ids = set(self.poison_event_ids)
        for name in ("latency_ms", "timeout_seconds", *_RATE_FIELDS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"faults: {name} must be a number, got {value!r}")
            if value < 0:
                raise ValueError(f"faults: {name} must not be negative, got {value!r}")
        for name in _RATE_FIELDS:
            if getattr(self, name) > 1:
                raise ValueError(f"faults: {name} is a probability between 0 and 1, got {getattr(self, name)!r}")
        total = sum(getattr(self, name) for name in _RATE_FIELDS)
        if total > 1 + 1e-9:
            raise ValueError(f"faults: the rates add up to {total:g}, more than 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"faults: seed must be an integer, got {self.seed!r}")
        for entry in self.script:
            parse_script_entry(entry)
        for event_id in self.poison_event_ids:
            if not isinstance(event_id, str):
                raise ValueError(f"faults: poison_event_ids must be strings, got {event_id!r}")

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["poison_event_ids"] = sorted(self.poison_event_ids)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Faults":
        """Build from JSON (the control endpoint); unknown keys are an error."""
        if not isinstance(data, dict):
            raise ValueError("faults: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"faults: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        data = dict(data)
        for key in ("script", "poison_event_ids"):
            if key in data and not isinstance(data[key], list):
                raise ValueError(f"faults: {key} must be a list")
        return cls(**data)


def parse_script_entry(entry: str) -> tuple[str, int | None]:
    """"throttle:17" -> ("throttle", 17); "drop" -> ("drop", None)."""
    if not isinstance(entry, str):
        raise ValueError(f"faults: script entries must be strings, got {entry!r}")
    kind, _, code = entry.partition(":")
    if kind not in FAULT_KINDS:
        raise ValueError(f"faults: unknown script entry {entry!r} (kinds: {', '.join(FAULT_KINDS)})")
    if not code:
        return kind, None
    if kind not in ("throttle", "server_error") or not code.isdigit():
        raise ValueError(f"faults: script entry {entry!r}: only throttle:<code> and server_error:<1|2> take a code")
    if kind == "server_error" and code not in ("1", "2"):
        raise ValueError(f"faults: script entry {entry!r}: server_error takes code 1 or 2")
    return kind, int(code)


@dataclass(frozen=True)
class Fault:
    """The fault drawn for one request: kind ("ok" when none) and, for errors, the Graph code."""

    kind: str
    code: int | None = None
    scripted: bool = False


class FaultPlan:
    """Thread-safe: draws the fault of each request from the script, then from the seeded rates."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.set(faults)

    def set(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._script = [parse_script_entry(entry) for entry in faults.script]
            self._rng = random.Random(faults.seed)

    @property
    def script_left(self) -> int:
        with self._lock:
            return len(self._script)

    def draw(self) -> Fault:
        with self._lock:
            if self._script:
                kind, code = self._script.pop(0)
                return self._complete(kind, code, scripted=True)
            f = self.faults
            if not (f.server_error_rate or f.throttle_rate or f.drop_rate
                    or f.drop_after_accept_rate or f.timeout_rate):
                return Fault("ok")
            u = self._rng.random()
            for kind, rate in (("server_error", f.server_error_rate), ("throttle", f.throttle_rate),
                               ("drop", f.drop_rate), ("drop_after_accept", f.drop_after_accept_rate),
                               ("timeout", f.timeout_rate)):
                if u < rate:
                    return self._complete(kind, None, scripted=False)
                u -= rate
            return Fault("ok")

    def _complete(self, kind: str, code: int | None, scripted: bool) -> Fault:
        if kind == "throttle" and code is None:
            code = self._rng.choice(graph_errors.THROTTLING_CODES)
        elif kind == "server_error" and code is None:
            code = self._rng.choice((1, 2))
        return Fault(kind, code, scripted)
