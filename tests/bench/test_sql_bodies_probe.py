"""The memory probe's request bodies (bench/sql_bodies_probe.py): written by DuckDB, compared by event."""
from __future__ import annotations

import duckdb
import pytest

from bench.sql_bodies_probe import _events, _page_query, row_sql

NOW = 1_790_000_000


def _table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analytics; CREATE TABLE analytics.offline_events (event_id VARCHAR, event_name VARCHAR, "
                "event_time BIGINT, action_source VARCHAR, currency VARCHAR, value DECIMAL(18,2), "
                "contents STRUCT(id VARCHAR, quantity BIGINT, item_price DOUBLE)[], order_id VARCHAR, "
                "num_items BIGINT, delivery_category VARCHAR, store_id VARCHAR, em VARCHAR, ph VARCHAR, fn VARCHAR, ln VARCHAR, db VARCHAR, ge VARCHAR, ct VARCHAR, "
                "st VARCHAR, zp VARCHAR, country VARCHAR, external_id VARCHAR, custom_data_json VARCHAR, user_data_json VARCHAR)")
    # the two JSON columns as dbt's macros write them from the columns
    con.execute("""INSERT INTO analytics.offline_events (event_id, event_name, event_time, action_source, value,
        currency, contents, em, ph, custom_data_json, user_data_json) SELECT id, 'Purchase', t, 'physical_store', v, c,
        [{'id': 'p', 'quantity': 1, 'item_price': 2.0}], em, ph,
        concat('{"currency":"', c, '","value":', to_json(v::DOUBLE), ',"contents":[{"id":"p","quantity":1,"item_price":2.0}]}'),
        concat('{', coalesce('"em":["' || em || '"]', '"ph":["' || ph || '"]'), '}') FROM (VALUES
        ('o-1', 1789990000, 12.50, 'USD', 'a1', NULL), ('o-2', 1789990001, 0, 'USD', 'b2', NULL),
        ('o-"3"', 1789990002, 3, 'EUR', NULL, 'c3'), ('o-4', 1700000000, 5, 'USD', 'd4', NULL)) AS r(id, t, v, c, em, ph)""")
    return con


def test_duckdb_writes_one_body_of_the_sendable_rows_with_their_ledger_rows():
    con = _table()
    query = _page_query("analytics.offline_events", *row_sql(NOW))
    rows = con.execute(query, [0, 10_000]).fetchall()
    # o-2 (value 0) and o-4 (older than 62 days) are not sent; o-"3"'s id is JSON-escaped.
    contents = b'"contents":[{"id":"p","quantity":1,"item_price":2.0}]'
    assert rows == [(
        b'{"data":[{"event_name":"Purchase","event_time":1789990000,"event_id":"o-1","action_source":"physical_store",'
        b'"user_data":{"em":["a1"]},"custom_data":{"currency":"USD","value":12.5,' + contents + b'}},'
        b'{"event_name":"Purchase","event_time":1789990002,"event_id":"o-\\"3\\"","action_source":"physical_store",'
        b'"user_data":{"ph":["c3"]},"custom_data":{"currency":"EUR","value":3.0,' + contents + b'}}]}',
        '[{"event_id":"o-1","event_time":1789990000},{"event_id":"o-\\"3\\"","event_time":1789990002}]',
    )]
    assert con.execute(query, [1, 10_000]).fetchall()[0][1] == \
        '[{"event_id":"o-\\"3\\"","event_time":1789990002}]'


def test_events_are_compared_whatever_the_batches(tmp_path):
    one = tmp_path / "one.jsonl"
    two = tmp_path / "two.jsonl"
    one.write_bytes(b'{"data":[{"a":1},{"b":2}]}\n{"data":[{"c":3}]}\n')
    two.write_bytes(b'{"data":[{"a":1}]}\n{"data":[{"b":2},{"c":3}]}\n')
    assert _events(one) == _events(two) == b'{"a":1},{"b":2},{"c":3}'


def test_a_body_with_a_tail_is_refused_by_name(tmp_path):
    tailed = tmp_path / "tailed.jsonl"
    tailed.write_bytes(b'{"data":[{"a":1}],"test_event_code":"T1"}\n')
    with pytest.raises(SystemExit, match="tailed.jsonl: a body is not"):
        _events(tailed)
