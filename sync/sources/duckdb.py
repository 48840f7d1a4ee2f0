"""Read the `offline_events` view from a DuckDB file, streamed as Arrow record batches.

The run opens the file read-write once; the state store uses the same database (DuckDB
allows one writing process), and the read anti-joins the ledger in SQL.
"""
from __future__ import annotations

import os
import re
from typing import Iterator, NamedTuple

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sync.config import SyncConfig
from sync.errors import LockHeldError, SourceError, first_line
from sync.events import (COPIES_COLUMN, REQUIRED_COLUMNS, USER_DATA_COLUMNS, EventSettings, ReadyChunk,
                         build_events, invalid_hash_message)
from sync.identifiers import quote, quote_relation
from sync.sources.base import CURSOR_KEY, Chunk, require_columns, require_integer_cursor, required_columns_sql
from sync.sources.duckdb_event_json import (CUSTOM_COLUMN, CUSTOM_DATA_COLUMN, HEAD_COLUMN, JSON_COLUMN, RAW_COLUMN,
                                           SMALL_COLUMN, SMALL_COLUMNS, USER_DATA_COLUMN, USER_DATA_JSON_COLUMN,
                                           bad_hashes, ldu_suffix, ready_select, stored_select)
from sync.sources.user_data_check import all_hashed_user_data
from sync.state.base import DEAD_LETTERS, SENT_EVENTS

_PID = re.compile(r"PID (\d+)")
# The DuckDB types a cursor column may have: integers that fit in an int64.
CURSOR_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
# Rows at the start of every read whose events are also built by the reference and compared.
VERIFY_ROWS = 1000
# Rows per Arrow batch of the read's plan (the sorted id hashes, the counts per cursor value):
# the plan is streamed, so its memory does not grow with the read.
PLAN_BATCH_ROWS = 65_536
# A writing connection checkpoints DuckDB's write-ahead log only past this size (about 2 million
# ledger rows), so a run of fewer events checkpoints once, at its end (`checkpoint_wal`), and a
# longer one is still bounded (docs/sync.md, Memory). Every commit is in the log meanwhile.
CHECKPOINT_THRESHOLD = "256MB"
# DuckDB's memory_limit on a table when source.memory_limit is not set: twice what a page of
# 5,000 rows needs, so DuckDB's block cache does not grow with the table (docs/sync.md, Memory).
# A view keeps DuckDB's default: it is evaluated whole at every read.
DEFAULT_TABLE_MEMORY_LIMIT = "64MB"
# The event ids an incremental read leaves out, copied when its plan is made (a temporary
# table of the reading connection: `DuckDBSource._snapshot_exclusions`).
EXCLUDED_TABLE = "temp.main.capi_sync_excluded"


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
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = _PID.search(text)
            who = f"process {pid.group(1)}" if pid else "another process"
            raise LockHeldError(f"the DuckDB file {path} is in use by {who} (a dbt build or another "
                                "sync?); run again when it has finished; nothing was sent") from None
        raise SourceError(f"cannot open DuckDB file {path}: {first_line(exc)}") from None
    except duckdb.Error as exc:
        raise SourceError(f"cannot open DuckDB file {path}: {first_line(exc)}") from None


# How DuckDB words running out of its memory_limit (an OutOfMemoryException, or one wrapped
# by a failed commit: "TransactionContext Error: Failed to commit: failed to pin block ...").
_OUT_OF_MEMORY = ("out of memory", "failed to pin block", "failed to allocate")
# What reading a DuckDB result can raise: DuckDB's own errors, and pyarrow's when DuckDB fails
# while converting the result to Arrow.
_READ_ERRORS = (duckdb.Error, pa.ArrowException)


def error_line(exc: BaseException, memory_limit: str | None, chunk_size: int, view: bool = False) -> str:
    """The first line of a DuckDB error; when DuckDB ran out of memory, followed by the
    settings that decide how much a run needs: on a table, a page of chunk_size rows is held
    in DuckDB's memory while it is converted, next to the ledger rows not yet checkpointed;
    a view (`view`) is evaluated whole at every read, whatever the page size."""
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


