"""Prototype for the lead: build each event's JSON inside DuckDB instead of in Python.

    .venv/bin/python -m bench.sql_events_prototype data/bench/100000/warehouse.duckdb [relation]

Reads `relation` (default the table copy `bench.offline_events`) once with the sync's own
path (`bench.payload.sync_bodies`: build_events + orjson) and once with one SQL query that
writes the event JSON text per row (NULL user_data keys left out, same key order), then
checks that every event's bytes are identical and prints both rates. Only rows the sync
would send are compared (the check-stage skip reasons would become a SQL CASE column).
"""
from __future__ import annotations

import sys
import time

import duckdb
import orjson

from bench.payload import sync_config_text
from sync.config import parse_config
from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS, EventSettings, build_events
from sync.runner import READ_FLOOR_AGE
from sync.sources.duckdb import DuckDBSource


def event_json_sql(relation: str) -> str:
    user = []
    for key in USER_DATA_COLUMNS:
        value = f"'[\"' || {key} || '\"]'" if key in ARRAY_USER_KEYS else f"'\"' || {key} || '\"'"
        user.append(f"CASE WHEN {key} IS NOT NULL THEN '\"{key}\":' || {value} || ',' END")
    user_data = f"rtrim(concat({', '.join(user)}), ',')"
    return f"""
SELECT event_id, event_time,
  '{{"event_name":' || to_json(event_name) || ',"event_time":' || event_time ||
  ',"event_id":' || to_json(event_id) || ',"action_source":' || to_json(action_source) ||
  ',"user_data":{{' || {user_data} || '}}' ||
  ',"custom_data":{{"currency":' || to_json(currency) || ',"value":' || to_json(CAST("value" AS DOUBLE)) ||
  ',"contents":' || to_json(contents) ||
  coalesce(',"order_id":' || to_json(order_id), '') || coalesce(',"num_items":' || num_items, '') || '}}}}' AS event_json
FROM {relation}
WHERE event_time >= ?
ORDER BY event_time, event_id
"""


def measure(path: str, relation: str = "bench.offline_events") -> dict:
    """Both paths on `relation`: seconds, rates, and how many events have identical bytes."""
    now = int(time.time())
    config = parse_config(sync_config_text(duckdb_path=path, relation=relation))

    started = time.perf_counter()
    source = DuckDBSource(config, read_only=True)
    ours: dict[str, bytes] = {}
    seen: set[str] = set()
    try:
        for chunk in source.read(now - READ_FLOOR_AGE, exclude_sent=False):
            for event in build_events(chunk, EventSettings(now=now), seen).events:
                if event is not None:
                    ours[event["event_id"]] = orjson.dumps(event)
    finally:
        source.close()
    python_seconds = time.perf_counter() - started

    con = duckdb.connect(path, read_only=True)
    try:
        started = time.perf_counter()
        reader = con.execute(event_json_sql(relation), [now - READ_FLOOR_AGE]).to_arrow_reader(10000)
        sql: list[tuple[str, bytes]] = []
        for batch in reader:
            sql.extend((i, t.encode()) for i, t in zip(batch.column(0).to_pylist(), batch.column(2).to_pylist())
                       if t is not None)  # NULL: a row the sync skips (e.g. no currency)
        sql_seconds = time.perf_counter() - started
    finally:
        con.close()
    by_id = dict(sql)
    different = [k for k, v in ours.items() if by_id.get(k) != v]
    return {"relation": relation, "events": len(ours), "sql_rows": len(sql),
            "sync_path_seconds": round(python_seconds, 3),
            "sync_path_events_per_second": round(len(ours) / python_seconds, 1),
            "sql_json_seconds": round(sql_seconds, 3),
            "sql_json_rows_per_second": round(len(sql) / sql_seconds, 1),
            "identical_events": len(ours) - len(different),
            "first_difference": ([ours[different[0]][:300].decode(), (by_id.get(different[0]) or b"").decode()[:300]]
                                 if different else None)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    result = measure(argv[0], argv[1] if len(argv) > 1 else "bench.offline_events")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0 if result["identical_events"] == result["events"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
