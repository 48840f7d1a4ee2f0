"""Read the `offline_events` view from BigQuery, streamed page by page; no query parameters (the
emulator has none): values are literals made here, names checked identifiers (docs/bigquery.md)."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from typing import TYPE_CHECKING, Iterator

import orjson
import pyarrow as pa

from sync.config import SyncConfig
from sync.contract import LDU_KEYS, REQUIRED_COLUMNS
from sync.errors import SourceError
from sync.events import COPIES_COLUMN, EventSettings, ReadyChunk
from sync.identifiers import quote_backtick
from sync.sources.base import CURSOR_KEY, ColumnChecks, Dialect, event_ldu_sql, ready_query
from sync.sources.ready import ready_page
from sync.state.base import DEAD_LETTERS, SENT_EVENTS

if TYPE_CHECKING:
    from google.cloud import bigquery

DEFAULT_STATE_DATASET = "capi_sync"
BIGQUERY_SCOPE = "https://www.googleapis.com/auth/bigquery"
# Event ids per read_event_ids query: ~70 characters each stays far below the 1 MB query text limit.
IDS_PER_QUERY = 10_000
# How long one jobs.query or jobs.getQueryResults call waits for the query to finish.
RESULT_WAIT_MS = 10_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


# --- literals (no query parameters on the emulator) -----------------------------------------

def string_literal(value: str | None) -> str:
    """A GoogleSQL string literal for any text (a STRING NULL for None)."""
    if value is None:
        return "CAST(NULL AS STRING)"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    text = _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)
    return f"'{text}'"


def int_literal(value: int | None) -> str:
    """An INT64 literal (an INT64 NULL for None); refuses anything that is not an integer."""
    if value is None:
        return "CAST(NULL AS INT64)"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return str(int(value))


def bool_literal(value: bool | None) -> str:
    return "CAST(NULL AS BOOL)" if value is None else ("TRUE" if value else "FALSE")


def timestamp_literal(value: dt.datetime | None) -> str:
    """A UTC TIMESTAMP literal; naive datetimes are UTC."""
    if value is None:
        return "CAST(NULL AS TIMESTAMP)"
    value = naive_utc(value)
    return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}+00'"


def table_name(project: str, dataset: str, table: str) -> str:
    """`project`.`dataset`.`table`, each part checked."""
    return ".".join(quote_backtick(part) for part in (project, dataset, table))


def naive_utc(value):
    """google-cloud-bigquery returns aware UTC datetimes; the state API uses naive UTC."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def first_line(exc: BaseException) -> str:
    """The useful line of a google-cloud error (its message, without the request URL)."""
    message = getattr(exc, "message", None) or str(exc)
    errors = getattr(exc, "errors", None) or []
    if errors and isinstance(errors[0], dict) and errors[0].get("message"):
        message = errors[0]["message"]
    return (message.strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def api_errors(prefix: str) -> Iterator[None]:
    """A google-cloud API error inside becomes one SourceError line: `prefix` and its first line."""
    from google.api_core.exceptions import GoogleAPICallError
    try:
        yield
    except GoogleAPICallError as exc:
        raise SourceError(prefix + first_line(exc)) from None


# --- the client --------------------------------------------------------------------------------

def make_client(config: SyncConfig) -> bigquery.Client:
    """A BigQuery client for `config.source`: anonymous against `api_endpoint`, else the key file
    in `credentials`, else Application Default Credentials. Errors are one SourceError line."""
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
    from google.cloud import bigquery

    source = config.source
    options, credentials = None, None
    if source.api_endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        options = ClientOptions(api_endpoint=source.api_endpoint)
        credentials = AnonymousCredentials()
    elif source.credentials:
        from google.oauth2 import service_account
        try:
            credentials = service_account.Credentials.from_service_account_file(
                source.credentials, scopes=[BIGQUERY_SCOPE])
        except FileNotFoundError:
            raise SourceError(f"source.credentials: the key file {source.credentials} does not exist") from None
        except (ValueError, KeyError, OSError, GoogleAuthError) as exc:
            raise SourceError(f"source.credentials: {source.credentials} is not a service-account key file "
                              f"({type(exc).__name__})") from None
    try:
        return bigquery.Client(project=source.project, credentials=credentials, location=source.location,
                               client_options=options)
    except DefaultCredentialsError:
        raise SourceError("source.credentials: no Google credentials found: run `gcloud auth "
                          "application-default login`, run on a VM/Cloud Run with a service account, "
                          "or set source.credentials to a service-account key file") from None


def result_pages(client: bigquery.Client, sql: str, page_size: int) -> Iterator[list[str]]:
    """The first column of a query's rows, one REST page at a time (jobs.query, then
    jobs.getQueryResults), each page's JSON decoded by orjson (docs/bigquery.md, Reading)."""
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    def call(method: str, path: str, **kwargs) -> dict:
        return orjson.loads(DEFAULT_RETRY(client._connection.api_request)(method, path, expect_json=False, **kwargs))

    body = {"query": sql, "useLegacySql": False, "maxResults": page_size, "requestId": str(uuid.uuid4()),
            "timeoutMs": RESULT_WAIT_MS, **({"location": client.location} if client.location else {})}
    page = call("POST", f"/projects/{client.project}/queries", data=body)
    job = page["jobReference"]
    path = f"/projects/{job['projectId']}/queries/{job['jobId']}"
    params = {"maxResults": page_size, "timeoutMs": RESULT_WAIT_MS,
              **({"location": job["location"]} if job.get("location") else {})}
    while not page.get("jobComplete"):
        page = call("GET", path, query_params=params)
    while True:
        yield [row["f"][0]["v"] for row in page.get("rows", ())]
        if not page.get("pageToken"):
            return
        page = call("GET", path, query_params={**params, "pageToken": page["pageToken"]})


class BigQuerySource(ColumnChecks):
    """The view in `source.project`.`source.dataset`; state tables in `state.project`.`state.dataset`."""

    CURSOR_TYPES = ("INTEGER", "INT64")

    def __init__(self, config: SyncConfig, client: bigquery.Client | None = None):
        source = config.source
        self.config = config
        self.project = source.project
        if "." in source.relation:
            self.dataset, self.table = source.relation.split(".")
        else:
            self.dataset, self.table = source.dataset, source.relation
        self.chunk_size = source.chunk_size
        self.cursor_column = config.cursor.column
        self.sync_name = config.name
        self.state_project = config.state.project or source.project
        self.state_dataset = config.state.dataset or DEFAULT_STATE_DATASET
        self.relation = f"{self.project}.{self.dataset}.{self.table}"
        self.description = self.relation + (f" at {source.api_endpoint}" if source.api_endpoint else "")
        self._q_relation = table_name(self.project, self.dataset, self.table)
        self._q_cursor = quote_backtick(self.cursor_column)
        self._config_ldu = config.destination.data_processing_options is not None
        self.client = client or make_client(config)
        self._types: dict[str, str] = {}   # the relation's column types, read once by columns()

    def state_table(self, table: str) -> str:
        return table_name(self.state_project, self.state_dataset, table)

    def columns(self) -> list[str]:
        from google.api_core.exceptions import NotFound
        with api_errors(f"source.relation: cannot read {self.relation}: "):
            try:
                table = self.client.get_table(self.relation)
            except NotFound:
                raise SourceError(f"source.relation: {self.relation} does not exist "
                                  "(run `dbt build --target bigquery` first?)") from None
        self._types = {field.name: field.field_type for field in table.schema}
        return [field.name for field in table.schema]

    def _events_set_ldu(self) -> bool:
        with api_errors(f"source.relation: reading {self.relation} failed: "):
            return bool(list(self.client.query_and_wait(event_ldu_sql(self._q_relation))))

    def _query(self, where: str, settings: EventSettings) -> str:
        """One TO_JSON_STRING text per row of `ready_query`'s page (docs/bigquery.md, The sync on BigQuery)."""
        ldu = self._event_ldu()
        columns = ", ".join(f"v.{quote_backtick(name)}" for name in (*REQUIRED_COLUMNS, *(LDU_KEYS if ldu else ())))
        source = (f"SELECT {columns}, v.{self._q_cursor} AS {CURSOR_KEY}, COUNT(*) OVER (PARTITION BY v.`event_id`) "
                  f"AS {COPIES_COLUMN} FROM {self._q_relation} AS v{' WHERE ' + where if where else ''}")
        query = ready_query(source, settings, DIALECT, (COPIES_COLUMN,), ldu)
        return (f"SELECT TO_JSON_STRING(t) AS row FROM ({query}) "
                f"AS t ORDER BY t.{CURSOR_KEY} ASC NULLS LAST, t.`event_id` ASC NULLS LAST")

    def read_sql(self, lower_bound: int | None, exclude_sent: bool, settings: EventSettings) -> str:
        where = []
        if lower_bound is not None:
            where.append(f"(v.{self._q_cursor} >= {int_literal(lower_bound)} OR v.{self._q_cursor} IS NULL)")
        if exclude_sent:
            name = string_literal(self.sync_name)
            where.append(f"NOT EXISTS (SELECT 1 FROM {self.state_table(SENT_EVENTS)} AS s "
                         f"WHERE s.sync_name = {name} AND s.event_id = v.event_id)")
            where.append(f"NOT EXISTS (SELECT 1 FROM {self.state_table(DEAD_LETTERS)} AS d "
                         f"WHERE d.sync_name = {name} AND d.event_id = v.event_id AND d.resolved_at IS NULL)")
        return self._query(" AND ".join(where), settings)

    def _stream(self, sql: str, settings: EventSettings, seen: set[str]) -> Iterator[ReadyChunk]:
        """One query; each result page (at most chunk_size rows) becomes a ReadyChunk."""
        schema = _PAGE_SCHEMA.append(pa.field("_ldu", pa.string())) if self._event_ldu() else _PAGE_SCHEMA
        with api_errors(f"source.relation: reading {self.relation} failed: "):
            for texts in result_pages(self.client, sql, self.chunk_size):
                if texts:
                    yield ready_page(_parse_rows(texts, schema), settings, seen)

    def read_ready(self, lower_bound: int | None, exclude_sent: bool, settings: EventSettings) -> Iterator[ReadyChunk]:
        return self._stream(self.read_sql(lower_bound, exclude_sent, settings), settings, set())

    def read_event_ids_ready(self, event_ids: list[str], settings: EventSettings) -> Iterator[ReadyChunk]:
        ids, seen = sorted(set(event_ids)), set()
        for start in range(0, len(ids), IDS_PER_QUERY):
            in_list = ", ".join(string_literal(i) for i in ids[start:start + IDS_PER_QUERY])
            yield from self._stream(self._query(f"v.`event_id` IN ({in_list})", settings), settings, seen)

    def close(self) -> None:
        with contextlib.suppress(Exception):   # closing must never fail a run
            self.client.close()


# The columns of a page as `ready_page` takes them.
_PAGE_SCHEMA = pa.schema([("event_id", pa.string()), ("order_id", pa.string()), ("event_time", pa.int64()),
                          (CURSOR_KEY, pa.int64()), (COPIES_COLUMN, pa.int64()), ("_skip", pa.string()),
                          ("action_source", pa.string()), ("value", pa.float64()),
                          ("_head", pa.string()), ("_user_data", pa.string()), ("_custom_data", pa.string())])


def _parse_rows(texts: list[str], schema: pa.Schema = _PAGE_SCHEMA) -> dict[str, pa.Array]:
    """A page's row texts (one JSON object each, no raw newline: JSON escapes them) -> its columns."""
    from pyarrow import json as arrow_json
    data = "\n".join(texts).encode()
    table = arrow_json.read_json(pa.BufferReader(data), read_options=arrow_json.ReadOptions(block_size=1 << 30),
                                 parse_options=arrow_json.ParseOptions(explicit_schema=schema))
    return {name: table.column(name).combine_chunks() for name in schema.names}


def _to_json(value: str) -> str:
    """A value's JSON text, written as a STRUCT member (the emulator writes no bare string)."""
    return f"REGEXP_EXTRACT(TO_JSON_STRING(STRUCT({value} AS v)), r'^{{\"v\":(.*)}}$')"


DIALECT = Dialect(quote_backtick, _to_json, "FLOAT64", "ARRAY_LENGTH")