class DuckDBSource:
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
        self._columns: list[str] | None = None
        self._types: dict[str, str] = {}
        self._view = False   # the relation being read is a view (set by read_ready)

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
        self._columns = [d[0] for d in cur.description]
        self._types = {d[0]: str(d[1]) for d in cur.description}
        # Finish the query: left open, its result would hold memory in DuckDB's pool all run.
        cur.fetchall()
        return self._columns

    def check_columns(self) -> None:
        require_columns(self.relation, self.columns(), self.cursor_column)
        require_integer_cursor(self.relation, self.cursor_column, self._types[self.cursor_column], CURSOR_TYPES)

    def _select(self) -> str:
        cols = required_columns_sql(quote, "DOUBLE")
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
                raise self._read_failed(exc) from None
            for batch in self._batches(reader):
                yield {name: column.to_pylist() for name, column in zip(batch.schema.names, batch.columns)}
        finally:
            reader_con.close()

    def _filter(self, lower_bound: int | None, exclude_sent: bool, excluded: str | None = None,
                page: bool = False) -> ReadFilter:
        """The rows a read takes: cursor >= lower_bound (or NULL), and when `exclude_sent`, not
        among the event ids in this sync's ledger and its unresolved dead letters: those of the
        table `excluded` (`_snapshot_exclusions`, when the read runs in several queries), else
        of the state tables themselves.

        Both id sets are excluded together, by one join: every hash join's build side takes
        about 8MB of DuckDB's pool however few its rows. A whole read (or its plan) excludes
        them with a hash anti-join built from the ids. A `page` of a read excludes them with a
        correlated NOT EXISTS, which DuckDB plans as a delim join built from the page's own event
        ids: bounded by the page, whatever the size of the ledger (over a whole read it would
        collect all of the read's ids)."""
        q_cursor = f"v.{quote(self.cursor_column)}"
        joins, conditions, params = "", [], []
        if exclude_sent:
            if excluded is None:
                excluded = f"({self._exclusions_sql()})"
                params += [self.sync_name, self.sync_name]
            if page:
                conditions.append(f"NOT EXISTS (SELECT 1 FROM {excluded} AS x WHERE x.event_id = v.event_id)")
            else:
                joins = f" ANTI JOIN {excluded} AS x ON x.event_id = v.event_id"
        if lower_bound is not None:
            conditions.append(f"({q_cursor} >= ? OR {q_cursor} IS NULL)")
            params.append(lower_bound)
        return ReadFilter(joins, tuple(conditions), tuple(params))

    def _exclusions_sql(self) -> str:
        """The event ids a read leaves out (parameters: the sync's name, twice)."""
        return (f"SELECT event_id FROM {self._q_state}.{quote(SENT_EVENTS)} WHERE sync_name = ? UNION ALL "
                f"SELECT event_id FROM {self._q_state}.{quote(DEAD_LETTERS)} WHERE sync_name = ? "
                "AND resolved_at IS NULL AND event_id IS NOT NULL")

    def read(self, lower_bound: int | None, exclude_sent: bool) -> Iterator[Chunk]:
        read_filter = self._filter(lower_bound, exclude_sent)
        return self._stream(self._select() + read_filter.sql() + self._order(), list(read_filter.params))

    def read_event_ids(self, event_ids: list[str]) -> Iterator[Chunk]:
        sql = self._select() + ' WHERE v."event_id" IN (SELECT unnest(?))' + self._order()
        return self._stream(sql, [list(event_ids)])

    # --- the hot path: events written by DuckDB (sync/sources/duckdb_event_json.py) ----------

    def read_ready(self, lower_bound: int | None, exclude_sent: bool,
                   settings: EventSettings) -> Iterator[ReadyChunk]:
        """Like `read`, but each row comes checked and, when it is sent, as its event's JSON
        bytes written in SQL (identical to `build_events` + orjson).

        A table is read in pages of about chunk_size rows, one cursor range each (memory does
        not grow with the read; on a table ordered by the cursor each page reads only its own
        row groups). A view is read with one sorted query: paging would evaluate it per page."""
        table = self._relation_is_table()
        return self._stream_ready(settings, pages=table, lower_bound=lower_bound, exclude_sent=exclude_sent)

    def read_event_ids_ready(self, event_ids: list[str], settings: EventSettings) -> Iterator[ReadyChunk]:
        self._relation_is_table()
        ids = ReadFilter(conditions=('v."event_id" IN (SELECT unnest(?))',), params=(list(event_ids),))
        return self._stream_ready(settings, pages=False, read_filter=ids)

    def _relation_is_table(self) -> bool:
        """Whether the relation is a table (else a view); a table read on the source's own
        connection with no source.memory_limit set gets DEFAULT_TABLE_MEMORY_LIMIT."""
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
            "current_schema()) AND table_name = ?", [schema, name]).fetchone()
        return row is not None and row[0] == "BASE TABLE"

    def _snapshot_exclusions(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Copy the event ids a read leaves out (this sync's sent events and unresolved dead
        letters, as they are now: before the run records any) into EXCLUDED_TABLE, a temporary
        table of `con`, the reading connection. Its pages read it in their own transactions and
        see the ledger as the plan did, whatever the run commits meanwhile. False, and no table,
        when there are none (a first run: the anti-join would keep every row)."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {EXCLUDED_TABLE.rpartition('.')[2]} AS {self._exclusions_sql()}",
                    [self.sync_name, self.sync_name])
        (found,) = con.execute(f"SELECT EXISTS (SELECT 1 FROM {EXCLUDED_TABLE})").fetchone()
        if not found:
            con.execute(f"DROP TABLE {EXCLUDED_TABLE}")
        return found

    def _duplicates(self, con: duckdb.DuckDBPyConnection, read: ReadFilter) -> dict[str, int]:
        """event_id -> copies, for the ids that occur more than once in this read: first the
        64-bit hashes of the ids, sorted by DuckDB and streamed (equal neighbours are the
        candidates; memory stays within DuckDB's limit and one batch whatever the read's size),
        then a GROUP BY over the exact ids of those candidates."""
        ids = read.where('v."event_id" IS NOT NULL')
        reader = con.execute(f'SELECT hash(v."event_id") AS h FROM {self._q_relation} AS v{ids.sql()} ORDER BY h',
                             list(ids.params)).to_arrow_reader(PLAN_BATCH_ROWS)
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
        chunk_size rows (one cursor value is never split), then the NULL cursors. The counts
        per cursor value are streamed in order: a page starts at the value whose first row
        falls in a new multiple of chunk_size."""
        q_cursor = f"v.{quote(self.cursor_column)}"
        reader = con.execute(f"SELECT {q_cursor}, count(*) FROM {self._q_relation} AS v{read.sql()} "
                             "GROUP BY 1 ORDER BY 1 NULLS LAST", list(read.params)).to_arrow_reader(PLAN_BATCH_ROWS)
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
        # A separate connection. The plan (duplicates, pages) is made in one read transaction,
        # each page read in its own (a transaction held across the run would keep in memory the
        # ledger rows a checkpoint replaces); the pages exclude the ids copied with the plan
        # (`_snapshot_exclusions`), so every page sees the relation and the ledger as the plan did.
        reader_con = self.connection.cursor()
        try:
            try:
                if pages:
                    # Pages of chunk_size rows gain nothing from parallel DuckDB threads; one
                    # thread leaves the cores to the senders and holds one thread's buffers.
                    reader_con.execute("SET threads = 1")
                reader_con.execute("BEGIN TRANSACTION")
                unexcluded = read_filter or self._filter(lower_bound, False)
                page_filter = read_filter   # what each page reads (with its cursor range)
                if read_filter is None:
                    # No exclusion when there is nothing to exclude (it costs time and memory
                    # on every page for nothing).
                    exclude = exclude_sent and self._snapshot_exclusions(reader_con)
                    read_filter = self._filter(lower_bound, True, EXCLUDED_TABLE) if exclude else unexcluded
                    page_filter = (self._filter(lower_bound, True, EXCLUDED_TABLE, page=True) if exclude and pages
                                   else read_filter)
                # The exclusion keeps or drops every copy of an event_id together (it matches
                # on event_id alone), so the duplicates among the rows it keeps are the
                # duplicates of the read without it, and that scan skips the exclusion over
                # the whole read (0.9 s of a 1M-row catch-up run).
                duplicates = self._duplicates(reader_con, unexcluded)
                plan = self._pages(reader_con, read_filter) if pages else [(None, [])]
                reader_con.execute("COMMIT")
            except _READ_ERRORS as exc:
                raise self._read_failed(exc) from None
            seen: set[str] = set()
            columns = self._columns or self.columns()
            custom_data = CUSTOM_DATA_COLUMN in columns
            verify = custom_data   # the first VERIFY_ROWS rows also through the reference
            # A table that stores user_data too is read without its hashed columns; the first
            # rows of the first such page are also read the exact way and compared (`_compared`).
            stored = pages and custom_data and USER_DATA_JSON_COLUMN in columns
            compare = stored
            for condition, extra in plan:
                page = page_filter if condition is None else page_filter.where(condition, *extra)
                page_where, page_params = page.sql(), list(page.params)
                if stored and condition is not None:
                    read = self._stored_page(reader_con, page_where, page_params, settings, duplicates, seen)
                    if read is not None and compare:
                        read = self._compared(reader_con, page_where, page_params, settings, duplicates, seen, read)
                    if read is not None:
                        chunks, seen = read
                        compare = verify = False
                        while chunks:
                            yield chunks.pop(0)
                        continue
                for batch in self._page_batches(reader_con, page_where, page_params, settings,
                                                custom_data, verify, ordered_scan=condition is not None):
                    ready = _ready_chunk(batch, settings, duplicates, seen)
                    if verify:
                        _verify_custom_data(batch, ready, settings, self.relation)
                        verify = False
                    del batch   # its bytes are in `ready` now: do not hold both while it is sent
                    yield ready
                    del ready
        finally:
            reader_con.close()

    def _stored_page(self, con: duckdb.DuckDBPyConnection, where: str, params: list, settings: EventSettings,
                     duplicates: dict[str, int], seen: set[str]) -> tuple[list[ReadyChunk], set[str]] | None:
        """One cursor-range page of a table that stores user_data_json, read with
        `stored_select`: its ReadyChunks and `seen` after them, or None when a row of the page
        needs the hashed columns (a user_data value that is not a hash, or a row the SQL did
        not send whose skip reason depends on them); the caller then reads the page the exact
        way. Rows are in cursor order (`_in_cursor_order_sorted`). `seen` itself is not changed."""
        page = _in_cursor_order_sorted(self._arrow_table(
            con, stored_select(self._q_relation, f"v.{quote(self.cursor_column)}", where, settings), params))
        suffix = (ldu_suffix(settings) + "}").encode()
        after = set(seen)
        chunks = []
        for batch in page.to_batches(max_chunksize=self.chunk_size):
            if batch.num_rows:
                ready = _stored_ready_chunk(batch, settings, duplicates, after, suffix)
                if ready is None:
                    return None
                chunks.append(ready)
        return chunks, after

    def _compared(self, con: duckdb.DuckDBPyConnection, where: str, params: list, settings: EventSettings,
                  duplicates: dict[str, int], seen: set[str],
                  read: tuple[list[ReadyChunk], set[str]]) -> tuple[list[ReadyChunk], set[str]] | None:
        """The first stored page's first VERIFY_ROWS rows read again the exact way (from the
        hashed columns, and compared with the reference by `_verify_custom_data`): the two
        must agree byte for byte (`_compare_pages` raises SourceError where they do not).
        Returns `read`, or None when the exact read did not start with the same rows (the
        page is then read the exact way)."""
        sql = ready_select(self._q_relation, f"v.{quote(self.cursor_column)}", where, "", settings,
                           custom_data=True, verify=True) + f" LIMIT {VERIFY_ROWS}"
        rows = self._arrow_table(con, sql, params, VERIFY_ROWS)
        if not rows.num_rows:
            return None
        batch = rows.combine_chunks().to_batches()[0]
        exact = _ready_chunk(batch, settings, duplicates, set(seen))
        _verify_custom_data(batch, exact, settings, self.relation)
        first = read[0][0]
        n = min(len(exact), len(first))   # a page of one cursor value can hold more than a chunk
        if not (first.event_ids.slice(0, n).equals(exact.event_ids.slice(0, n))
                and first.cursors.slice(0, n).equals(exact.cursors.slice(0, n))):
            return None
        _compare_pages(first, exact, n, self.relation)
        return read

    def _arrow_table(self, con: duckdb.DuckDBPyConnection, sql: str, params: list,
                     batch_rows: int | None = None) -> pa.Table:
        """The result of one query as an Arrow table, converted in batches of `batch_rows`
        rows (default chunk_size): with DuckDB's default batch, a million rows, it reserves
        Arrow buffers for a million rows per column for every query (59 GB allocated and
        freed in a 1M-order run against 18.7 GB; fewer page faults, less system time). A
        DuckDB error becomes the source's one-line error."""
        try:
            return con.execute(sql, params).to_arrow_table(batch_rows or self.chunk_size)
        except _READ_ERRORS as exc:
            raise self._read_failed(exc) from None

    def _ready_order(self) -> str:
        return " ORDER BY _cursor ASC NULLS LAST, event_id ASC NULLS LAST"

    def _page_batches(self, con: duckdb.DuckDBPyConnection, where: str, params: list, settings: EventSettings,
                      custom_data: bool, verify: bool, ordered_scan: bool) -> Iterator:
        """The Arrow batches (chunk_size rows) of one page of `ready_select`, in cursor order.

        `ordered_scan` (a cursor-range page of a table): the page is read without ORDER BY and
        checked in numpy; a table stored in cursor order (offline_events materialized as a
        table) comes back ordered, and the sort was a third of the page's cost. A page that
        is not in order is sorted by Arrow (`_in_cursor_order_sorted`)."""
        cursor_sql = f"v.{quote(self.cursor_column)}"

        def sql(order: str) -> str:
            return ready_select(self._q_relation, cursor_sql, where, order, settings,
                                custom_data=custom_data, verify=verify)

        if ordered_scan:
            page = _in_cursor_order_sorted(self._arrow_table(con, sql(""), params))
            batches = page.to_batches(max_chunksize=self.chunk_size)
            del page
            while batches:
                batch = batches.pop(0)
                if batch.num_rows:
                    yield batch
            return
        try:
            result = con.execute(sql(self._ready_order()), params)
        except duckdb.Error as exc:
            raise self._read_failed(exc) from None
        yield from self._batches(result.to_arrow_reader(self.chunk_size))

    def _batches(self, reader) -> Iterator[pa.RecordBatch]:
        """The non-empty batches of an Arrow reader over a DuckDB result; a DuckDB error while
        reading (out of memory, say) becomes the source's one-line error."""
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
        try:
            self.connection.close()
        except duckdb.Error:
            pass


