"""The sync's YAML configuration: rendered with Jinja2 like dbt, validated into typed models.

`{{ env_var('NAME') }}` and `{{ env_var('NAME', 'default') }}` read the environment.
Every user mistake becomes one `ConfigError` line naming the file and the key, e.g.
`config/sync.yml: destination.batch_size: must be at most 1000 (got 5000)`.
Secrets (access token, app secret) may only come from env_var() and are held as
SecretStr, so repr/str/logs show `**********`.
"""
from __future__ import annotations

import difflib
import hashlib
import hmac
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sync.errors import ConfigError
from sync.identifiers import is_identifier, is_project_id

DEFAULT_CONFIG_PATH = "config/sync.yml"
DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
SECRET_KEYS = ("destination.access_token", "destination.app_secret")
# Batches per ledger commit on DuckDB (BigQuery: 50); the crash re-send window is
# 2 x concurrency + this many batches (docs/reliability.md).
DUCKDB_CHECKPOINT_EVERY_BATCHES = 8
# Rows per page of a DuckDB table (per Arrow chunk of a view). End to end, pages of 5,000 rows
# were as fast as 10,000 at 100,000 and 1M orders, need 10-20 MiB less at the same
# memory_limit, and fit in 32MB (bench/findings.md, session 11).
DUCKDB_CHUNK_SIZE = 5_000

_MISSING = "\ue000capi-sync-missing-env-var:{}\ue001"
_MISSING_RE = re.compile("\ue000capi-sync-missing-env-var:([^\ue001]*)\ue001")
_DURATION_PART = re.compile(r"(\d+)\s*([smhdw]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\Z", re.IGNORECASE)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\Z", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "kib": 1024, "mib": 1024 ** 2,
               "gib": 1024 ** 3}
# destination.max_request_bytes: Meta documents no byte limit; 4 MB holds 1,000 typical events
# (about 0.7-1 MB) with room, and the local emulator refuses bodies over 64 MiB.
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
MIN_MAX_REQUEST_BYTES = 16_384
MAX_MAX_REQUEST_BYTES = 64 * 1024 ** 2


def parse_size(value: Any) -> Any:
    """`4MB` (10^6), `512KiB` (2^10), `4000000` or an integer -> bytes (then range-checked)."""
    if isinstance(value, bool) or isinstance(value, str) and not _SIZE.match(value.strip()):
        raise ValueError(f"must be a size in bytes like 4000000, 4MB or 512KiB (got {value!r})")
    if isinstance(value, str):
        m = _SIZE.match(value.strip())
        size = float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
        if size != int(size):
            raise ValueError(f"must be a whole number of bytes (got {value!r})")
        return int(size)
    return value


