"""The sync's YAML configuration, validated into frozen dataclasses (docs/sync.md, Configuration
reference): every mistake is one `ConfigError` line; secrets come only from env_var(), as `Secret`."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sync.config_fields import (Problems, Secret, got, list_of, matching, model, number, one_of,
                                optional, parse_duration, parse_size, parsed_by, text, whole)
from sync.config_render import key_path as _key_path, read_document, render_document
from sync.errors import ConfigError
from sync.graph_versions import DEFAULT_API_VERSION
from sync.identifiers import is_identifier, is_project_id

DEFAULT_CONFIG_PATH = "config/sync.yml"
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
SECRET_KEYS = ("destination.access_token", "destination.app_secret")
# Batches per ledger commit on DuckDB (BigQuery: 50; the crash re-send window, docs/reliability.md).
DUCKDB_CHECKPOINT_EVERY_BATCHES = 8
# Rows per page of a DuckDB table (per Arrow chunk of a view): as fast as 10,000, fits in 32MB
# (docs/sync.md, Memory).
DUCKDB_CHUNK_SIZE = 5_000

_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\Z", re.IGNORECASE)
# destination.max_request_bytes (docs/sync.md, Configuration).
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
MIN_MAX_REQUEST_BYTES = 16_384
MAX_MAX_REQUEST_BYTES = 64 * 1024 ** 2


def _is_relation(value: str) -> bool:
    parts = value.split(".")
    return 1 <= len(parts) <= 2 and all(is_identifier(p) for p in parts)


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


_RELATION = matching(_is_relation, "be `schema.name` made of letters, digits and underscores")
_MEMORY_LIMIT = matching(lambda value: _MEMORY.match(value.strip()), "be a size like 2GB or 512MB")
_PROJECT = matching(is_project_id, "be a Google Cloud project id")
_NAME = matching(is_identifier, "be made of letters, digits and underscores")
_COLUMN = matching(is_identifier, "be a column name of letters, digits and underscores")
_API_ENDPOINT = matching(_is_http_url, "be an http(s) URL")
_API_VERSION = matching(re.compile(r"v\d+\.\d+").fullmatch, "look like v24.0")
_SYNC_NAME = matching(re.compile(r"[A-Za-z0-9_.-]{1,100}").fullmatch, "be 1-100 letters, digits, '_', '.' or '-'")


@dataclass(frozen=True, kw_only=True)
class DuckDBSourceConfig:
    type: Literal["duckdb"] = field(default="duckdb", metadata=parsed_by(one_of("duckdb")))
    path: str = field(default_factory=lambda: os.environ.get("DUCKDB_PATH") or DEFAULT_DUCKDB_PATH,
                      metadata=parsed_by(text))
    relation: str = field(default="analytics.offline_events", metadata=parsed_by(_RELATION))
    memory_limit: str | None = field(default=None, metadata=parsed_by(optional(_MEMORY_LIMIT)))
    chunk_size: int = field(default=DUCKDB_CHUNK_SIZE, metadata=parsed_by(whole(ge=1, le=1_000_000)))
    external_id: Literal["hashed", "as_given"] = field(default="hashed", metadata=parsed_by(one_of("hashed", "as_given")))


@dataclass(frozen=True, kw_only=True)
class BigQuerySourceConfig:
    type: Literal["bigquery"] = field(metadata=parsed_by(one_of("bigquery")))
    project: str = field(metadata=parsed_by(_PROJECT))
    dataset: str = field(default="analytics", metadata=parsed_by(_NAME))
    relation: str = field(default="offline_events", metadata=parsed_by(_RELATION))
    location: str | None = field(default=None, metadata=parsed_by(optional(text)))
    api_endpoint: str | None = field(default=None, metadata=parsed_by(optional(_API_ENDPOINT)))
    credentials: str | None = field(default=None, metadata=parsed_by(optional(text)))
    chunk_size: int = field(default=10_000, metadata=parsed_by(whole(ge=1, le=1_000_000)))
    external_id: Literal["hashed", "as_given"] = field(default="hashed", metadata=parsed_by(one_of("hashed", "as_given")))


SOURCE_TYPES = {"duckdb": DuckDBSourceConfig, "bigquery": BigQuerySourceConfig}


def _source(value: Any) -> DuckDBSourceConfig | BigQuerySourceConfig:
    """`source:`, a mapping whose `type` says which source it configures."""
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of keys (got {got(value)})")
    if "type" not in value:
        raise ValueError("needs a `type` (duckdb or bigquery)")
    tag = value["type"]
    cls = SOURCE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise ValueError(f"must be one of {', '.join(map(repr, SOURCE_TYPES))} (got {str(tag)!r})")
    return model(cls)(value)


@dataclass(frozen=True, kw_only=True)
class CursorConfig:
    column: str = field(default="event_time", metadata=parsed_by(_COLUMN))
    lookback: int = field(default=3 * 86400, metadata=parsed_by(parse_duration))


@dataclass(frozen=True, kw_only=True)
class StateConfig:
    schema_: str = field(default="capi_sync", metadata=parsed_by(_NAME, "schema"))
    project: str | None = field(default=None, metadata=parsed_by(optional(_PROJECT)))
    dataset: str | None = field(default=None, metadata=parsed_by(optional(_NAME)))
    location: str | None = field(default=None, metadata=parsed_by(optional(text)))
    checkpoint_every_batches: int | None = field(default=None, metadata=parsed_by(optional(whole(ge=1, le=100_000))))


@dataclass(frozen=True, kw_only=True)
class DataProcessingOptions:
    options: list[str] = field(default_factory=list, metadata=parsed_by(list_of(one_of("LDU"), max_length=1)))
    country: int = field(default=0, metadata=parsed_by(one_of(0, 1)))
    state: int = field(default=0, metadata=parsed_by(one_of(0, 1000)))


@dataclass(frozen=True, kw_only=True)
class TimeoutConfig:
    connect: float = field(default=5.0, metadata=parsed_by(number(gt=0, le=600)))
    read: float = field(default=30.0, metadata=parsed_by(number(gt=0, le=3600)))
    stop: float = field(default=20.0, metadata=parsed_by(number(ge=0, le=3600)))


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    max_attempts: int = field(default=8, metadata=parsed_by(whole(ge=1, le=100)))
    base_delay: float = field(default=0.5, metadata=parsed_by(number(ge=0, le=600)))
    max_delay: float = field(default=30.0, metadata=parsed_by(number(ge=0, le=3600)))
    throttle_base_delay: float = field(default=5.0, metadata=parsed_by(number(ge=0, le=3600)))
    budget_seconds: float = field(default=300.0, metadata=parsed_by(number(ge=0, le=86_400)))


def is_loopback_host(host: str | None) -> bool:
    try:
        return host == "localhost" or bool(host) and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _endpoint(value: Any) -> str:
    parts = urlsplit(text(value).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an https URL (got {value!r})")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry a query string, fragment or credentials")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"plain http is only allowed for a loopback host; use https (got {value!r})")
    return value.strip().rstrip("/")


def _dataset_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,30}", value.strip()):
        raise ValueError(f"must be the dataset (pixel) id, digits only (got {got(value)})")
    return value.strip()


def _secret(value: Any) -> Secret:
    """Surrounding whitespace is not part of a secret (a mounted secret file ends with a newline)."""
    return Secret(text(value).strip())


def _access_token(value: Any) -> Secret:
    token = _secret(value)
    if not token.get_secret_value():
        raise ValueError("is empty; set it through env_var('META_ACCESS_TOKEN')")
    return token


@dataclass(frozen=True, kw_only=True)
class DestinationConfig:
    endpoint: str = field(default="https://graph.facebook.com", metadata=parsed_by(_endpoint))
    api_version: str = field(default=DEFAULT_API_VERSION, metadata=parsed_by(_API_VERSION))
    dataset_id: str = field(metadata=parsed_by(_dataset_id))
    access_token: Secret = field(metadata=parsed_by(_access_token))
    app_secret: Secret | None = field(default=None, metadata=parsed_by(optional(_secret)))
    test_event_code: str | None = field(default=None, metadata=parsed_by(optional(text)))
    partner_agent: str | None = field(default=None, metadata=parsed_by(optional(text)))
    upload_tag: str | None = field(default=None, metadata=parsed_by(optional(text)))
    data_processing_options: DataProcessingOptions | None = field(
        default=None, metadata=parsed_by(optional(model(DataProcessingOptions))))
    batch_size: int = field(default=1000, metadata=parsed_by(whole(ge=1, le=1000)))
    max_request_bytes: int = field(default=DEFAULT_MAX_REQUEST_BYTES, metadata=parsed_by(
        lambda value: whole(ge=MIN_MAX_REQUEST_BYTES, le=MAX_MAX_REQUEST_BYTES)(parse_size(value))))
    concurrency: int = field(default=4, metadata=parsed_by(whole(ge=1, le=64)))
    max_rejected_share: float = field(default=0.1, metadata=parsed_by(number(ge=0, le=1)))
    timeout: TimeoutConfig = field(default_factory=TimeoutConfig, metadata=parsed_by(model(TimeoutConfig)))
    retry: RetryConfig = field(default_factory=RetryConfig, metadata=parsed_by(model(RetryConfig)))

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.endpoint).hostname)

    @property
    def events_url(self) -> str:
        return f"{self.endpoint}/{self.api_version}/{self.dataset_id}/events"

    def secrets(self) -> list[str]:
        """The secret strings (token, app secret), for scrubbing output."""
        return [s.get_secret_value() for s in (self.access_token, self.app_secret) if s and s.get_secret_value()]

    def appsecret_proof(self) -> str | None:
        if self.app_secret is None:
            return None
        return hmac.new(self.app_secret.get_secret_value().encode(),
                        self.access_token.get_secret_value().encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class SyncConfig:
    name: str = field(default="offline_events", metadata=parsed_by(_SYNC_NAME))
    source: DuckDBSourceConfig | BigQuerySourceConfig = field(default_factory=DuckDBSourceConfig, metadata=parsed_by(_source))
    cursor: CursorConfig = field(default_factory=CursorConfig, metadata=parsed_by(model(CursorConfig)))
    state: StateConfig = field(default_factory=StateConfig, metadata=parsed_by(model(StateConfig)))
    destination: DestinationConfig = field(metadata=parsed_by(model(DestinationConfig)))

    @property
    def checkpoint_every_batches(self) -> int:
        if self.state.checkpoint_every_batches:
            return self.state.checkpoint_every_batches
        return DUCKDB_CHECKPOINT_EVERY_BATCHES if self.source.type == "duckdb" else 50

    def secrets(self) -> list[str]:
        """The secret strings, for scrubbing output."""
        return self.destination.secrets()


def _get(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def load_config(path: str | os.PathLike = DEFAULT_CONFIG_PATH) -> SyncConfig:
    """Read, render and validate a config file; raise ConfigError (one line) on any mistake."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(file, None, "config file not found") from None
    except OSError as exc:
        raise ConfigError(file, None, f"cannot read the config file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(file, f"line {line}", f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                                                "save the file as UTF-8") from None
    return parse_config(text, file)


def _check_secrets(data: dict, origins: dict[tuple, list], file: str) -> None:
    """Secrets come from env_var(), never as text in the file; the access token (stripped) must be
    sendable in an HTTP header: visible ASCII only."""
    for key in SECRET_KEYS:
        value = _get(data, key)
        if value is None:
            continue
        calls = origins.get(tuple(key.split(".")), [])
        source = next((name for name, env_value in calls if env_value == value), None)
        if source is None:
            raise ConfigError(file, key, "must not be written in the file: secrets come from the "
                                         "environment, e.g. \"{{ env_var('META_ACCESS_TOKEN') }}\"")
        if key == "destination.access_token" and isinstance(value, str):
            token = value.strip()
            bad = next((i for i, ch in enumerate(token) if not "\x21" <= ch <= "\x7e"), None)
            if bad is not None:
                ch = token[bad]
                what = ("a space" if ch == " " else "a control character" if ord(ch) < 32 or ord(ch) == 127
                        else "a character that is not ASCII")
                raise ConfigError(file, key, f"the value of environment variable {source} has {what} at "
                                             f"character {bad + 1}; an access token is sent in the Authorization "
                                             "header and may only hold visible ASCII characters; nothing was sent")


def parse_config(text: str, file: str = "<config>") -> SyncConfig:
    """Parse, render and validate config text; `file` names it in error messages."""
    data = read_document(text, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, None, "must be a mapping of keys (name, source, cursor, state, destination)")
    data, origins = render_document(data, file)
    _check_secrets(data, origins, file)
    try:
        config = model(SyncConfig)(data)
    except Problems as exc:
        (loc, message), *others = exc.problems
        path = _key_path(loc)
        if path in SECRET_KEYS:   # never echo a secret's value back
            message = message.split(" (got")[0]
        if others:
            message += f" (and {len(others)} more problem{'s' if len(others) > 1 else ''})"
        raise ConfigError(file, path, message) from None
    if config.source.type == "duckdb" and (config.state.project or config.state.dataset):
        key = "state.project" if config.state.project else "state.dataset"
        raise ConfigError(file, key, "is for a bigquery source; a duckdb source keeps its state "
                                     "in state.schema of the same file")
    return config