def _ready_chunk(batch, settings: EventSettings, duplicates: dict[str, int], seen: set[str]) -> ReadyChunk:
    """One Arrow batch of `ready_select` -> ReadyChunk, its columns kept as Arrow arrays.
    Duplicates and user_data values that are not hashes are skipped here; rows without
    SQL-written JSON (a failed check or an unusual value) go through `build_events`, the
    reference. Only those rows become Python objects."""
    names = batch.schema.names
    column = {name: batch.column(i) for i, name in enumerate(names)}
    event_ids = column["event_id"]
    encoded = column[JSON_COLUMN]
    replace: dict[int, bytes | None] = {}   # row -> its bytes from build_events, or None (skipped)
    has_bytes = encoded.is_valid().to_numpy(zero_copy_only=False)
    python_rows = np.flatnonzero(~has_bytes).tolist()
    skips = _duplicate_skips(event_ids, duplicates, seen)
    replace.update((i, None) for i in skips if has_bytes[i])
    for i, key in bad_hashes(batch).items():
        if has_bytes[i] and i not in skips:   # the other rows: skipped above or decided by build_events
            replace[i] = None
            skips[i] = ("invalid_hash", invalid_hash_message(key))
    python_rows = [i for i in python_rows if i not in skips]
    if python_rows:
        built = _build_raw(column[RAW_COLUMN].take(python_rows), settings)
        for k, i in enumerate(python_rows):
            event = built.events[k]
            if event is not None:
                replace[i] = orjson.dumps(event)
        for k, reason, message in built.skips:
            skips[python_rows[k]] = (reason, message)
    if replace:
        encoded = _replaced(encoded, replace)
    # Copies in pyarrow's memory: the query's own buffers (DuckDB's) are freed with `batch`.
    return ReadyChunk(*(pa.concat_arrays([array]) for array in
                        (event_ids, column["order_id"], column["event_time"], column[CURSOR_KEY], encoded)), skips)


