"""Fault injection settings (`Faults`) and the per-request draw (`FaultPlan`)."""
from __future__ import annotations

import math

import random
import threading
from dataclasses import dataclass, field, fields

from . import graph_errors

FAULT_KINDS = ("ok", "server_error", "throttle", "drop", "drop_after_accept", "timeout", "bad_token", "graph_error")
_RATE_FIELDS = ("server_error_rate", "throttle_rate", "drop_rate", "drop_after_accept_rate", "timeout_rate",
                "graph_error_rate")
GRAPH_ERROR_SPEC = "CODE[:SUBCODE][:transient|:permanent][:http=STATUS]"


@dataclass(frozen=True)
class GraphErrorSpec:
    """An injected Graph error: "10", "100:33", "2:transient", "9999:permanent:http=403"."""

    code: int
    subcode: int | None = None
    is_transient: bool | None = None   # None: Graph's default for the code
    http_status: int | None = None     # None: 500/503 for codes 1/2, else 400

    @classmethod
    def parse(cls, spec: str) -> "GraphErrorSpec":
        if not isinstance(spec, str):
            raise ValueError(f"faults: a graph error must be text like 100:33, got {spec!r}")
        parts = spec.split(":")
        if not parts[0].isdigit():
            raise ValueError(f"faults: graph error {spec!r}: expected {GRAPH_ERROR_SPEC}")
        code, subcode, transient, status = int(parts[0]), None, None, None
        for i, part in enumerate(parts[1:], start=1):
            if i == 1 and part.isdigit():
                subcode = int(part)
            elif part in ("transient", "permanent") and transient is None:
                transient = part == "transient"
            elif part.startswith("http=") and status is None and part[5:].isdigit() and 100 <= int(part[5:]) <= 599:
                status = int(part[5:])
            else:
                raise ValueError(f"faults: graph error {spec!r}: unexpected {part!r} (expected {GRAPH_ERROR_SPEC}, "
                                 "HTTP status 100-599)")
        return cls(code, subcode, transient, status)


@dataclass
class Faults:
    """What goes wrong, per request to /events.

    Rates are probabilities per request (their sum at most 1). `script` lists fault kinds
    consumed one per request before any random fault; an entry may carry a code, e.g.
    "throttle:17" or "server_error:2"; "graph_error:<spec>" answers any Graph error, spec
    CODE[:SUBCODE][:transient|:permanent][:http=STATUS] (e.g. "graph_error:100:33").
    `graph_error_rate` answers the error `graph_error` (a spec) at random. Requests holding an id of `poison_event_ids` are
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
    graph_error_rate: float = 0.0
    graph_error: str | None = None

    def __post_init__(self) -> None:
        self.script = list(self.script)
        self.poison_event_ids = set(self.poison_event_ids)
        for name in ("latency_ms", "timeout_seconds", *_RATE_FIELDS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"faults: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"faults: {name} must be a finite number, got {value!r}")
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
        if self.graph_error is not None:
            GraphErrorSpec.parse(self.graph_error)
        elif self.graph_error_rate:
            raise ValueError("faults: graph_error_rate needs graph_error (the error to answer, e.g. 10 or 100:33)")
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


def parse_script_entry(entry: str) -> tuple[str, int | GraphErrorSpec | None]:
    """"throttle:17" -> ("throttle", 17); "drop" -> ("drop", None);
    "graph_error:100:33" -> ("graph_error", GraphErrorSpec(100, 33))."""
    if not isinstance(entry, str):
        raise ValueError(f"faults: script entries must be strings, got {entry!r}")
    kind, _, code = entry.partition(":")
    if kind not in FAULT_KINDS:
        raise ValueError(f"faults: unknown script entry {entry!r} (kinds: {', '.join(FAULT_KINDS)})")
    if kind == "graph_error":
        if not code:
            raise ValueError(f"faults: script entry {entry!r}: graph_error takes {GRAPH_ERROR_SPEC}, "
                             "e.g. graph_error:10")
        return kind, GraphErrorSpec.parse(code)
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
    error: GraphErrorSpec | None = None   # kind "graph_error"


class FaultPlan:
    """Thread-safe: draws the fault of each request from the script, then from the seeded rates."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.set(faults)

    def set(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._script = [parse_script_entry(entry) for entry in faults.script]
            self._graph_error = None if faults.graph_error is None else GraphErrorSpec.parse(faults.graph_error)
            self._rng = random.Random(faults.seed)

    def draw(self) -> Fault:
        with self._lock:
            if self._script:
                kind, detail = self._script.pop(0)
                return self._complete(kind, detail, scripted=True)
            f = self.faults
            if not (f.server_error_rate or f.throttle_rate or f.drop_rate
                    or f.drop_after_accept_rate or f.timeout_rate or f.graph_error_rate):
                return Fault("ok")
            u = self._rng.random()
            for kind, rate in (("server_error", f.server_error_rate), ("throttle", f.throttle_rate),
                               ("drop", f.drop_rate), ("drop_after_accept", f.drop_after_accept_rate),
                               ("timeout", f.timeout_rate), ("graph_error", f.graph_error_rate)):
                if u < rate:
                    return self._complete(kind, self._graph_error if kind == "graph_error" else None, scripted=False)
                u -= rate
            return Fault("ok")

    def _complete(self, kind: str, detail: int | GraphErrorSpec | None, scripted: bool) -> Fault:
        if isinstance(detail, GraphErrorSpec):
            return Fault(kind, detail.code, scripted, error=detail)
        code = detail
        if kind == "throttle" and code is None:
            code = self._rng.choice(graph_errors.THROTTLING_CODES)
        elif kind == "server_error" and code is None:
            code = self._rng.choice((1, 2))
        return Fault(kind, code, scripted)
