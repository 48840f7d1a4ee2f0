"""A local BigQuery for tests: crucible-emulator run as a separate server process.

crucible (`crucible serve --dialect bigquery`) answers BigQuery's REST API on 127.0.0.1 and runs
the SQL on DuckDB. It pins its own duckdb and sqlglot, so it lives in its own virtual
environment; we only ever talk to it over a socket.

Which binary: `$CRUCIBLE_BIN` if set (then it must exist: a wrong path is an error, not a skip),
else `<repo>/.venv-crucible/bin/crucible`. With neither, tests that use the fixtures below are
skipped with the reason. What the emulator does differently from BigQuery: docs/bigquery.md.

    with BigQueryEmulator() as bq:
        client = bq.client()
        dataset = bq.create_dataset("state")
        client.query_and_wait(f"SELECT 1 FROM `{bq.project}.{dataset}.t`")

In pytest, use the fixtures `bigquery_emulator` (one server per test session) and
`bigquery_dataset` (a fresh, empty dataset per test), e.g. by importing them into a conftest.py.
"""
from __future__ import annotations

import ctypes
import datetime
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from google.cloud import bigquery

REPO_ROOT = Path(__file__).resolve().parents[2]
CRUCIBLE_BIN_ENV = "CRUCIBLE_BIN"
DEFAULT_CRUCIBLE_BIN = REPO_ROOT / ".venv-crucible" / ("Scripts" if os.name == "nt" else "bin") / "crucible"
DEFAULT_PROJECT = "local-project"
STARTUP_TIMEOUT_S = 30.0
_dataset_counter = itertools.count(1)


class EmulatorError(RuntimeError):
    """The emulator could not be started or stopped."""


