"""Send batches of events to the Conversions API: `POST {endpoint}/{version}/{dataset_id}/events`,
retrying transient failures and splitting a batch to isolate invalid events (docs/sync.md)."""
from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import httpx
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sync.config import DestinationConfig
from sync.errors import EXIT_DESTINATION_REFUSED, EXIT_RETRIES_EXHAUSTED, SyncError
from sync.events import value_offsets
from sync.graph_errors import INVALID_EVENT, PERMANENT, THROTTLED, TRANSIENT, GraphError, classify_graph_error
from sync.redact import Redactor
from sync.retry import RetryBudget, RetryPolicy

USER_AGENT = "capi-sync/0.1"


def body_tail(config: DestinationConfig) -> bytes:
    """The encoded top-level keys after `data`: test_event_code, partner_agent, upload_tag,
    appsecret_proof (an HMAC of the token, never the token)."""
    top = {key: getattr(config, key) for key in ("test_event_code", "partner_agent", "upload_tag")}
    top["appsecret_proof"] = config.appsecret_proof()
    return b"".join(b"," + orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in top.items() if v is not None)


# The most bytes of a request body that h11 copies at once (`request_body_parts`).
BODY_PART_BYTES = 256 * 1024


def request_body_parts(encoded_events: Sequence[bytes] | pa.Array, tail: bytes = b"") -> tuple:
    """`{"data":[...], ...tail}` from orjson-encoded events (bytes, or an Arrow binary array
    without NULLs) as parts: the head, the joined events (views of BODY_PART_BYTES), the tail."""
    if isinstance(encoded_events, pa.Array):
        joined = memoryview(_comma_joined(encoded_events))
        views = tuple(joined[i:i + BODY_PART_BYTES] for i in range(0, len(joined), BODY_PART_BYTES))
        return b'{"data":[', *views, b"]" + tail + b"}"
    return b'{"data":[', b",".join(encoded_events), b"]" + tail + b"}"


def request_body(encoded_events: Sequence[bytes] | pa.Array, tail: bytes = b"") -> bytes:
    """The request body as one bytes object (`request_body_parts` joined)."""
    return b"".join(request_body_parts(encoded_events, tail))


def _comma_joined(events: pa.Array) -> pa.Buffer | bytes:
    """The events joined by commas: a slice of the buffer `pc.binary_join` wrote them into (not a
    Scalar, whose bytes pyarrow would copy; docs/benchmarks.md)."""
    if len(events) == 0:
        return b""
    if events.null_count:   # binary_join would make the whole body NULL
        raise ValueError(f"{events.null_count} of a request's {len(events)} events are NULL")
    one_list = pa.ListArray.from_arrays(pa.array([0, len(events)], pa.int32()), events)
    joined = pc.binary_join(one_list, b",")
    start, end = value_offsets(joined)
    return joined.buffers()[2].slice(int(start), int(end - start))


def graph_client(config: DestinationConfig, **options) -> httpx.Client:
    """An HTTP client for the Graph API: the token in the Authorization header only, no redirect."""
    loopback = config.is_loopback
    return httpx.Client(
        timeout=httpx.Timeout(config.timeout.read, connect=config.timeout.connect),
        headers={"Authorization": f"Bearer {config.access_token.get_secret_value()}", "User-Agent": USER_AGENT,
                 **options.pop("headers", {})},
        # TLS verification is always on, except plain http to a loopback host (nothing to verify).
        verify=not (loopback and config.endpoint.startswith("http://")),
        # Loopback (the local emulator): never route through a proxy from the environment.
        trust_env=not loopback,
        follow_redirects=False, **options)


class StoppedError(SyncError):
    """The run is stopping; this batch gave up instead of retrying."""


class DestinationError(SyncError):
    """A permanent refusal or an exhausted retry budget; carries the classified error."""

    def __init__(self, error: GraphError | None, message: str, exhausted: bool):
        super().__init__(message)
        self.error = error
        self.exit_code = EXIT_RETRIES_EXHAUSTED if exhausted else EXIT_DESTINATION_REFUSED
        self.exhausted = exhausted


