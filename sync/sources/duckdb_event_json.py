"""Each event's JSON text put together by DuckDB at read time, byte-identical to `build_events` + orjson.

The hot path of a DuckDB run. The read query sorts the rows, checks each in SQL and joins
each passing event's bytes from three parts: the head (event_name, event_time, event_id,
action_source), `user_data` from the hashed columns, and `custom_data` as the view already
wrote it, in column `custom_data_json` (dbt_project/macros/conversions_api/custom_data_json.sql;
stored once per `dbt build` when offline_events is a table). Python only joins bytes into
request bodies; the 64-hex check of the user_data hashes runs on the Arrow buffers (a regular
expression per value costs more in DuckDB than the rest of the query).

A table that also stores `user_data_json` (dbt macro user_data_text) is read with
`stored_select` instead: no hashed column and no `contents` is read, the head is written in
SQL and the two stored parts are joined by Arrow, after every stored user_data text passed
`sync.sources.user_data_check.all_hashed_user_data` (sync/sources/duckdb.py, `_stored_page`).

`build_events` (sync/events.py) stays the reference: a row the SQL does not send as-is (a
failed check, a duplicate id, a head DuckDB escapes differently from orjson, a NULL
custom_data_json, or a relation without that column) comes back with its raw columns and
goes through `build_events`, so reasons, messages and bytes are exactly the reference's. The
first 1,000 rows of every read are also built by the reference and the bytes compared
(`verify`): a view whose custom_data_json disagrees with its columns on those rows stops the
run before anything is sent.
"""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sync.events import (ACTION_SOURCES, ARRAY_USER_KEYS, MAX_FUTURE_SKEW, REQUIRED_COLUMNS, SKIP_REASONS,
                         USER_DATA_COLUMNS, EventSettings, hash_match, oldest_allowed, value_offsets)
from sync.identifiers import quote, sql_literal
from sync.sources.base import required_columns_sql, row_checks
from sync.sources.user_data_check import hex_digit_count

RAW_COLUMN = "_raw"
JSON_COLUMN = "_event_json"
CUSTOM_DATA_COLUMN = "custom_data_json"   # written by the view (dbt macro custom_data_text)


def ldu_suffix(settings: EventSettings) -> str:
    """The data_processing_options keys every event ends with when LDU is configured (else '')."""
    if settings.data_processing_options is None:
        return ""
    return (',"data_processing_options":' + orjson.dumps(settings.data_processing_options).decode()
            + ',"data_processing_options_country":' + orjson.dumps(settings.data_processing_options_country).decode()
            + ',"data_processing_options_state":' + orjson.dumps(settings.data_processing_options_state).decode())


def passes_checks_sql(settings: EventSettings, alias: str = "v") -> str:
    """TRUE when the row passes every check of `build_events` except the 64-hex check of the
    user_data values (done in Python, `bad_hashes`) and duplicates."""
    c = {name: f"{alias}.{quote(name)}" for name in REQUIRED_COLUMNS}
    checks = row_checks(settings, c, f"coalesce({', '.join(c[k] for k in USER_DATA_COLUMNS)}) IS NOT NULL",
                         f"coalesce(len({c['contents']}), 0) > 0")
    return " AND ".join(condition for _, condition in checks)


def head_json_sql(alias: str = "v") -> str:
    """`{"event_name":...,"event_time":...,"event_id":...,"action_source":...` (no user_data)."""
    c = {name: f"{alias}.{quote(name)}" for name in REQUIRED_COLUMNS}
    return (f"concat('{{\"event_name\":', to_json({c['event_name']}), ',\"event_time\":', {c['event_time']}, "
            f"',\"event_id\":', to_json({c['event_id']}), ',\"action_source\":', to_json({c['action_source']}))")


def user_data_json_sql(alias: str = "v") -> str:
    """`"em":["..."],"ph":...` with NULL keys left out; hashes concatenated as-is (they are
    only sent once they passed the 64-hex check)."""
    parts = []
    for key in USER_DATA_COLUMNS:
        column = f"{alias}.{quote(key)}"
        value = f"'[\"', {column}, '\"]'" if key in ARRAY_USER_KEYS else f"'\"', {column}, '\"'"
        parts.append(f"CASE WHEN {column} IS NOT NULL THEN concat('\"{key}\":', {value}) END")
    return f"concat_ws(',', {', '.join(parts)})"


def ready_select(relation_sql: str, cursor_sql: str, where: str, order: str, settings: EventSettings,
                 custom_data: bool = True, verify: bool = False) -> str:
    """The read query of the hot path, rows in `order` (over the columns of REQUIRED_COLUMNS
    and `_cursor`). Columns: event_id, order_id, event_time, _cursor, the user_data columns
    (for the hex check), `_event_json` (BLOB: the event's bytes, or NULL) and `_raw` (the
    row's REQUIRED_COLUMNS, `value` as DOUBLE, for `build_events`: when `_event_json` is NULL,
    and on every row when `verify`). `custom_data`: the relation has CUSTOM_DATA_COLUMN;
    without it every row goes through `build_events`."""
    cols = ", ".join(required_columns_sql(quote, "DOUBLE"))
    custom = f"v.{quote(CUSTOM_DATA_COLUMN)}" if custom_data else "CAST(NULL AS VARCHAR)"
    raw = ", ".join(f"{quote(name)} := s.{quote(name)}" for name in REQUIRED_COLUMNS)
    users = ", ".join(f"s.{quote(k)}" for k in USER_DATA_COLUMNS)
    # sorted raw rows -> (checks, head) -> the event's bytes or the raw row
    ordered = f"SELECT {cols}, {cursor_sql} AS _cursor, {custom} AS _custom FROM {relation_sql} AS v{where}{order}"
    parts = f"SELECT s.*, CASE WHEN {passes_checks_sql(settings, 's')} THEN {head_json_sql('s')} END AS _head FROM ({ordered}) AS s"
    python = "(_head IS NULL OR _custom IS NULL OR strpos(_head, '\\u') > 0)"
    suffix = sql_literal(ldu_suffix(settings) + '}')
    raw_when = "TRUE" if verify else "_python"
    return (f"SELECT s.event_id, s.order_id, s.event_time, s._cursor, {users}, "
            f"CASE WHEN NOT _python THEN encode(concat(_head, ',\"user_data\":{{', {user_data_json_sql('s')}, "
            f"'}},\"custom_data\":', _custom, {suffix})) END AS {JSON_COLUMN}, "
            f"CASE WHEN {raw_when} THEN struct_pack({raw}) END AS {RAW_COLUMN} "
            f"FROM (SELECT *, {python} AS _python FROM ({parts}) AS s) AS s")


