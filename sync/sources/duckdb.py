"""Read the `offline_events` view from a DuckDB file, streamed as Arrow record batches.

The run opens the file read-write once; the state store uses the same database (DuckDB
allows one writing process), and the read anti-joins the ledger in SQL.
"""
from __future__ import annotations

import os
import re
from typing import Iterator

import duckdb

from sync.config import SyncConfig
from sync.errors import LockHeldError, SourceError
from sync.events import COPIES_COLUMN, REQUIRED_COLUMNS
from sync.identifiers import quote, quote_relation
from sync.sources.base import CURSOR_KEY, Chunk
from sync.state.base import DEAD_LETTERS, SENT_EVENTS

_PID = re.compile(r"PID (\d+)")


def connect(path: str, read_only: bool, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file; a file locked by another process becomes one clear line."""
    if not os.path.exists(path):
        raise SourceError(f"source.path: DuckDB file {path} does not exist "
                          "(create it with the sample-data generator and `dbt build`, or set DUCKDB_PATH)")
    settings = {"memory_limit": memory_limit} if memory_limit else {}
    try:
        return duckdb.connect(path, read_only=read_only, config=settings)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _PID.search(text)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise LockHeldError(f"the DuckDB file {path} is in use by {who} (a dbt build or another "
                                "sync?); run again when it has finished; nothing was sent") from None
        raise SourceError(f"cannot open DuckDB file {path}: {text.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise SourceError(f"cannot open DuckDB file {path}: {str(exc).splitlines()[0]}") from None


class DuckDBSource:
    def __init__(self, config: SyncConfig, read_only: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None):
        source = config.source
        self.path = source.path
        self.relation = source.relation
        self.chunk_size = source.chunk_size
        self.cursor_column = config.cursor.column
        self.sync_name = config.name
        self.description = f"{self.relation} in {self.path}"
        self.connection = connection or connect(self.path, read_only, source.memory_limit)
        self._q_relation = quote_relation(self.relation)
        self._q_state = quote(config.state.schema_)

    def columns(self) -> list[str]:
        try:
            cur = self.connection.execute(f"SELECT * FROM {self._q_relation} LIMIT 0")
        except duckdb.CatalogException:
            raise SourceError(f"source.relation: {self.relation} does not exist in {self.path} "
                              "(run `dbt build` first?)") from None
        except duckdb.Error as exc:
            raise SourceError(f"source.relation: cannot read {self.relation}: "
                              f"{str(exc).splitlines()[0]}") from None
        return [d[0] for d in cur.description]

    def check_columns(self) -> None:
        present = set(self.columns())
        for column in (*REQUIRED_COLUMNS, self.cursor_column):
            if column not in present:
                raise SourceError(f"source.relation: {self.relation} has no column {column!r} "
                                  f"(has: {', '.join(sorted(present))})")

    def _select(self) -> str:
        cols = []
        for c in REQUIRED_COLUMNS:
            if c == "value":
                cols.append(f'CAST(v."value" AS DOUBLE) AS "value"')
            else:
                cols.append(f"v.{quote(c)}")
        cols.append(f"v.{quote(self.cursor_column)} AS {CURSOR_KEY}")
        cols.append(f'count(*) OVER (PARTITION BY v."event_id") AS {COPIES_COLUMN}')
        return f"SELECT {', '.join(cols)} FROM {self._q_relation} AS v"

    def _order(self) -> str:
        return f' ORDER BY v.{quote(self.cursor_column)} ASC NULLS LAST, v."event_id" ASC NULLS LAST'

    def _stream(self, sql: str, params: list) -> Iterator[Chunk]:
        # A separate cursor: the state store may write on the main connection meanwhile.
        reader_con = self.connection.cursor()
        try:
            try:
                reader = reader_con.execute(sql, params).to_arrow_reader(self.chunk_size)
            except duckdb.Error as exc:
                raise SourceError(f"source.relation: reading {self.relation} failed: "
                                  f"{str(exc).splitlines()[0]}") from None
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                chunk = {name: column.to_pylist() for name, column in zip(batch.schema.names, batch.columns)}
                yield chunk
        finally:
            reader_con.close()

    def read(self, lower_bound: int | None, exclude_sent: bool) -> Iterator[Chunk]:
        q_cursor = f"v.{quote(self.cursor_column)}"
        where, params = [], []
        if lower_bound is not None:
            where.append(f"({q_cursor} >= ? OR {q_cursor} IS NULL)")
            params.append(lower_bound)
        if exclude_sent:
            where.append(f"NOT EXISTS (SELECT 1 FROM {self._q_state}.{quote(SENT_EVENTS)} AS s "
                         "WHERE s.sync_name = ? AND s.event_id = v.event_id)")
            where.append(f"NOT EXISTS (SELECT 1 FROM {self._q_state}.{quote(DEAD_LETTERS)} AS d "
                         "WHERE d.sync_name = ? AND d.event_id = v.event_id AND d.resolved_at IS NULL)")
            params += [self.sync_name, self.sync_name]
        sql = self._select() + (" WHERE " + " AND ".join(where) if where else "") + self._order()
        return self._stream(sql, params)

    def read_event_ids(self, event_ids: list[str]) -> Iterator[Chunk]:
        sql = self._select() + ' WHERE v."event_id" IN (SELECT unnest(?))' + self._order()
        return self._stream(sql, [list(event_ids)])

    def close(self) -> None:
        try:
            self.connection.close()
        except duckdb.Error:
            pass