def parse_duration(value: Any) -> int:
    """`3d`, `6h`, `90m`, `1d12h`, `45s` or plain seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 3d, 6h, 90m or seconds (got {value!r})")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"must not be negative (got {value!r})")
        return int(value)
    text = str(value).strip().lower()
    pos, total = 0, 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise ValueError(f"must be a duration like 3d, 6h, 90m or seconds (got {value!r})")
        total += int(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    if not text:
        raise ValueError("must be a duration like 3d, 6h, 90m or seconds (got an empty value)")
    return total


Duration = Annotated[int, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_relation(value: str) -> str:
    parts = value.split(".")
    if not 1 <= len(parts) <= 2 or not all(is_identifier(p) for p in parts):
        raise ValueError(f"must be `schema.name` made of letters, digits and underscores (got {value!r})")
    return value


class DuckDBSourceConfig(_Model):
    type: Literal["duckdb"]
    path: str = Field(default_factory=lambda: os.environ.get("DUCKDB_PATH") or DEFAULT_DUCKDB_PATH)
    relation: str = "analytics.offline_events"
    memory_limit: str | None = None
    chunk_size: int = Field(default=DUCKDB_CHUNK_SIZE, ge=1, le=1_000_000)

    _relation = field_validator("relation")(_check_relation)

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value.strip()):
            raise ValueError(f"must be a size like 2GB or 512MB (got {value!r})")
        return value


class BigQuerySourceConfig(_Model):
    type: Literal["bigquery"]
    project: str
    dataset: str = "analytics"
    relation: str = "offline_events"
    location: str | None = None
    api_endpoint: str | None = None
    credentials: str | None = None
    chunk_size: int = Field(default=10_000, ge=1, le=1_000_000)

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not is_project_id(value):
            raise ValueError(f"must be a Google Cloud project id (got {value!r})")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError(f"must be made of letters, digits and underscores (got {value!r})")
        return value

    _relation = field_validator("relation")(_check_relation)

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"must be an http(s) URL (got {value!r})")
        return value


SourceConfig = Annotated[DuckDBSourceConfig | BigQuerySourceConfig, Field(discriminator="type")]


class CursorConfig(_Model):
    column: str = "event_time"
    lookback: Duration = 3 * 86400

    @field_validator("column")
    @classmethod
    def _column(cls, value: str) -> str:
        if not is_identifier(value):
            raise ValueError(f"must be a column name of letters, digits and underscores (got {value!r})")
        return value

    @field_validator("lookback", mode="before")
    @classmethod
    def _lookback(cls, value: Any) -> int:
        return parse_duration(value)


class StateConfig(_Model):
    schema_: str = Field(default="capi_sync", alias="schema")
    project: str | None = None
    dataset: str | None = None
    location: str | None = None
    checkpoint_every_batches: int | None = Field(default=None, ge=1, le=100_000)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("schema_", "dataset")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not is_identifier(value):
            raise ValueError(f"must be made of letters, digits and underscores (got {value!r})")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not is_project_id(value):
            raise ValueError(f"must be a Google Cloud project id (got {value!r})")
        return value


class DataProcessingOptions(_Model):
    options: list[Literal["LDU"]] = Field(default_factory=list, max_length=1)
    country: Literal[0, 1] = 0
    state: Literal[0, 1000] = 0


class TimeoutConfig(_Model):
    connect: float = Field(default=5.0, gt=0, le=600)
    read: float = Field(default=30.0, gt=0, le=3600)


class RetryConfig(_Model):
    max_attempts: int = Field(default=8, ge=1, le=100)
    base_delay: float = Field(default=0.5, ge=0, le=600)
    max_delay: float = Field(default=30.0, ge=0, le=3600)
    throttle_base_delay: float = Field(default=5.0, ge=0, le=3600)
    budget_seconds: float = Field(default=300.0, ge=0, le=86_400)


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DestinationConfig(_Model):
    endpoint: str = "https://graph.facebook.com"
    api_version: str = "v24.0"
    dataset_id: str
    access_token: SecretStr
    app_secret: SecretStr | None = None
    test_event_code: str | None = None
    partner_agent: str | None = None
    upload_tag: str | None = None
    data_processing_options: DataProcessingOptions | None = None
    batch_size: int = Field(default=1000, ge=1, le=1000)
    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=MIN_MAX_REQUEST_BYTES,
                                   le=MAX_MAX_REQUEST_BYTES)
    concurrency: int = Field(default=4, ge=1, le=64)
    timeout: TimeoutConfig = Field(default_factory=TimeoutConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an https URL (got {value!r})")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not carry a query string, fragment or credentials")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise ValueError(f"plain http is only allowed for a loopback host; use https (got {value!r})")
        return value.strip().rstrip("/")

    @field_validator("max_request_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"v\d+\.\d+", value):
            raise ValueError(f"must look like v24.0 (got {value!r})")
        return value

    @field_validator("dataset_id", mode="before")
    @classmethod
    def _dataset_id(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not re.fullmatch(r"\d{1,30}", value.strip()):
            raise ValueError(f"must be the dataset (pixel) id, digits only (got {value!r})")
        return value.strip()

    @field_validator("access_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty; set it through env_var('META_ACCESS_TOKEN')")
        return value

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.endpoint).hostname)

    @property
    def events_url(self) -> str:
        return f"{self.endpoint}/{self.api_version}/{self.dataset_id}/events"

    def appsecret_proof(self) -> str | None:
        if self.app_secret is None:
            return None
        return hmac.new(self.app_secret.get_secret_value().encode(),
                        self.access_token.get_secret_value().encode(), hashlib.sha256).hexdigest()


class SyncConfig(_Model):
    name: str = "offline_events"
    source: SourceConfig = Field(default_factory=lambda: DuckDBSourceConfig(type="duckdb"))
    cursor: CursorConfig = Field(default_factory=CursorConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    destination: DestinationConfig

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value):
            raise ValueError(f"must be 1-100 letters, digits, '_', '.' or '-' (got {value!r})")
        return value

    @property
    def checkpoint_every_batches(self) -> int:
        if self.state.checkpoint_every_batches:
            return self.state.checkpoint_every_batches
        # DuckDB: every 8 batches (group commits on a background thread; fewer, larger
        # commits leave more of the two cores to reading and sending: docs/reliability.md).
        return DUCKDB_CHECKPOINT_EVERY_BATCHES if self.source.type == "duckdb" else 50

    def secrets(self) -> list[str]:
        """The secret strings, for scrubbing output."""
        values = [self.destination.access_token.get_secret_value()]
        if self.destination.app_secret is not None:
            values.append(self.destination.app_secret.get_secret_value())
        return [v for v in values if v]


# --- loading -----------------------------------------------------------------------------


def _render(text: str, file: str) -> tuple[str, set[str]]:
    """Render Jinja; missing env vars become markers (reported later with their key)."""
    env_values: set[str] = set()

    def env_var(name: str, default: Any = None) -> str:
        value = os.environ.get(name)
        if value is None:
            if default is None:
                return _MISSING.format(name)
            value = str(default)
        env_values.add(value)
        return value

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    try:
        return env.from_string(text).render(env_var=env_var), env_values
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(file, f"line {exc.lineno}", f"template error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(file, None, f"template error: {exc.message} "
                                      "(only env_var('NAME'[, 'default']) is available)") from None


def _key_path(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    # Drop the discriminator tag pydantic puts in union locations: ('source', 'duckdb', 'path').
    if len(parts) >= 2 and parts[0] == "source" and parts[1] in ("duckdb", "bigquery"):
        parts.pop(1)
    if parts and parts[-1] == "schema_":
        parts[-1] = "schema"
    return ".".join(parts) or "(top level)"


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple, source_type: str | None) -> type[BaseModel] | None:
    model: Any = SyncConfig
    for part in loc[:-1]:
        part = str(part)
        if model is SyncConfig and part == "source":
            model = BigQuerySourceConfig if source_type == "bigquery" else DuckDBSourceConfig
            continue
        if part in ("duckdb", "bigquery"):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        candidates = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                      and issubclass(a, BaseModel)]
        if not candidates and isinstance(ann, type) and issubclass(ann, BaseModel):
            candidates = [ann]
        if not candidates:
            return None
        model = candidates[0]
    return model


def _message(err: dict, source_type: str | None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    got_text = repr(got) if isinstance(got, str) else str(got)
    if kind == "extra_forbidden":
        model = _model_at(err["loc"], source_type)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(err["loc"][-1]), _field_names(model), n=1)
            if close:
                hint = f" (did you mean '{close[0]}'?)"
            else:
                hint = f" (allowed: {', '.join(_field_names(model))})"
        return f"unknown key{hint}"
    if kind == "missing":
        return "is required"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))} (got {got_text})"
    if kind in ("greater_than_equal", "greater_than"):
        word = "at least" if kind == "greater_than_equal" else "greater than"
        return f"must be {word} {ctx.get('ge', ctx.get('gt'))} (got {got_text})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number (got {got_text})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {got_text})"
    if kind in ("string_type",):
        return f"must be a text value (got {got_text})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {got_text})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys (got {got_text})"
    if kind in ("list_type",):
        return f"must be a list (got {got_text})"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries (got {got_text})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {got_text})"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    if kind == "union_tag_not_found":
        return "needs a `type` (duckdb or bigquery)"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _find_missing(node: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    if isinstance(node, dict):
        for key, value in node.items():
            found = _find_missing(value, path + (key,))
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _find_missing(value, path + (i,))
            if found:
                return found
    elif isinstance(node, str):
        m = _MISSING_RE.search(node)
        if m:
            return path, m.group(1)
    return None


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
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, None, "config file not found") from None
    except OSError as exc:
        raise ConfigError(file, None, f"cannot read the config file ({exc.strerror})") from None
    return parse_config(text, file)


def parse_config(text: str, file: str = "<config>") -> SyncConfig:
    """Render and validate config text; `file` names it in error messages."""
    rendered, env_values = _render(text, file)
    try:
        data = yaml.safe_load(rendered)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(file, where, f"malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, None, "must be a mapping of keys (name, source, cursor, state, destination)")
    missing = _find_missing(data)
    if missing:
        loc, var = missing
        raise ConfigError(file, _key_path(loc),
                          f"environment variable {var} is not set "
                          f"(set it, or give a default: env_var('{var}', '...'))")
    # Secrets must come from the environment, never as literal text in the file.
    for key in SECRET_KEYS:
        value = _get(data, key)
        if value is not None and str(value) not in env_values:
            raise ConfigError(file, key, "must not be written in the file: secrets come from the "
                                         "environment, e.g. \"{{ env_var('META_ACCESS_TOKEN') }}\"")
    source = data.get("source")
    source_type = source.get("type") if isinstance(source, dict) else None
    try:
        config = SyncConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        message = _message(first, source_type)
        # Never echo a secret's value back.
        key = _key_path(first["loc"])
        if key in SECRET_KEYS:
            message = message.split(" (got")[0]
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ConfigError(file, key, message) from None
    if config.source.type == "duckdb" and (config.state.project or config.state.dataset):
        key = "state.project" if config.state.project else "state.dataset"
        raise ConfigError(file, key, "is for a bigquery source; a duckdb source keeps its state "
                                     "in state.schema of the same file")
    return config
