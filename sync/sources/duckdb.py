"""Read `offline_events` from a DuckDB file as pages of warehouse-built events (docs/sync.md,
How the DuckDB source reads)."""
from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.config import SyncConfig
from sync.contract import LDU_KEYS, REQUIRED_COLUMNS
from sync.errors import LockHeldError, SourceError, first_line
from sync.events import COPIES_COLUMN, EventSettings, ReadyChunk
from sync.identifiers import quote, quote_relation
from sync.sources.base import CURSOR_KEY, ColumnChecks, Dialect, event_ldu_sql, ready_query
from sync.sources.ready import ready_page
from sync.state.base import DEAD_LETTERS, SENT_EVENTS

_PID = re.compile(r"PID (\d+)")


DIALECT = Dialect(quote, lambda value: f"to_json({value})", "DOUBLE", "len")
# Rows per Arrow batch of the read's plan (streamed: its memory does not grow with the read).
PLAN_BATCH_ROWS = 65_536
# A writing connection checkpoints DuckDB's write-ahead log only past this size (about 2 million
# ledger rows; else once, at the run's end: `checkpoint_wal`; docs/sync.md, Memory).
CHECKPOINT_THRESHOLD = "256MB"
# DuckDB's memory_limit on a table (not a view) when source.memory_limit is not set: twice what a
# page of 5,000 rows needs (docs/sync.md, Memory).
DEFAULT_TABLE_MEMORY_LIMIT = "64MB"
# The event ids an incremental read leaves out, copied with its plan (`_snapshot_exclusions`).
EXCLUDED_TABLE = "temp.main.capi_sync_excluded"
CURSOR_VALUE = "cursor_value"   # its column of the excluded rows' cursor