USER_DATA_JSON_COLUMN = "user_data_json"   # written by the table (dbt macro user_data_text)
HEAD_COLUMN, USER_DATA_COLUMN, CUSTOM_COLUMN, SMALL_COLUMN = "_head", "_user_data", "_custom_data", "_small"
# The columns of a row that `stored_select` hands to `build_events` when it does not send the row.
SMALL_COLUMNS = ("event_name", "action_source", "currency", "value")


def stored_checks_sql(settings: EventSettings, alias: str = "v") -> str:
    """`passes_checks_sql` for a table that stores both JSON parts: the stored texts stand for
    the hashed columns and contents (user_data_json is NULL without an identifier,
    custom_data_json without contents, or where DuckDB writes a number its own way)."""
    c = {name: f"{alias}.{quote(name)}" for name in REQUIRED_COLUMNS}
    checks = row_checks(settings, c, f"{alias}.{quote(USER_DATA_JSON_COLUMN)} IS NOT NULL",
                         f"{alias}.{quote(CUSTOM_DATA_COLUMN)} IS NOT NULL")
    return " AND ".join(condition for _, condition in checks)


def stored_select(relation_sql: str, cursor_sql: str, where: str, settings: EventSettings) -> str:
    """The read query of a table that stores both JSON parts (CUSTOM_DATA_COLUMN and
    USER_DATA_JSON_COLUMN): it references none of the hashed columns nor `contents`, the
    widest columns of a row, so DuckDB neither scans nor exports them. Columns: event_id,
    order_id, event_time, _cursor; for a row the SQL checks pass, HEAD_COLUMN (the head
    written here from the checked columns) and CUSTOM_COLUMN; for every row
    USER_DATA_COLUMN (the stored user_data text, checked in Python by
    `user_data_check.all_hashed_user_data` before anything is sent); for the other rows
    SMALL_COLUMN, the struct of SMALL_COLUMNS (`value` as DOUBLE) that decides their skip
    reason. Rows come in storage order."""
    c = {name: f"v.{quote(name)}" for name in REQUIRED_COLUMNS}
    user_data, custom = f"v.{quote(USER_DATA_JSON_COLUMN)}", f"v.{quote(CUSTOM_DATA_COLUMN)}"
    checks = stored_checks_sql(settings, "v")
    small = ", ".join(f"{name} := s.{quote(name)}" for name in SMALL_COLUMNS)
    inner = (f"SELECT {c['event_id']}, {c['order_id']}, {c['event_time']}, {cursor_sql} AS _cursor, "
             f"{c['event_name']}, {c['action_source']}, {c['currency']}, CAST({c['value']} AS DOUBLE) AS value, "
             f"{user_data} AS _ud, {custom} AS _cd, CASE WHEN {checks} THEN {head_json_sql('v')} END AS _h "
             f"FROM {relation_sql} AS v{where}")
    return (f"SELECT s.event_id, s.order_id, s.event_time, s._cursor, "
            f"CASE WHEN _send THEN encode(_h) END AS {HEAD_COLUMN}, encode(_ud) AS {USER_DATA_COLUMN}, "
            f"CASE WHEN _send THEN encode(_cd) END AS {CUSTOM_COLUMN}, "
            f"CASE WHEN NOT _send THEN struct_pack({small}) END AS {SMALL_COLUMN} "
            f"FROM (SELECT *, coalesce(strpos(_h, '\\u') = 0, false) AS _send FROM ({inner}) AS s) AS s")


def _all_hex64(column: pa.Array) -> bool:
    """Every non-NULL value is 64 lowercase hex characters (checked on the Arrow buffers:
    all lengths 64, and the value bytes contain nothing but lowercase hex digits)."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    n = len(column) - column.null_count
    if n == 0:
        return True
    low_high = pc.min_max(pc.binary_length(column))
    if low_high["min"].as_py() != 64 or low_high["max"].as_py() != 64:
        return False
    data = column.buffers()[2]
    bounds = value_offsets(column)
    start, end = int(bounds[0]), int(bounds[-1])
    if end - start != 64 * n:   # NULL slots with bytes: let the slow path decide
        return False
    # On the Arrow buffer in place, with numpy (which releases the GIL).
    values = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    return hex_digit_count(values) == len(values)


def bad_hashes(batch: pa.RecordBatch) -> dict[int, str]:
    """Row -> the first user_data key whose value is not 64 lowercase hex (as build_events)."""
    bad: dict[int, str] = {}
    for key in USER_DATA_COLUMNS:
        column = batch.column(key)
        if _all_hex64(column):
            continue
        for i, value in enumerate(column.to_pylist()):
            if value is not None and i not in bad and not hash_match(value):
                bad[i] = key
    return bad
