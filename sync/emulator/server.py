"""ConversionsApiEmulator: a local HTTP stand-in for the Conversions API `/events` edge.

    with ConversionsApiEmulator(access_token="test-token") as emu:
        post f"{emu.url}/v24.0/<dataset_id>/events"
        emu.accepted_events(), emu.requests, emu.set_faults(Faults(...)), emu.reset()

Standard-library HTTP/1.1 server with keep-alive, one daemon thread per connection
(sync/emulator/http_server.py). Besides the Graph path it answers a small control API under
/_emulator/ (sync/emulator/control.py, docs/emulator.md) so that a test can drive an emulator
running in another process.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import orjson

from . import graph_errors as ge
from .control import answer_control
from .faults import Fault, FaultPlan, Faults
from .graph_errors import GraphError
from .http_server import Handler, Server, send_json
from .quality import QualityLedger, check_request
from .records import AcceptedBatch, RequestRecord
from .request_body import events_of, parse_body, parse_query
from .validation import check_events, check_request_size

DEFAULT_ACCESS_TOKEN = "local-emulator-token"
DEFAULT_PORT = 8716
KEEP_MODES = ("events", "ids", "count")
REQUEST_PARAMETERS = ("test_event_code", "partner_agent", "upload_tag", "namespace_id", "upload_id",
                      "upload_source")
_EVENTS_PATH = re.compile(r"^/(?:(v\d+\.\d+)/)?([^/]+)/events/?$")
_QUALITY_PATH = re.compile(r"^/(?:(v\d+\.\d+)/)?dataset_quality/?$")   # sync/emulator/quality.py


class _Drop(Exception):
    """Close the connection without answering (after stalling `stall_seconds`)."""

    def __init__(self, stall_seconds: float = 0.0) -> None:
        super().__init__()
        self.stall_seconds = stall_seconds


class ConversionsApiEmulator:
    """A real HTTP server on 127.0.0.1 that behaves like POST /{version}/{dataset_id}/events.

    access_token: the only token accepted. app_secret: when set, `appsecret_proof` is required.
    dataset_ids: when given, other dataset ids get code 100 / subcode 33. validate: False skips
    the event rules (only counts, for benchmarks). record_path: accepted events are appended
    there as JSON lines. keep: "events" keeps accepted events in memory, "ids" only their ids,
    "count" only counts. port 0 picks a free port. on_request is called with each RequestRecord.
    """

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        app_secret: str | None = None,
        dataset_ids: list[str] | set[str] | None = None,
        validate: bool = True,
        faults: Faults | None = None,
        record_path: str | os.PathLike | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keep: str = "events",
        clock: Callable[[], float] = time.time,
        on_request: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("emulator: access_token must not be empty")
        if keep not in KEEP_MODES:
            raise ValueError(f"emulator: keep must be one of {', '.join(KEEP_MODES)}, got {keep!r}")
        self.access_token = access_token
        self.app_secret = app_secret
        self.dataset_ids = None if dataset_ids is None else {str(d) for d in dataset_ids}
        self.validate = validate
        self.keep = keep
        self.record_path = Path(record_path) if record_path is not None else None
        self.host = host
        self._requested_port = port
        self._clock = clock
        self._on_request = on_request
        self._plan = FaultPlan(faults if faults is not None else Faults())
        self._quality = QualityLedger()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._batches: list[AcceptedBatch] = []
        self._requests: list[RequestRecord] = []
        self._events_received = 0
        self._in_progress = 0
        self._record_file = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "ConversionsApiEmulator":
        if self._server is not None:
            return self
        self.open_record_file()
        self._stopping.clear()
        self._server = Server((self.host, self._requested_port), Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="capi-emulator", daemon=True)
        self._thread.start()
        return self

    def open_record_file(self) -> None:
        """Open record_path for appending (once; `start` does it too), creating its folder."""
        if self.record_path is not None and self._record_file is None:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.record_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._record_file = os.fdopen(fd, "ab")

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._record_file is not None:
                self._record_file.close()
                self._record_file = None

    def __enter__(self) -> "ConversionsApiEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator: not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- inspection ------------------------------------------------------------------------
    def accepted_events(self) -> list[dict]:
        """Accepted events in acceptance order (needs keep="events")."""
        if self.keep != "events":
            raise RuntimeError(f"emulator: accepted events are not kept (keep={self.keep!r})")
        with self._lock:
            return [event for batch in self._batches for event in batch.events]

    def accepted_event_ids(self) -> list[str]:
        """event_id of each accepted event, in acceptance order (None for events without one)."""
        if self.keep == "count":
            raise RuntimeError("emulator: accepted event ids are not kept (keep='count')")
        with self._lock:
            return [event_id for batch in self._batches for event_id in batch.event_ids]

    def accepted_batches(self) -> list[AcceptedBatch]:
        with self._lock:
            return list(self._batches)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    @property
    def events_received(self) -> int:
        """Total events accepted since the start (or the last reset)."""
        with self._lock:
            return self._events_received

    @property
    def faults(self) -> Faults:
        return self._plan.faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; the script and the random sequence start over."""
        self._plan.set(faults)

    def reset(self) -> None:
        """Forget accepted events and requests (faults stay; the record file is kept)."""
        with self._lock:
            self._batches = []
            self._requests = []
            self._events_received = 0
            self._quality = QualityLedger()

    def stats(self) -> dict:
        with self._lock:
            by_status: dict[str, int] = {}
            for record in self._requests:
                by_status[str(record.status)] = by_status.get(str(record.status), 0) + 1
            return {"requests": len(self._requests), "events_received": self._events_received,
                    "batches": len(self._batches), "by_status": by_status, "in_progress": self._in_progress}

    # -- request handling ------------------------------------------------------------------
    def handle_graph(self, handler: "Handler", method: str, body: bytes) -> None:
        with self._lock:
            self._in_progress += 1
        record = None
        try:
            record, status, payload, stall, fbtrace_id = self._decide(handler, method, body)
        finally:
            with self._lock:  # recorded before answering, so a client sees it once answered
                self._in_progress -= 1   # decided: a timeout's stall is not "in progress"
                if record is not None:
                    self._requests.append(record)
        if self._on_request is not None:
            try:
                self._on_request(record)
            except Exception:  # a broken log sink must not break the server
                pass
        if payload is not None:
            send_json(handler, status, payload, fbtrace_id)
        elif stall:
            self._sleep(stall)

    def _decide(self, handler: "Handler", method: str, body: bytes):
        """Answer one request to the Graph side: (record, status, payload or None, stall, fbtrace_id)."""
        started = time.perf_counter()
        split = urlsplit(handler.path)
        query = parse_query(split.query)
        record = RequestRecord(
            method=method, path=split.path, received_at=self._clock(),
            query_keys=sorted(query), had_token_in_url="access_token" in query,
            content_type=handler.headers.get("Content-Type", ""),
        )
        fbtrace_id = ge.new_fbtrace_id()
        stall = 0.0
        try:
            status, payload = self._answer(handler, method, split.path, query, body, record, fbtrace_id, started)
        except _Drop as drop:
            handler.close_connection = True
            status, payload, stall = 0, None, drop.stall_seconds
        except Exception as exc:  # GraphError, or a bug of the emulator answered as Graph code 1
            error = exc if isinstance(exc, GraphError) else ge.server_error(1)
            status, payload = error.http_status, error.body(fbtrace_id)
            record.error_code, record.error_subcode = error.code, error.subcode
            record.error_message = error.message if isinstance(exc, GraphError) else f"emulator bug: {exc!r}"
        record.status = status
        if payload is not None:
            record.fbtrace_id = fbtrace_id
        record.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return record, status, payload, stall, fbtrace_id

    def _answer_quality(self, handler, method, query, record, quality) -> tuple[int, dict]:
        """GET /dataset_quality (sync/emulator/quality.py)."""
        record.api_version = quality.group(1)
        record.dataset_id = check_request(method, query, None)
        self._check_auth(handler, query, dict(query), record, Fault("ok"), check_dataset=False)
        check_request(method, query, self.dataset_ids)
        return 200, self._quality.answer(record.dataset_id, self._clock())

    def _answer(self, handler, method, path, query, body, record, fbtrace_id, started) -> tuple[int, dict]:
        quality = _QUALITY_PATH.match(path)
        if quality:
            return self._answer_quality(handler, method, query, record, quality)
        match = _EVENTS_PATH.match(path)
        if not match:
            raise ge.unknown_path(path)
        record.api_version, record.dataset_id = match.group(1), match.group(2)
        if method != "POST":
            raise ge.unsupported_method(method)

        fault = self._plan.draw()
        record.fault = None if fault.kind == "ok" else fault.kind
        faults = self._plan.faults
        params = dict(query)
        events, body_error = None, None
        if fault.kind not in ("drop", "timeout"):
            # Parsed during the latency (no side effect; a body error is raised after the auth checks):
            # the answer leaves latency_ms after the request was read, not latency_ms + parsing.
            try:
                params.update(parse_body(body, handler.headers.get("Content-Type", ""),
                                         handler.headers.get("Content-Encoding", "")))
                events = events_of(params)
                record.n_events = len(events)
            except GraphError as error:
                body_error = error
        if faults.latency_ms:
            self._sleep(faults.latency_ms / 1000 - (time.perf_counter() - started))
        if fault.kind == "drop":
            raise _Drop()
        if fault.kind == "timeout":
            raise _Drop(stall_seconds=faults.timeout_seconds)

        self._check_auth(handler, query, params, record, fault)
        if fault.kind == "server_error":
            raise ge.server_error(fault.code)
        if fault.kind == "throttle":
            raise ge.throttled(fault.code)
        if fault.kind == "graph_error":
            spec = fault.error
            raise ge.injected(spec.code, spec.subcode, http_status=spec.http_status, is_transient=spec.is_transient,
                              dataset_id=record.dataset_id or "")
        if body_error is not None:
            raise body_error
        check_request_size(len(events))
        event_ids = [event.get("event_id") if isinstance(event, dict) else None for event in events]
        _refuse_poison(event_ids, faults.poison_event_ids)
        if self.validate:
            check_events(events, self._clock())

        self._accept(record, params, events, event_ids, fbtrace_id)
        record.n_accepted = len(events)
        if fault.kind == "drop_after_accept":
            raise _Drop()
        return 200, {"events_received": len(events), "messages": [], "fbtrace_id": fbtrace_id}

    def _check_auth(self, handler, query, params, record, fault: Fault, check_dataset: bool = True) -> None:
        token = None
        authorization = handler.headers.get("Authorization", "")
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "oauth") and credentials.strip():
            token, record.token_source = credentials.strip(), "header"
        elif query.get("access_token"):
            token, record.token_source = query["access_token"], "query"
        elif params.get("access_token"):
            token, record.token_source = params["access_token"], "body"
        if token is None:
            raise ge.missing_token()
        if fault.kind == "bad_token" or not isinstance(token, str) or not hmac.compare_digest(
                token.encode("utf-8"), self.access_token.encode("utf-8")):
            raise ge.bad_token()
        if check_dataset and self.dataset_ids is not None and record.dataset_id not in self.dataset_ids:
            raise ge.unknown_dataset(record.dataset_id)
        proof = params.get("appsecret_proof")
        record.had_appsecret_proof = bool(proof)
        if self.app_secret is not None:
            if not proof:
                raise ge.appsecret_proof_missing()
            expected = hmac.new(self.app_secret.encode("utf-8"), token.encode("utf-8"),
                                hashlib.sha256).hexdigest()
            if not isinstance(proof, str) or not hmac.compare_digest(proof.encode("utf-8"), expected.encode()):
                raise ge.appsecret_proof_invalid()

    def _accept(self, record: RequestRecord, params: dict, events: list, event_ids: list,
                fbtrace_id: str) -> None:
        parameters = {key: params[key] for key in REQUEST_PARAMETERS if params.get(key) is not None}
        batch = AcceptedBatch(
            dataset_id=record.dataset_id, api_version=record.api_version, fbtrace_id=fbtrace_id,
            received_at=record.received_at, n_events=len(events), parameters=parameters,
            event_ids=event_ids if self.keep != "count" else [],
            events=events if self.keep == "events" else None,
        )
        lines = None
        if self._record_file is not None:
            head = {"dataset_id": record.dataset_id, "test_event_code": parameters.get("test_event_code"),
                    "fbtrace_id": fbtrace_id, "received_at": record.received_at}
            lines = b"".join(orjson.dumps({**head, "event": event}) + b"\n" for event in events)
        self._quality.add(record.dataset_id, events, record.received_at)
        with self._lock:
            if self.keep != "count":
                self._batches.append(batch)
            self._events_received += len(events)
            if lines is not None and self._record_file is not None:
                self._record_file.write(lines)
                self._record_file.flush()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def handle_control(self, handler: "Handler", method: str, body: bytes) -> None:
        """/_emulator/...: the control API (sync/emulator/control.py)."""
        answer_control(self, handler, method, body)


def _refuse_poison(event_ids: list, poison_event_ids) -> None:
    """An event whose event_id is on the poison list is rejected (Graph code 100, its index)."""
    if not poison_event_ids:
        return
    for index, event_id in enumerate(event_ids):
        if isinstance(event_id, str) and event_id in poison_event_ids:
            raise ge.invalid_event(ge.REJECTED_EVENT, index, event_id,
                                   "the event was rejected (its event_id is on the emulator's poison list)")
