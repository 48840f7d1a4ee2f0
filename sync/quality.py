"""`capi-sync quality`: Meta's Dataset Quality API for offline events (docs/sync.md, CLI), its
scores as rows of the state table `dataset_quality`."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import orjson

from sync.config import DestinationConfig
from sync.destination import graph_client
from sync.errors import DestinationRefusedError, RetriesExhaustedError
from sync.graph_errors import PERMANENT, classify_graph_error
from sync.redact import Redactor

SCORES = ("composite", "match_key", "frequency", "freshness")


def agent_name(partner_agent: str | None) -> str | None:
    """The normalized agent of `partner_agent` (`name_1_2` -> `name`), as the API filters by it."""
    if not partner_agent:
        return None
    return re.split(r"[_\s]", partner_agent.strip(), maxsplit=1)[0].lower() or None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def quality_rows(answer: dict, dataset_id: str, api_version: str, agent: str | None,
                 fetched_at: dt.datetime) -> list[dict]:
    """One state row per event name of an answer (`offline`); unknown fields are ignored."""
    rows = []
    for item in answer.get("offline") or []:
        if not isinstance(item, dict):
            continue
        parts = {name: item.get(name) if isinstance(item.get(name), dict) else {} for name in SCORES}
        coverage = parts["match_key"].get("coverage") or item.get("coverage") or {}
        coverage = coverage if isinstance(coverage, dict) else {}
        rows.append({
            "dataset_id": dataset_id, "fetched_at": fetched_at, "api_version": api_version, "agent_name": agent,
            "event_name": str(item.get("event_name") or ""),
            **{f"{name}_score": _number(parts[name].get("score")) for name in SCORES},
            "email_coverage": _number(coverage.get("email")), "phone_coverage": _number(coverage.get("phone")),
            "recommendations": {name: str(parts[name]["recommendation"]) for name in SCORES
                                if parts[name].get("recommendation")},
        })
    return rows


def fetch_quality(config: DestinationConfig, agent: str | None) -> dict:
    """The API's answer (parsed JSON); a refusal or an unreachable API raises one clear line."""
    redact = Redactor(config.secrets())
    params = {"dataset_id": config.dataset_id, "fields": "offline", "agent_name": agent,
              "appsecret_proof": config.appsecret_proof()}   # an HMAC of the token, never the token
    params = {key: value for key, value in params.items() if value}
    try:
        with graph_client(config) as client:
            response = client.get(f"{config.endpoint}/{config.api_version}/dataset_quality", params=params)
    except httpx.HTTPError as exc:
        raise RetriesExhaustedError(f"destination.endpoint: the Dataset Quality API could not be reached "
                                    f"({type(exc).__name__}: {redact(str(exc))})") from None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        return body
    error = classify_graph_error(response.status_code, body)
    message = redact(error.describe("Dataset Quality API: "))
    if error.kind == PERMANENT:
        raise DestinationRefusedError(message)
    raise RetriesExhaustedError(message)