def find_crucible() -> tuple[Path | None, str]:
    """The crucible binary to run, or None and why there is none.

    Raises EmulatorError when $CRUCIBLE_BIN names a file that does not exist: whoever set it
    expects the emulator, so that must fail loudly instead of skipping tests.
    """
    configured = os.environ.get(CRUCIBLE_BIN_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise EmulatorError(f"${CRUCIBLE_BIN_ENV} is {configured!r}, which is not a file")
        return path, ""
    if DEFAULT_CRUCIBLE_BIN.is_file():
        return DEFAULT_CRUCIBLE_BIN, ""
    return None, (
        f"no BigQuery emulator: ${CRUCIBLE_BIN_ENV} is not set and {DEFAULT_CRUCIBLE_BIN} does not "
        "exist (`python3 scripts/dev.py setup` creates it)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel SIGTERM the emulator if the test process dies without cleanup."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class BigQueryEmulator:
    """One crucible server on a free 127.0.0.1 port. Use as a context manager (or start/stop)."""

    def __init__(self, binary: Path | str | None = None, *, project: str = DEFAULT_PROJECT,
                 log_path: Path | str | None = None, database: Path | str | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT_S) -> None:
        if binary is None:
            binary, reason = find_crucible()
            if binary is None:
                raise EmulatorError(reason)
        self.binary = Path(binary)
        self.project = project
        self.database = Path(database) if database is not None else None  # None: in memory
        self.log_path = Path(log_path) if log_path is not None else Path(
            tempfile.mkstemp(prefix="crucible-", suffix=".log")[1])
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._clients: list[bigquery.Client] = []

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def api_endpoint(self) -> str:
        if self.port is None:
            raise EmulatorError("the BigQuery emulator is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> BigQueryEmulator:
        if self._process is not None:
            return self
        started = time.monotonic()
        last_error = ""
        for _attempt in range(3):  # another process may grab the free port before crucible binds it
            port = _free_port()
            if self._spawn(port):
                self.port = port
                self.startup_seconds = time.monotonic() - started
                return self
            last_error = self.log_tail()
            if "address already in use" not in last_error.lower():
                break
        raise EmulatorError(f"the BigQuery emulator ({self.binary}) did not start; "
                            f"log {self.log_path}:\n{last_error}")

    def _spawn(self, port: int) -> bool:
        cmd = [str(self.binary), "serve", "--dialect", "bigquery", "--host", "127.0.0.1",
               "--port", str(port)]
        if self.database is not None:
            cmd += ["--database", str(self.database)]
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://127.0.0.1:{port}/_crucible/health"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if json.load(response).get("dialect") == "bigquery":
                        return True
            except (OSError, ValueError):
                time.sleep(0.05)
        self.stop()
        raise EmulatorError(f"the BigQuery emulator did not answer on {url} within "
                            f"{self.startup_timeout:.0f}s; log {self.log_path}:\n{self.log_tail()}")

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        process, self._process = self._process, None
        self.port = None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> BigQueryEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- using it -----------------------------------------------------------------------------
    def client(self, project: str | None = None) -> bigquery.Client:
        """A google-cloud-bigquery client pointed at the emulator, with anonymous credentials.
        Closed by stop()."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        client = bigquery.Client(project=project or self.project,
                                 credentials=AnonymousCredentials(),
                                 client_options=ClientOptions(api_endpoint=self.api_endpoint))
        self._clients.append(client)
        return client

    def create_dataset(self, prefix: str = "test") -> str:
        """Create a dataset with a name not used before in this process; return its id."""
        dataset = f"{prefix}_{os.getpid()}_{next(_dataset_counter)}"
        self._request("POST", f"/bigquery/v2/projects/{self.project}/datasets",
                      {"datasetReference": {"projectId": self.project, "datasetId": dataset}})
        return dataset

    def reset(self) -> None:
        """Drop every dataset, table and job (crucible's admin endpoint)."""
        self._request("POST", "/_crucible/reset", {})

    def _request(self, method: str, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.api_endpoint + path, method=method,
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"{method} {path}: HTTP {exc.code}: "
                                f"{exc.read().decode(errors='replace')}") from None


# --- writing rows ----------------------------------------------------------------------------
# DuckDB column types of sample_data.schema -> BigQuery types.
BIGQUERY_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT64", "BIGINT": "INT64", "BOOLEAN": "BOOL",
                  "DATE": "DATE", "TIMESTAMP": "TIMESTAMP", "DOUBLE": "FLOAT64", "DECIMAL(18, 2)": "NUMERIC"}
ROWS_PER_STATEMENT = 2000  # ~100 bytes a row stays far below BigQuery's 1 MB query text limit


def string_literal(value: str) -> str:
    """A GoogleSQL string literal for any text."""
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'")
               .replace("\n", "\\n").replace("\r", "\\r"))
    return f"'{escaped}'"


def _json_value(value: object) -> object:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)  # Decimal, date, float


def insert_rows(client: bigquery.Client, table: str, columns: dict[str, str], rows: list[tuple]) -> int:
    """INSERT rows (tuples in `columns` order; `columns` maps name -> BigQuery type) into an
    existing table `project.dataset.table`, as few DML statements carrying the rows as one JSON
    string literal each. Works on BigQuery and on the emulator (which has no query parameters,
    no insertAll and no JSON load jobs). Naive datetimes are UTC. Returns the rows inserted."""
    names = list(columns)
    select = ", ".join(f"CAST(JSON_VALUE(r, '$.{n}') AS {t})" if t != "STRING" else f"JSON_VALUE(r, '$.{n}')"
                       for n, t in columns.items())
    inserted = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = [{n: _json_value(v) for n, v in zip(names, row, strict=True)}
                 for row in rows[start:start + ROWS_PER_STATEMENT]]
        result = client.query_and_wait(
            f"INSERT INTO `{table}` ({', '.join(names)}) SELECT {select} "
            f"FROM UNNEST(JSON_QUERY_ARRAY({string_literal(json.dumps(chunk))})) AS r")
        inserted += result.num_dml_affected_rows or 0
    return inserted


def create_source_tables(client: bigquery.Client, dataset: str, rows: dict[str, list[tuple]]) -> None:
    """(Re)create the source tables of sample_data.schema in `dataset` of the client's project
    and fill each with its rows (tuples in the schema's column order)."""
    from sample_data import schema

    client.create_dataset(dataset, exists_ok=True)
    for table, duck_columns in schema.SOURCE_TABLES.items():
        columns = {name: BIGQUERY_TYPES[t] for name, t in duck_columns.items()}
        full = f"{client.project}.{dataset}.{table}"
        client.query_and_wait(f"CREATE OR REPLACE TABLE `{full}` "
                              f"({', '.join(f'{n} {t}' for n, t in columns.items())})")
        insert_rows(client, full, columns, rows[table])


def load_source_fixtures(client: bigquery.Client, dataset: str = "amperity") -> None:
    """(Re)create the two source tables in `dataset` of the client's project and fill them with
    sample_data.fixtures, as load_fixtures does on DuckDB."""
    from sample_data import fixtures

    create_source_tables(client, dataset, {"customer_360": fixtures.CUSTOMERS,
                                           "unified_itemized_transactions": fixtures.TRANSACTIONS})


def copy_duckdb_sources(client: bigquery.Client, duckdb_path: Path | str, dataset: str,
                        duckdb_schema: str = "amperity") -> dict[str, int]:
    """Copy the source tables of a DuckDB file (e.g. written by sample_data.generator) into
    `dataset`, row for row; returns rows copied per table."""
    import duckdb

    from sample_data import schema

    rows = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        for table, columns in schema.SOURCE_TABLES.items():
            rows[table] = con.execute(f"SELECT {', '.join(columns)} FROM {duckdb_schema}.{table}").fetchall()
    create_source_tables(client, dataset, rows)
    return {table: len(table_rows) for table, table_rows in rows.items()}


# The offline_events contract (docs: the view's columns) in BigQuery types.
OFFLINE_EVENTS_COLUMNS = {
    "event_id": "STRING", "event_name": "STRING", "event_time": "INT64", "action_source": "STRING",
    "order_id": "STRING", "currency": "STRING", "value": "NUMERIC", "num_items": "INT64",
    "contents": "ARRAY<STRUCT<id STRING, quantity INT64, item_price FLOAT64>>", "store_id": "STRING",
    "delivery_category": "STRING",
    **{name: "STRING" for name in ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")},
    "custom_data_json": "STRING", "user_data_json": "STRING",
}
_CONTENTS_FROM_JSON = ("ARRAY(SELECT AS STRUCT JSON_VALUE(c, '$.id') AS id, "
                       "CAST(JSON_VALUE(c, '$.quantity') AS INT64) AS quantity, "
                       "CAST(JSON_VALUE(c, '$.item_price') AS FLOAT64) AS item_price "
                       "FROM UNNEST(JSON_QUERY_ARRAY(r, '$.contents')) AS c)")


def create_offline_events_table(client: bigquery.Client, dataset: str, rows: list[dict] = (),
                                table: str = "offline_events") -> str:
    """(Re)create `dataset.table` as a TABLE with the offline_events contract columns (so sync
    tests need no dbt build) and insert rows (dicts as tests/sync/offline_events_fixture.make_row
    makes them: value as text, contents as a list of dicts; custom_data_json and user_data_json
    as the dbt macros write them unless a row sets them). Returns `project.dataset.table`."""
    full = f"{client.project}.{dataset}.{table}"
    client.create_dataset(dataset, exists_ok=True)
    client.query_and_wait(f"CREATE OR REPLACE TABLE `{full}` "
                          f"({', '.join(f'{n} {t}' for n, t in OFFLINE_EVENTS_COLUMNS.items())})")
    insert_offline_events(client, full, rows)
    return full


def insert_offline_events(client: bigquery.Client, table: str, rows: list[dict]) -> int:
    """Add offline_events rows (dicts) to an existing table `project.dataset.table`."""
    from tests.sync.offline_events_fixture import fixture_value
    select = ", ".join(_CONTENTS_FROM_JSON if t.startswith("ARRAY") else
                       f"JSON_VALUE(r, '$.{n}')" if t == "STRING" else f"CAST(JSON_VALUE(r, '$.{n}') AS {t})"
                       for n, t in OFFLINE_EVENTS_COLUMNS.items())
    inserted = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = [{n: (row.get(n) if n == "contents" else _json_value(fixture_value(row, n))) for n in OFFLINE_EVENTS_COLUMNS}
                 for row in rows[start:start + ROWS_PER_STATEMENT]]
        result = client.query_and_wait(
            f"INSERT INTO `{table}` ({', '.join(OFFLINE_EVENTS_COLUMNS)}) SELECT {select} "
            f"FROM UNNEST(JSON_QUERY_ARRAY({string_literal(json.dumps(chunk))})) AS r")
        inserted += result.num_dml_affected_rows or 0
    return inserted


def bigquery_sync_config(emulator: BigQueryEmulator, dataset: str, state_dataset: str, chunk_size: int = 1000,
                         extra: str = ""):
    """A capi-sync config (sync.config.SyncConfig) reading `dataset.offline_events` in the emulator,
    state in `state_dataset`; the destination is a placeholder (the source and state tests send nothing)."""
    import textwrap

    from sync.config import parse_config

    return parse_config(textwrap.dedent(f"""\
        name: offline_events
        source: {{type: bigquery, project: {emulator.project}, dataset: {dataset}, api_endpoint: "{emulator.api_endpoint}",
                  chunk_size: {chunk_size}}}
        state: {{dataset: {state_dataset}}}
        destination: {{dataset_id: "1", access_token: "{{{{ env_var('CAPI_TEST_TOKEN', 'x') }}}}"}}
        """) + extra)


# --- pytest fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """One emulator for the whole test session; skips the test when there is no crucible."""
    binary, reason = find_crucible()
    if binary is None:
        pytest.skip(reason)
    log_path = tmp_path_factory.mktemp("bigquery-emulator") / "crucible.log"
    with BigQueryEmulator(binary, log_path=log_path) as emulator:
        yield emulator


@pytest.fixture
def bigquery_dataset(bigquery_emulator: BigQueryEmulator) -> str:
    """A new, empty dataset in the session's emulator (its id, in bigquery_emulator.project)."""
    return bigquery_emulator.create_dataset()