def _duplicate_skips(event_ids: pa.Array, duplicates: dict[str, int], seen: set[str]) -> dict[int, tuple[str, str]]:
    """Row -> its duplicate_event_id skip, by build_events' rule: of the ids that occur more
    than once in the read (`duplicates`), the first copy in read order is kept (its id goes
    into `seen`), later ones are skipped."""
    skips: dict[int, tuple[str, str]] = {}
    if not duplicates:
        return skips
    candidates = pc.is_in(event_ids, value_set=pa.array(list(duplicates), pa.string()))
    for i in np.flatnonzero(candidates.to_numpy(zero_copy_only=False)).tolist():
        event_id = event_ids[i].as_py()
        if event_id in seen:
            skips[i] = ("duplicate_event_id",
                        f"event_id occurs {duplicates[event_id]} times in this read; the first was kept")
        else:
            seen.add(event_id)
    return skips


# Stands in for `contents` when build_events decides a skip reason without the column: the
# contents check comes last, so a row it would reach is never decided this way.
_SOME_CONTENTS = [None]


def _stored_ready_chunk(batch, settings: EventSettings, duplicates: dict[str, int], seen: set[str],
                        suffix: bytes) -> ReadyChunk | None:
    """One Arrow batch of `stored_select` -> ReadyChunk, or None when a row needs the hashed
    columns. Every user_data text of the batch must pass `all_hashed_user_data` first. Sent
    rows are the head, the stored user_data and custom_data, and `suffix` joined by Arrow; a
    row the SQL did not send goes through `build_events` (the reference) with its small
    columns and the user_data it stores, which decides every skip reason up to the contents
    check; a row it would send (contents empty or a number DuckDB writes its own way), or
    skip for having no identifier (the table stores no user_data for it), needs the exact path."""
    column = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    user_data = column[USER_DATA_COLUMN]
    if not all_hashed_user_data(user_data):
        return None
    event_ids, head = column["event_id"], column[HEAD_COLUMN]
    sent = head.is_valid().to_numpy(zero_copy_only=False)
    skips = _duplicate_skips(event_ids, duplicates, seen)
    replace = {i: None for i in skips if sent[i]}
    rows = [i for i in np.flatnonzero(~sent).tolist() if i not in skips]
    if rows:
        small = column[SMALL_COLUMN].take(rows).to_pylist()
        stored = [None if text is None else orjson.loads(text) for text in user_data.take(rows).to_pylist()]
        chunk = {"event_id": event_ids.take(rows).to_pylist(), "order_id": column["order_id"].take(rows).to_pylist(),
                 "event_time": column["event_time"].take(rows).to_pylist(),
                 **{name: [row[name] for row in small] for name in SMALL_COLUMNS},
                 "num_items": [None] * len(rows), "contents": [_SOME_CONTENTS] * len(rows)}
        for key in USER_DATA_COLUMNS:
            values = [None if u is None else u.get(key) for u in stored]
            chunk[key] = [v[0] if isinstance(v, list) else v for v in values]
        built = build_events(chunk, settings)
        if any(event is not None for event in built.events):
            return None
        for k, reason, message in built.skips:
            if reason == "no_customer_identifier":
                return None
            skips[rows[k]] = (reason, message)
    encoded = pc.binary_join_element_wise(head, b',"user_data":', user_data, b',"custom_data":',
                                          column[CUSTOM_COLUMN], suffix, b"")
    if replace:
        encoded = _replaced(encoded, replace)
    # Copies in pyarrow's memory: the query's own buffers (DuckDB's) are freed with `batch`
    # (the joined events are pyarrow's already).
    return ReadyChunk(*(pa.concat_arrays([array]) for array in
                        (event_ids, column["order_id"], column["event_time"], column[CURSOR_KEY])), encoded, skips)