@dataclass
class Delivery:
    """What happened to one batch. Indexes refer to the batch's events."""

    # (start, stop, fbtrace_id): the events [start, stop) of the batch, accepted in one request
    accepted: list[tuple[int, int, str | None]] = field(default_factory=list)
    rejected: list[tuple[int, GraphError]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    fbtrace_ids: list[str] = field(default_factory=list)
    error: SyncError | None = None  # set when the batch could not be finished

    @property
    def accepted_count(self) -> int:
        return sum(stop - start for start, stop, _ in self.accepted)


class ConversionsApiDestination:
    def __init__(self, config: DestinationConfig, *, budget: RetryBudget | None = None,
                 stop: threading.Event | None = None, sleep=None):
        self.policy = RetryPolicy(**asdict(config.retry))
        self.budget = budget or RetryBudget(config.retry.budget_seconds)
        self.stop = stop or threading.Event()
        self._sleep = sleep or self.stop.wait   # stop.wait: a stopping run does not sit out the backoff
        self.url = config.events_url
        self.redact = Redactor(config.secrets())
        self._tail = body_tail(config)
        self._client = graph_client(config, limits=httpx.Limits(max_connections=config.concurrency + 2,
                                                                max_keepalive_connections=config.concurrency + 2),
                                    headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- one request, with retries -----------------------------------------------------

    def _post(self, parts: tuple, n_events: int) -> tuple[str | None, GraphError | None]:
        """One HTTP attempt with the body `parts` (`request_body_parts`): (fbtrace_id, None)
        on acceptance, else (None, classified error)."""
        try:
            # An iterator of the parts, not bytes: docs/sync.md, How the DuckDB source reads.
            response = self._client.post(self.url, content=iter(parts),
                                         headers={"Content-Length": str(sum(len(p) for p in parts))})
        except httpx.TransportError as exc:   # a timeout, or a connection refused or dropped
            name = type(exc).__name__
            message = (f"{self.url} timed out ({name})" if isinstance(exc, httpx.TimeoutException)
                       else f"connection to {self.url} failed ({name}: {self.redact(str(exc))[:200]})")
            return None, GraphError(TRANSIENT, message, config_key="destination.endpoint")
        try:
            payload = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and "error" not in payload:
            received = payload.get("events_received")
            if received != n_events:
                return None, GraphError(TRANSIENT, f"the API acknowledged {received} of {n_events} events",
                                        fbtrace_id=payload.get("fbtrace_id"), http_status=200)
            return payload.get("fbtrace_id"), None
        error = classify_graph_error(response.status_code, payload)
        return None, replace(error, message=self.redact(error.message))

    def send(self, encoded_events: Sequence[bytes] | pa.Array,
             delivery: Delivery) -> tuple[str | None, GraphError | None]:
        """Send one request, retrying transient failures: (fbtrace_id, None) on acceptance, (None, error)
        for an invalid event in it; raises DestinationError (the run must stop) or StoppedError."""
        parts = request_body_parts(encoded_events, self._tail)
        for attempt in itertools.count(1):
            if self.stop.is_set():   # another batch hit a permanent error or the budget: no new requests
                raise StoppedError("the run is stopping")
            delivery.requests += 1
            trace, error = self._post(parts, len(encoded_events))
            if error is None:
                if trace:
                    delivery.fbtrace_ids.append(trace)
                return trace, None
            if error.fbtrace_id:
                delivery.fbtrace_ids.append(error.fbtrace_id)
            if error.kind == INVALID_EVENT:   # deliver splits the request
                return None, error
            if error.kind == PERMANENT:
                raise DestinationError(error, error.describe(), exhausted=False)
            if attempt >= self.policy.max_attempts:   # transient or throttled
                raise DestinationError(error, error.describe(f"gave up after {attempt} attempts: "),
                                       exhausted=True)
            delay = self.policy.backoff(attempt, error.kind == THROTTLED)
            if self.stop.is_set():
                raise StoppedError("the run is stopping")
            if not self.budget.take(delay):
                note = f"retry budget of {self.policy.budget_seconds:g} s used up; last error: "
                raise DestinationError(error, error.describe(note), exhausted=True)
            delivery.retries += 1
            self._sleep(delay)   # a stop meanwhile raises StoppedError at the top of the loop

    # --- one batch, split on invalid events --------------------------------------------

    def deliver(self, encoded_events: Sequence[bytes] | pa.Array) -> Delivery:
        """Deliver a batch (a list of encoded events, or an Arrow binary array of them);
        isolate invalid events by splitting (O(k log n) extra requests)."""
        delivery = Delivery()
        ranges = [(0, len(encoded_events))]
        while ranges:
            lo, hi = ranges.pop()
            try:
                trace, invalid = self.send(encoded_events[lo:hi], delivery)
            except SyncError as exc:   # DestinationError or StoppedError
                self.stop.set()   # stop every sending thread now: no retry storm
                delivery.error = exc
                return delivery
            if invalid is None:
                delivery.accepted.append((lo, hi, trace))
            elif hi - lo == 1:
                delivery.rejected.append((lo, invalid))
            else:
                mid = (lo + hi) // 2
                ranges.append((mid, hi))
                ranges.append((lo, mid))
        return delivery
