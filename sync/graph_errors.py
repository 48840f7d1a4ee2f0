"""Classify a Conversions API (Graph API) failure: retry it, split the batch, or stop the run; by
Graph `code` / `error_subcode` / `is_transient` first, HTTP status as a fallback (meta-capi-facts.md)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRANSIENT = "transient"          # retry with backoff
THROTTLED = "throttled"          # retry with a longer backoff
INVALID_EVENT = "invalid_event"  # an event in the batch is bad: split the batch to isolate it
PERMANENT = "permanent"          # stop the run; `config_key` names what to fix

THROTTLING_CODES = frozenset((4, 17, 32, 341, 368, 613, 80003, 80004))   # 368: temporarily blocked
TRANSIENT_CODES = frozenset((1, 2))
INVALID_EVENT_SUBCODES = range(2804000, 2805000)


@dataclass(frozen=True)
class GraphError:
    """One failed request, classified. `message` never contains the access token."""

    kind: str
    message: str
    code: int | None = None
    subcode: int | None = None
    fbtrace_id: str | None = None
    http_status: int | None = None
    config_key: str | None = None

    def describe(self, note: str = "") -> str:
        """`key: note message (HTTP s, code c/sub, fbtrace_id t)`: the key to fix comes first."""
        where = f"{self.config_key}: " if self.config_key else ""
        codes = []
        if self.http_status is not None:
            codes.append(f"HTTP {self.http_status}")
        if self.code is not None:
            codes.append(f"code {self.code}" + (f"/{self.subcode}" if self.subcode else ""))
        if self.fbtrace_id:
            codes.append(f"fbtrace_id {self.fbtrace_id}")
        return f"{where}{note}{self.message}" + (f" ({', '.join(codes)})" if codes else "")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify_graph_error(status: int, body: Any) -> GraphError:
    """Classify an error response: `body` is the parsed JSON (or None when it was not JSON)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return _classify_status(status)
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    trace = error.get("fbtrace_id")
    text = str(error.get("error_user_msg") or error.get("message") or "unknown error")[:500]

    def make(kind: str, message: str, key: str | None = None) -> GraphError:
        return GraphError(kind, message, code, subcode, trace, status, key)

    if code in THROTTLING_CODES:
        return make(THROTTLED, f"throttled by the API: {text}")
    if code == 100 and subcode in INVALID_EVENT_SUBCODES:
        return make(INVALID_EVENT, text)
    if code == 190 or code == 104:
        return make(PERMANENT, f"the access token was refused ({text}); set a valid token in "
                               "META_ACCESS_TOKEN (or whatever env_var the file names)",
                    "destination.access_token")
    if code == 100 and subcode in (33, 2044055):   # 2044055: the Dataset Quality API's unknown dataset
        return make(PERMANENT, f"the dataset does not exist or this token cannot reach it ({text})",
                    "destination.dataset_id")
    if code == 10 or (code is not None and 200 <= code <= 299):
        return make(PERMANENT, f"the token lacks a permission on this dataset ({text}); grant it "
                               "or use a token of a system user with access",
                    "destination.access_token")
    if error.get("is_transient") is True or code in TRANSIENT_CODES:
        return make(TRANSIENT, f"temporary API error: {text}")
    if status >= 500:
        return make(TRANSIENT, f"server error: {text}")
    return make(PERMANENT, f"the API refused the request: {text}", "destination")


def _classify_status(status: int) -> GraphError:
    if status >= 500:
        return GraphError(TRANSIENT, "server error without a Graph error body", http_status=status)
    if status == 429:
        return GraphError(THROTTLED, "throttled (HTTP 429)", http_status=status)
    if status in (401, 403):
        return GraphError(PERMANENT, "the endpoint refused the credentials",
                          http_status=status, config_key="destination.access_token")
    if status == 404:
        return GraphError(PERMANENT, "no Conversions API at this URL; check the endpoint, "
                                     "api_version and dataset_id", http_status=status,
                          config_key="destination.endpoint")
    return GraphError(PERMANENT, "unexpected answer without a Graph error body",
                      http_status=status, config_key="destination.endpoint")