def _compare_pages(stored: ReadyChunk, exact: ReadyChunk, n: int, relation: str) -> None:
    """The first n rows of the first page read with `stored_select` must be, row for row and
    byte for byte, the rows the exact path gives (which `_verify_custom_data` compares with
    the reference): a user_data_json or custom_data_json that disagrees with the table's own
    columns stops the run before anything is sent (SourceError naming the column and event_id)."""
    for i, (event_id, got, want) in enumerate(zip(exact.event_ids.slice(0, n).to_pylist(),
                                                  stored.encoded.slice(0, n).to_pylist(),
                                                  exact.encoded.slice(0, n).to_pylist())):
        got_skip, want_skip = stored.skips.get(i), exact.skips.get(i)
        if got == want and got_skip == want_skip:
            continue
        if got is not None and want is not None:
            got_event, want_event = orjson.loads(got), orjson.loads(want)
            column = next((name for key, name in (("user_data", USER_DATA_JSON_COLUMN),
                                                  ("custom_data", CUSTOM_DATA_COLUMN))
                           if got_event.get(key) != want_event.get(key)), USER_DATA_JSON_COLUMN)
            what = f"{column} is not what its columns give"
        else:
            what = (f"the row is {'sent' if got is not None else f'skipped ({got_skip[0]})'} from "
                    f"{USER_DATA_JSON_COLUMN} but {'sent' if want is not None else f'skipped ({want_skip[0]})'} "
                    "from its columns")
        raise SourceError(f"source.relation: {relation}, event_id {event_id}: {what}; rebuild the table with "
                          f"the project's macros (dbt build), or drop column {USER_DATA_JSON_COLUMN}; nothing was sent")


