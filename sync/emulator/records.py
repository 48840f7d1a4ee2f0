"""What the emulator remembers of each request (RequestRecord) and of each accepted batch (AcceptedBatch)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class RequestRecord:
    """One request to the Graph side of the emulator (never holds the token or the query).

    status 0 means the emulator answered nothing (a dropped connection or a timeout).
    """

    method: str
    path: str
    status: int = 0
    n_events: int = 0
    n_accepted: int = 0
    error_code: int | None = None
    error_subcode: int | None = None
    error_message: str | None = None
    fbtrace_id: str | None = None
    had_token_in_url: bool = False
    token_source: str | None = None  # "header", "query", "body" or None
    had_appsecret_proof: bool = False
    query_keys: list[str] = field(default_factory=list)
    content_type: str = ""
    api_version: str | None = None
    dataset_id: str | None = None
    fault: str | None = None
    received_at: float = 0.0
    duration_ms: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AcceptedBatch:
    """The events of one accepted request, with its request-level parameters."""

    dataset_id: str
    api_version: str | None
    fbtrace_id: str
    received_at: float
    n_events: int
    parameters: dict
    event_ids: list
    events: list | None

    def to_dict(self) -> dict:
        return asdict(self)