def connect(path: str, read_only: bool, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file; a file locked by another process becomes one clear line."""
    if not os.path.exists(path):
        raise SourceError(f"source.path: DuckDB file {path} does not exist "
                          "(create it with the sample-data generator and `dbt build`, or set DUCKDB_PATH)")
    settings = {"memory_limit": memory_limit} if memory_limit else {}
    if not read_only:
        settings["checkpoint_threshold"] = CHECKPOINT_THRESHOLD
    try:
        return duckdb.connect(path, read_only=read_only, config=settings)
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
            pid = _PID.search(str(exc))
            who = f"process {pid.group(1)}" if pid else "another process"
            raise LockHeldError(f"the DuckDB file {path} is in use by {who} (a dbt build or another "
                                "sync?); run again when it has finished; nothing was sent") from None
        raise SourceError(f"cannot open DuckDB file {path}: {first_line(exc)}") from None


# How DuckDB words running out of its memory_limit (also inside a failed commit's error).
_OUT_OF_MEMORY = ("out of memory", "failed to pin block", "failed to allocate")
# What reading a DuckDB result can raise (pyarrow's: DuckDB failing while converting to Arrow).
_READ_ERRORS = (duckdb.Error, pa.ArrowException)


def error_line(exc: BaseException, memory_limit: str | None, chunk_size: int, view: bool = False) -> str:
    """The first line of a DuckDB error; when DuckDB ran out of memory, followed by the settings
    that decide how much a run needs (a view is evaluated whole at every read)."""
    line = first_line(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) or any(s in str(exc).lower() for s in _OUT_OF_MEMORY):
        limit = memory_limit or "DuckDB's default, 80% of RAM"
        if view:
            line += (f" (DuckDB ran out of memory: raise source.memory_limit, now {limit}; a view is evaluated "
                     "whole at every read, so at millions of orders build offline_events as a table; "
                     "docs/sync.md, Memory)")
        else:
            line += (f" (DuckDB ran out of memory: raise source.memory_limit, now {limit}, or lower "
                     f"source.chunk_size, now {chunk_size}; docs/sync.md, Memory)")
    return line


class ReadFilter(NamedTuple):
    """Which rows of the relation (`AS v`) a query reads: joins, then conditions; `params` in the
    order of their `?` in the SQL text (the joins' first)."""

    joins: str = ""
    conditions: tuple[str, ...] = ()
    params: tuple = ()

    def sql(self) -> str:
        """What follows `FROM relation AS v`."""
        return self.joins + (" WHERE " + " AND ".join(self.conditions) if self.conditions else "")

    def where(self, condition: str, *params) -> ReadFilter:
        """This filter and one more condition, with its parameters."""
        return ReadFilter(self.joins, (*self.conditions, condition), (*self.params, *params))


class DuckDBSource(ColumnChecks):
    # The DuckDB types a cursor column may have: integers that fit in an int64.
    CURSOR_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")

    def __init__(self, config: SyncConfig, read_only: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None):
        source = config.source
        self.path = source.path
        self.relation = source.relation
        self.chunk_size = source.chunk_size
        self.memory_limit = source.memory_limit
        self.cursor_column = config.cursor.column
        self.sync_name = config.name
        self.description = f"{self.relation} in {self.path}"
        self._own_connection = connection is None
        self.connection = connection or connect(self.path, read_only, source.memory_limit)
        self._table_default = False   # DEFAULT_TABLE_MEMORY_LIMIT applied: source.memory_limit not set
        self._q_relation = quote_relation(self.relation)
        self._q_state = quote(config.state.schema_)
        self._types: dict[str, str] = {}
        self._view = False   # the relation being read is a view (set by read_ready)
        self._config_ldu = config.destination.data_processing_options is not None

    def error_line(self, exc: BaseException) -> str:
        """`error_line` with this source's memory settings (the state store reports with it too)."""
        limit = f"{DEFAULT_TABLE_MEMORY_LIMIT}, the default for a table" if self._table_default else self.memory_limit
        return error_line(exc, limit, self.chunk_size, view=self._view)

    def _read_failed(self, exc: BaseException) -> SourceError:
        return SourceError(f"source.relation: reading {self.relation} failed: {self.error_line(exc)}")

    def columns(self) -> list[str]:
        try:
            cur = self.connection.execute(f"SELECT * FROM {self._q_relation} LIMIT 0")
        except duckdb.CatalogException:
            raise SourceError(f"source.relation: {self.relation} does not exist in {self.path} "
                              "(run `dbt build` first?)") from None
        except duckdb.Error as exc:
            raise SourceError(f"source.relation: cannot read {self.relation}: {self.error_line(exc)}") from None
        self._types = {d[0]: str(d[1]) for d in cur.description}
        # Finish the query: left open, its result would hold memory in DuckDB's pool all run.
        cur.fetchall()
        return list(self._types)

    def _events_set_ldu(self) -> bool:
        try:
            return bool(self.connection.execute(event_ldu_sql(self._q_relation)).fetchall())
        except duckdb.Error as exc:
            raise self._read_failed(exc) from None

    def _filter(self, lower_bound: int | None, exclude_sent: bool, excluded: str | None = None,
                page: tuple[str, list] | None = None) -> ReadFilter:
        """The rows a read takes: cursor >= lower_bound (or NULL), when `exclude_sent` minus the excluded
        ids (of table `excluded` if given) by an anti-join, or for a `page` by a NOT EXISTS on its range."""
        q_cursor = f"v.{quote(self.cursor_column)}"
        joins, conditions, params = "", [], []
        if exclude_sent:
            if excluded is None:
                excluded = f"({self._exclusions_sql()})"
                params += [self.sync_name, self.sync_name]
            if page is not None:
                in_range = page[0].replace(q_cursor, f"x.{CURSOR_VALUE}")
                conditions.append(f"NOT EXISTS (SELECT 1 FROM {excluded} AS x WHERE x.event_id = v.event_id "
                                  f"AND {in_range})")
                params += page[1]
            else:
                joins = f" ANTI JOIN {excluded} AS x ON x.event_id = v.event_id"
        if lower_bound is not None:
            conditions.append(f"({q_cursor} >= ? OR {q_cursor} IS NULL)")
            params.append(lower_bound)
        if page is not None:
            conditions.append(page[0])
            params += page[1]
        return ReadFilter(joins, tuple(conditions), tuple(params))

    def _exclusions_sql(self) -> str:
        """The event ids a read leaves out (parameters: the sync's name, twice)."""
        return (f"SELECT event_id FROM {self._q_state}.{quote(SENT_EVENTS)} WHERE sync_name = ? UNION ALL "
                f"SELECT event_id FROM {self._q_state}.{quote(DEAD_LETTERS)} WHERE sync_name = ? "
                "AND resolved_at IS NULL AND event_id IS NOT NULL")

    def read_ready(self, lower_bound: int | None, exclude_sent: bool,
                   settings: EventSettings) -> Iterator[ReadyChunk]:
        """The rows of `_filter(lower_bound, exclude_sent)` as pages of events (Source): a table
        in cursor-range pages of about chunk_size rows, a view in one sorted query."""
        table = self._relation_is_table()
        return self._stream_ready(settings, pages=table, lower_bound=lower_bound, exclude_sent=exclude_sent)

    def read_event_ids_ready(self, event_ids: list[str], settings: EventSettings) -> Iterator[ReadyChunk]:
        self._relation_is_table()
        ids = ReadFilter(conditions=('v."event_id" IN (SELECT unnest(?))',), params=(list(event_ids),))
        return self._stream_ready(settings, pages=False, read_filter=ids)

    def _relation_is_table(self) -> bool:
        """Whether the relation is a table (else a view); a table on the source's own connection
        gets DEFAULT_TABLE_MEMORY_LIMIT when source.memory_limit is not set."""
        table = self._is_table()
        self._view = not table
        if table and self.memory_limit is None and self._own_connection and not self._table_default:
            try:
                self.connection.execute(f"SET memory_limit = '{DEFAULT_TABLE_MEMORY_LIMIT}'")
            except duckdb.Error as exc:
                raise SourceError(f"source.memory_limit: cannot set {DEFAULT_TABLE_MEMORY_LIMIT}: "
                                  f"{first_line(exc)}") from None
            self._table_default = True
        return table

    def _is_table(self) -> bool:
        schema, _, name = self.relation.rpartition(".")
        row = self.connection.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = coalesce(nullif(?, ''), "
            "current_schema()) AND table_name = ?", [schema, name]).fetchall()
        return bool(row) and row[0][0] == "BASE TABLE"

    def _snapshot_exclusions(self, con: duckdb.DuckDBPyConnection, read: ReadFilter) -> bool:
        """Copy into EXCLUDED_TABLE (temporary, on `con`) the ids of `read` the ledger and unresolved dead
        letters hold now, each with its row's cursor; False, and no table, when there are none."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {EXCLUDED_TABLE.rpartition('.')[2]} AS "
                    f"SELECT DISTINCT r.event_id, r.{CURSOR_VALUE} FROM (SELECT v.event_id, "
                    f"v.{quote(self.cursor_column)} AS {CURSOR_VALUE} FROM {self._q_relation} AS v{read.sql()}) AS r "
                    f"SEMI JOIN ({self._exclusions_sql()}) AS x ON x.event_id = r.event_id",
                    [*read.params, self.sync_name, self.sync_name])
        # fetchall: a result left unfinished (fetchone) would refuse the read's next `sql()`
        ((found,),) = con.execute(f"SELECT EXISTS (SELECT 1 FROM {EXCLUDED_TABLE})").fetchall()
        if not found:
            con.execute(f"DROP TABLE {EXCLUDED_TABLE}")
        return found

    def _duplicates(self, con: duckdb.DuckDBPyConnection, read: ReadFilter) -> dict[str, int]:
        """event_id -> copies, for the ids that occur more than once in this read: equal
        neighbours among the sorted, streamed 64-bit id hashes, then a GROUP BY on those."""
        ids = read.where('v."event_id" IS NOT NULL')
        reader = con.sql(f'SELECT hash(v."event_id") AS h FROM {self._q_relation} AS v{ids.sql()} ORDER BY h',
                         params=list(ids.params)).to_arrow_reader(PLAN_BATCH_ROWS)
        candidates: set[int] = set()
        last = None   # the previous batch's last hash
        for batch in self._batches(reader):
            hashes = batch.column(0).to_numpy()
            if last is not None and hashes[0] == last:
                candidates.add(int(last))
            candidates.update(np.unique(hashes[1:][hashes[1:] == hashes[:-1]]).tolist())
            last = hashes[-1]
        if not candidates:
            return {}
        ids = read.where('hash(v."event_id") IN (SELECT unnest(?::UBIGINT[]))', sorted(candidates))
        rows = con.execute(f'SELECT v."event_id", count(*) FROM {self._q_relation} AS v{ids.sql()} '
                           'GROUP BY 1 HAVING count(*) > 1', list(ids.params)).fetchall()
        return {event_id: n for event_id, n in rows if event_id}

    def _pages(self, con: duckdb.DuckDBPyConnection, read: ReadFilter) -> list[tuple[str, list]]:
        """(extra condition, its parameters) per page: consecutive cursor ranges of about
        chunk_size rows (a cursor value is never split), then the NULL cursors."""
        q_cursor = f"v.{quote(self.cursor_column)}"
        reader = con.sql(f"SELECT {q_cursor}, count(*) FROM {self._q_relation} AS v{read.sql()} "
                         "GROUP BY 1 ORDER BY 1 NULLS LAST", params=list(read.params)).to_arrow_reader(PLAN_BATCH_ROWS)
        ranges: list[list[int]] = []   # [first value, last value] per page
        page = -1   # the page of the last value seen
        rows_before = 0
        nulls = 0
        for batch in self._batches(reader):
            values, counts = batch.column(0), batch.column(1).to_numpy()
            if values.null_count:   # NULLS LAST: the last row of the last batch
                nulls = int(counts[-1])
                values, counts = values.slice(0, len(values) - 1), counts[:-1]
            if not len(counts):
                continue
            values = values.to_numpy()
            page_of = (rows_before + np.cumsum(counts) - counts) // self.chunk_size
            rows_before += int(counts.sum())
            starts = np.flatnonzero(np.diff(page_of, prepend=page)).tolist()
            if ranges and (not starts or starts[0] > 0):   # the open page goes on in this batch
                ranges[-1][1] = int(values[starts[0] - 1 if starts else -1])
            for k, start in enumerate(starts):
                end = starts[k + 1] - 1 if k + 1 < len(starts) else len(values) - 1
                ranges.append([int(values[start]), int(values[end])])
            page = int(page_of[-1])
        pages: list[tuple[str, list]] = [(f"{q_cursor} BETWEEN ? AND ?", bounds) for bounds in ranges]
        if nulls:
            pages.append((f"{q_cursor} IS NULL", []))
        return pages

    def _stream_ready(self, settings: EventSettings, pages: bool, read_filter: ReadFilter | None = None,
                      lower_bound: int | None = None, exclude_sent: bool = False) -> Iterator[ReadyChunk]:
        """The read of `read_filter`, or else of `_filter(lower_bound, exclude_sent)`."""
        # The plan (duplicates, pages) in one read transaction, each page in its own.
        reader_con = self.connection.cursor()
        try:
            try:
                if pages:
                    # one DuckDB thread: a page gains nothing from more, which compete with the senders
                    reader_con.execute("SET threads = 1")
                reader_con.execute("BEGIN TRANSACTION")
                unexcluded = read_filter or self._filter(lower_bound, False)
                exclude = False   # the read excludes the copy of `_snapshot_exclusions`
                if read_filter is None:
                    # no exclusion when there is nothing to exclude (it costs on every page)
                    exclude = exclude_sent and self._snapshot_exclusions(reader_con, unexcluded)
                    read_filter = self._filter(lower_bound, True, EXCLUDED_TABLE) if exclude else unexcluded
                # The exclusion keeps or drops every copy of an id together: the scan skips it.
                duplicates = self._duplicates(reader_con, unexcluded)
                plan = self._pages(reader_con, read_filter) if pages else [(None, [])]
                reader_con.execute("COMMIT")
            except _READ_ERRORS as exc:
                raise self._read_failed(exc) from None
            seen: set[str] = set()
            for condition, extra in plan:
                if condition is None:   # the read in one query
                    page = read_filter
                elif exclude:   # a page excludes the copied ids of its own cursor range
                    page = self._filter(lower_bound, True, EXCLUDED_TABLE, page=(condition, extra))
                else:
                    page = read_filter.where(condition, *extra)
                for batch in self._page_batches(reader_con, page, settings, ordered_scan=condition is not None):
                    columns = {name: batch.column(name) for name in batch.schema.names}
                    # Copies in pyarrow's memory: DuckDB's result buffers go with `batch`.
                    columns.update((name, pa.concat_arrays([columns[name]]))
                                   for name in ("event_id", "order_id", "event_time", CURSOR_KEY))
                    columns[COPIES_COLUMN] = _copies(columns["event_id"], duplicates)
                    del batch
                    yield ready_page(columns, settings, seen)
        finally:
            reader_con.close()

    def _page_batches(self, con: duckdb.DuckDBPyConnection, page: ReadFilter, settings: EventSettings,
                      ordered_scan: bool) -> Iterator[pa.RecordBatch]:
        """The Arrow batches (chunk_size rows) of one page's `ready_query`, in cursor order;
        `ordered_scan` (a table's cursor-range page): read without ORDER BY, then `cursor_ordered`."""
        ldu = self._event_ldu()
        columns = ", ".join(f"v.{quote(name)}" for name in (*REQUIRED_COLUMNS, *(LDU_KEYS if ldu else ())))
        source = (f"SELECT {columns}, v.{quote(self.cursor_column)} AS {CURSOR_KEY} "
                  f"FROM {self._q_relation} AS v{page.sql()}")
        sql = ready_query(source, settings, DIALECT, ldu=ldu)
        try:
            if ordered_scan:
                table = cursor_ordered(con.sql(sql, params=list(page.params)).to_arrow_table(self.chunk_size))
                yield from (batch for batch in table.to_batches(self.chunk_size) if batch.num_rows)
                return
            reader = con.sql(f"{sql} ORDER BY {CURSOR_KEY} ASC NULLS LAST, event_id ASC NULLS LAST",
                             params=list(page.params)).to_arrow_reader(self.chunk_size)
        except _READ_ERRORS as exc:
            raise self._read_failed(exc) from None
        yield from self._batches(reader)

    def _batches(self, reader) -> Iterator[pa.RecordBatch]:
        """The non-empty batches of an Arrow reader; a DuckDB error becomes the source's one line."""
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except _READ_ERRORS as exc:
                raise self._read_failed(exc) from None
            if batch.num_rows:
                yield batch

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.connection.close()


def cursor_ordered(page: pa.Table) -> pa.Table:
    """The page in the read's order, (_cursor, event_id), NULLs last, strings in byte order, as
    DuckDB's ORDER BY sorts them: as it is when already so, else by a stable sort."""
    indices = pc.sort_indices(page, sort_keys=[(CURSOR_KEY, "ascending", "at_end"), ("event_id", "ascending", "at_end")])
    return page if np.array_equal(indices.to_numpy(), np.arange(page.num_rows)) else page.take(indices)


def _copies(event_ids: pa.Array, duplicates: dict[str, int]) -> pa.Array:
    """Per row, how many rows of the read have its event_id (`duplicates`: the ids with more than one)."""
    if not duplicates:
        return pa.array(np.ones(len(event_ids), np.int64))
    where = pc.index_in(event_ids, value_set=pa.array(list(duplicates), pa.string()))
    return pc.fill_null(pc.take(pa.array(list(duplicates.values()), pa.int64()), where), 1)