def _replaced(values: pa.Array, replace: dict[int, bytes | None]) -> pa.Array:
    """`values` (binary) with the given rows replaced (None: NULL)."""
    if values.type != pa.binary():
        values = values.cast(pa.binary())
    mask = np.zeros(len(values), dtype=bool)
    rows = sorted(replace)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array([replace[i] for i in rows], pa.binary()))


def _in_cursor_order(page) -> bool:
    """The rows are ordered by (_cursor, event_id), NULLs last, as `_ready_order` sorts them."""
    if page.num_rows < 2:
        return True
    cursor = page.column(CURSOR_KEY)
    if cursor.null_count not in (0, page.num_rows):
        return False
    if cursor.null_count:
        ties = np.arange(page.num_rows - 1)
    else:
        steps = np.diff(cursor.to_numpy())
        if (steps < 0).any():
            return False
        ties = np.flatnonzero(steps == 0)
    if not len(ties):
        return True
    ids = page.column("event_id").combine_chunks() if isinstance(page, pa.Table) else page.column("event_id")
    first, second = ids.take(ties), ids.take(ties + 1)
    # out of order: a NULL id before an id, or two ids in descending order
    wrong = pc.or_kleene(pc.and_(pc.is_null(first), pc.is_valid(second)), pc.greater(first, second))
    return not pc.any(pc.fill_null(wrong, False)).as_py()


def _in_cursor_order_sorted(page: pa.Table) -> pa.Table:
    """A page read without ORDER BY, in `_ready_order`'s order: as it came when it is in that
    order (`_in_cursor_order`), else sorted by Arrow: a stable sort on (_cursor, event_id),
    NULLs last, strings in byte order, as DuckDB's ORDER BY sorts them. DuckDB's scan does not
    promise storage order, even of a table stored in cursor order."""
    if _in_cursor_order(page):
        return page
    return page.sort_by([(CURSOR_KEY, "ascending"), ("event_id", "ascending")])   # NULLs at the end: the default


def _build_raw(raw, settings: EventSettings):
    """`build_events` (the reference) on rows of the `_raw` struct column of `ready_select`."""
    rows = raw.to_pylist()
    return build_events({name: [row[name] for row in rows] for name in REQUIRED_COLUMNS}, settings)


def _verify_custom_data(batch, ready: ReadyChunk, settings: EventSettings, relation: str) -> None:
    """The first VERIFY_ROWS rows of a read: every event joined from the view's
    custom_data_json must be byte for byte the one `build_events` makes from the row's columns
    (a model edit that changes the JSON, or a column filled by something else, stops the run
    before anything is sent). Raises SourceError naming the relation, the column and the
    event_id."""
    built = _build_raw(batch.column(RAW_COLUMN).slice(0, VERIFY_ROWS), settings)
    for i, encoded in enumerate(ready.encoded.slice(0, VERIFY_ROWS).to_pylist()):
        if encoded is None or i in ready.skips:
            continue
        event = built.events[i]
        expected = None if event is None else orjson.dumps(event)
        if encoded != expected:
            try:
                got = orjson.loads(encoded)
            except orjson.JSONDecodeError:
                got = None
            if got is None:
                what = "it is not JSON"
            elif expected is None:
                what = "the sync's checks skip it"
            else:
                want = orjson.loads(expected)["custom_data"]
                keys = [k for k in want if got.get("custom_data", {}).get(k) != want[k]]
                what = (f"custom_data {keys[0]!r} differs" if keys else
                        "the text differs (key order, number format or escaping)")
            raise SourceError(f"source.relation: column {CUSTOM_DATA_COLUMN} of {relation} is not the custom_data "
                              f"its columns give for event_id {ready.event_ids[i].as_py()} ({what}); rebuild it with the "
                              f"project's custom_data_text macro (dbt build), or drop the column; nothing was sent")
