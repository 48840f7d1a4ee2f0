"""The DuckDB read (sync/sources/base.py `ready_query`: the checks in SQL, the event's head
written there, user_data_json and custom_data_json as the relation holds them) against an
independent oracle (tests/support/events_oracle.py, `build_events` + orjson): skip for skip
and message for message, and byte for byte on rows of every column shape; where the
warehouse wrote a number or a character its own way (as DuckDB's to_json does), its bytes
are sent, the same JSON values."""
from __future__ import annotations

from dataclasses import replace

import sys
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from offline_events_fixture import (create_offline_events, custom_data_json_of, event_id, make_row, sha,  # noqa: E402
                                    write_config)

from sync.config import load_config  # noqa: E402
from sync.contract import MODEL_COLUMNS  # noqa: E402
from sync.events import USER_DATA_COLUMNS, EventSettings  # noqa: E402
import sync.sources.duckdb as duckdb_source  # noqa: E402
from sync.sources.duckdb import DuckDBSource, ReadFilter  # noqa: E402
from sync.errors import SourceError  # noqa: E402
from tests.support.events_oracle import ready_chunk  # noqa: E402

NOW = 1_800_000_000
DAY = 86_400
T = NOW - 3 * DAY


def contents(*items):
    return [{"id": i, "quantity": q, "item_price": p} for i, q, p in items]


def written_own_way(row: dict, *replacements: tuple[str, str]) -> dict:
    """The row with its custom_data_json as DuckDB's to_json writes it (dbt's DuckDB macro):
    the oracle's text with these replacements."""
    text = custom_data_json_of(row)
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    return {**row, "custom_data_json": text}


def fixture_rows() -> list[dict]:
    rows = [make_row(n, T + n) for n in range(1, 6)]                                   # plain
    rows += [
        make_row(10, T + 10, em=None, ph=None, fn=None, ge=None, zp=None, country=None),  # NULL user_data keys
        make_row(11, T + 11, order_id=None, num_items=None),                              # NULL optional keys
        make_row(12, T + 12, order_id="ordre-é€😀-\u2028", event_id=event_id("ünï")),    # unicode
        make_row(13, T + 13, order_id='quote " back \\ slash / tab\t nl\n'),
        written_own_way(make_row(14, T + 14, order_id="ctl\x01\x1f\x7f"), ("\\u001f", "\\u001F")),  # control characters
        written_own_way(make_row(15, T + 15, value="9999999999999999.99"),               # value >= 1e16
                        ('"value":1e+16', '"value":10000000000000000.0')),
        make_row(16, T + 16, value="0.01"),
        make_row(17, T + 17, value="123456789.10"),
        written_own_way(make_row(18, T + 18, contents=contents(("p1", 3, 1 / 3), ("p2", 1, 1e-7), ("p3", 1, 5e-6))),
                        ("5e-6", "0.000005")),
        written_own_way(make_row(19, T + 19, contents=contents(("p1", 1, 1e16), ("p2", 1, 1.5e22), ("p3", 2, 2.5e-300))),
                        ("1e+16", "10000000000000000.0"), ("1.5e+22", "1.5e22")),
        written_own_way(make_row(20, T + 20, contents=contents(("p1", 0, float("inf")), ("p2", 0, float("nan")))),
                        ('"item_price":null}', '"item_price":Infinity}'), ('"item_price":null}]', '"item_price":NaN}]')),
        make_row(21, T + 21, contents=contents(("p1", 0, None), (None, None, -0.0))),
        make_row(22, T + 22, contents=contents(("ïd-😀", 1, 12.5), ('"q"', 2, 100.0))),
        make_row(23, T + 23, event_name="Purchase \"x\"", currency="EUR", num_items=0),
        make_row(24, T + 24, action_source="website", contents=[None]),
        make_row(25, T + 25, value="1000000000000000.00", num_items=12345678901234567),
        # every skip reason
        make_row(30, T + 30, event_id=None), make_row(31, T + 31, event_id=""),
        make_row(32, T + 32, event_name=None), make_row(33, T + 33, event_name=""),
        make_row(34, T + 34, action_source="store"), make_row(35, T + 35, action_source=None),
        make_row(36, None), make_row(37, NOW + 61), make_row(38, NOW + 60),
        make_row(39, NOW - 62 * DAY + 3599), make_row(40, NOW - 62 * DAY + 3600),
        make_row(41, NOW - 7 * DAY + 3599, action_source="website"),
        make_row(42, T + 42, em="john@example.com"), make_row(43, T + 43, ph=sha("x").upper()),
        make_row(44, T + 44, zp=sha("x")[:63]), make_row(45, T + 45, external_id=sha("x") + "0"),
        make_row(46, T + 46, country="é" * 64),
        make_row(47, T + 47, **{c: None for c in USER_DATA_COLUMNS}),
        make_row(48, T + 48, currency=None), make_row(49, T + 49, currency=""),
        make_row(50, T + 50, value=None), make_row(51, T + 51, value="0.00"), make_row(52, T + 52, value="-5.00"),
        make_row(53, T + 53, contents=[]), make_row(54, T + 54, contents=None),
        # duplicates: the first in read order is kept, whatever its own fate
        make_row(60, T + 60), dict(make_row(60, T + 61), order_id="copy-1"), dict(make_row(60, T + 62), value=None),
        dict(make_row(61, T + 63), currency=None), make_row(61, T + 64),
        dict(make_row(62, T + 65), event_name="Lead"), make_row(62, T + 66),
    ]
    return rows


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, fixture_rows())
    con = duckdb.connect(str(path))
    try:   # the same rows behind a view: read with one sorted query instead of cursor pages
        con.execute("CREATE VIEW analytics.offline_events_view AS SELECT * FROM analytics.offline_events")
    finally:
        con.close()
    return path


def open_source(tmp_path, warehouse, chunk_size: int, monkeypatch, relation="analytics.offline_events",
                read_only: bool = True):
    monkeypatch.setenv("META_ACCESS_TOKEN", "test-token")
    config = load_config(write_config(tmp_path, warehouse, "http://127.0.0.1:9",
                                      extra="state:\n  schema: capi_sync\n"))
    source_config = replace(config.source, chunk_size=chunk_size, relation=relation)
    return DuckDBSource(replace(config, source=source_config), read_only=read_only)


def oracle(warehouse, settings: EventSettings, relation="analytics.offline_events"):
    """The oracle's chunk of every row of `relation`, in the read's order."""
    columns = ", ".join(f'"{c}"' for c in MODEL_COLUMNS)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        table = con.sql(f'SELECT {columns}, event_time AS _cursor, count(*) OVER (PARTITION BY event_id) AS '
                            f'_copies FROM {relation} ORDER BY _cursor NULLS LAST, event_id NULLS LAST').to_arrow_table()
    finally:
        con.close()
    chunk = {name: table.column(name).to_pylist() for name in table.column_names}
    chunk["value"] = [None if v is None else float(v) for v in chunk["value"]]
    return ready_chunk(chunk, settings, set())


def both_paths(tmp_path, warehouse, settings: EventSettings, chunk_size: int, monkeypatch,
               relation="analytics.offline_events"):
    source = open_source(tmp_path, warehouse, chunk_size, monkeypatch, relation)
    try:
        read = list(source.read_ready(None, False, settings))
    finally:
        source.close()
    return [oracle(warehouse, settings, relation)], read


def first_read_error(tmp_path, warehouse, chunk_size: int, monkeypatch, relation="analytics.offline_events"):
    """The SourceError that stops the hot path's read before its first chunk."""
    source = open_source(tmp_path, warehouse, chunk_size, monkeypatch, relation)
    try:
        with pytest.raises(SourceError) as raised:
            next(source.read_ready(None, False, EventSettings(now=NOW)))
    finally:
        source.close()
    return raised.value


def record_sorts(monkeypatch) -> list[bool]:
    """Per page read without ORDER BY, in order: whether it had to be sorted by Arrow."""
    sorts: list[bool] = []
    original = duckdb_source.cursor_ordered

    def recording(page):
        result = original(page)
        sorts.append(result is not page)
        return result
    monkeypatch.setattr(duckdb_source, "cursor_ordered", recording)
    return sorts


def flat(chunks):
    rows = []
    for c in chunks:
        columns = [column.to_pylist() for column in (c.event_ids, c.order_ids, c.event_times, c.cursors, c.encoded)]
        for i, row in enumerate(zip(*columns)):
            rows.append((*row, c.skips.get(i)))
    return rows



# Rows whose custom_data_json DuckDB writes its own way (a double's digits, a control
# character; a non-finite double the sync sends as null, the oracle's bytes): sent as written,
# the same JSON values as the oracle's.
OWN_WAY = {"ctl\x01\x1f\x7f", "o15", "o18", "o19"}


@pytest.mark.parametrize("relation", ["analytics.offline_events", "analytics.offline_events_view"])
@pytest.mark.parametrize("chunk_size", [1000, 7])
@pytest.mark.parametrize("ldu", [False, True])
def test_events_as_the_oracle_writes_them(tmp_path, warehouse, chunk_size, ldu, relation, monkeypatch):
    settings = (EventSettings(now=NOW, data_processing_options=["LDU"], data_processing_options_country=1,
                              data_processing_options_state=1000) if ldu else EventSettings(now=NOW))
    reference, read = both_paths(tmp_path, warehouse, settings, chunk_size, monkeypatch, relation)
    ref_rows, rows = flat(reference), flat(read)
    assert len(rows) == len(ref_rows) == len(fixture_rows())
    for got, want in zip(rows, ref_rows):
        assert got[:4] + got[5:] == want[:4] + want[5:]   # ids, times, cursors and skips
        if want[1] in OWN_WAY:
            assert got[4] != want[4] and orjson.loads(got[4]) == orjson.loads(want[4]), want[1]
        else:
            assert got[4] == want[4], want[1]
    reasons = sorted(r[5][0] for r in ref_rows if r[5])
    assert reasons.count("duplicate_event_id") == 4
    assert set(reasons) == {"missing_event_id", "duplicate_event_id", "missing_event_name", "invalid_action_source",
                            "missing_event_time", "event_time_in_future", "event_time_too_old", "invalid_hash",
                            "no_customer_identifier", "missing_currency", "missing_value", "non_positive_value",
                            "empty_contents"}
    sent = [r for r in rows if r[4] is not None]
    assert len(sent) == 25
    if ldu:
        assert all(r[4].endswith(b',"data_processing_options":["LDU"],"data_processing_options_country":1,'
                                 b'"data_processing_options_state":1000}') for r in sent)


def test_a_non_finite_double_is_written_null(tmp_path, warehouse, monkeypatch):
    """DuckDB writes Infinity and NaN in custom_data_json, which are not JSON: the event carries
    null there, as the oracle (orjson) writes it."""
    _, read = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 1000, monkeypatch)
    (event,) = [orjson.loads(r[4]) for r in flat(read) if r[1] == "o20"]
    assert [item["item_price"] for item in event["custom_data"]["contents"]] == [None, None]


def test_the_invalid_hash_skip_names_the_first_key_that_is_not_a_hash(tmp_path, warehouse, monkeypatch):
    _, read = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 1000, monkeypatch)
    skips = {r[1]: r[5] for r in flat(read) if r[5] and r[5][0] == "invalid_hash"}
    assert {order: message.split()[1] for order, (_, message) in skips.items()} == {
        "o42": "em", "o43": "ph", "o44": "zp", "o45": "external_id", "o46": "country"}
    assert skips["o42"][1] == "user_data em is not a lowercase hex SHA-256; raw personal data is never sent"


def test_table_read_in_cursor_pages_view_in_one_query(tmp_path, warehouse, monkeypatch):
    n = len(fixture_rows())
    source = open_source(tmp_path, warehouse, 7, monkeypatch)
    try:
        assert source._is_table()
        pages = source._pages(source.connection, ReadFilter())
        chunks = list(source.read_ready(None, False, EventSettings(now=NOW)))
    finally:
        source.close()
    # every event_time is distinct but one NULL: pages of 7 rows, then the NULL cursors
    assert len(pages) == -(-(n - 1) // 7) + 1
    times = sorted(r["event_time"] for r in fixture_rows() if r["event_time"] is not None)
    assert pages[0] == ('v."event_time" BETWEEN ? AND ?', [times[0], times[6]])
    assert pages[1] == ('v."event_time" BETWEEN ? AND ?', [times[7], times[13]])
    assert pages[-1] == ('v."event_time" IS NULL', [])
    assert [len(c.event_ids) for c in chunks] == [7] * ((n - 1) // 7) + [(n - 1) % 7] * bool((n - 1) % 7) + [1]
    view = open_source(tmp_path, warehouse, 7, monkeypatch, "analytics.offline_events_view")
    try:
        assert not view._is_table()
        assert [len(c.event_ids) for c in view.read_ready(None, False, EventSettings(now=NOW))] == \
            [7] * (n // 7) + [n % 7] * bool(n % 7)
    finally:
        view.close()


def test_a_table_stored_in_cursor_order_is_read_without_sorting(tmp_path, warehouse, monkeypatch):
    """Pages of a table stored in (cursor, event_id) order come back in order from a plain scan
    (no ORDER BY); an unordered page is sorted by Arrow. Both give the same events."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CREATE TABLE analytics.offline_events_ordered AS SELECT * FROM analytics.offline_events "
                    "ORDER BY event_time NULLS LAST, event_id NULLS LAST")
    finally:
        con.close()
    sorts = record_sorts(monkeypatch)
    _, ordered = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch,
                            "analytics.offline_events_ordered")
    assert sorts and not any(sorts)
    sorts.clear()
    _, unordered = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch)
    assert flat(unordered) == flat(ordered)
    assert any(sorts)


def test_an_unordered_page_is_sorted_as_duckdb_orders_it():
    """`cursor_ordered` puts a page in the order of DuckDB's ORDER BY _cursor, event_id, NULLs
    last, strings in byte order, and hands a page already in that order back as it is. A page
    holds either cursors or only NULL cursors (`_pages`)."""
    def page(cursors, ids):
        return pa.table({"_cursor": pa.array(cursors, pa.int64()), "event_id": pa.array(ids, pa.string()),
                         "row": pa.array(range(len(ids)), pa.int64())})

    def duckdb_order(arrow_page):
        return duckdb.sql("SELECT * FROM arrow_page "
                          "ORDER BY _cursor ASC NULLS LAST, event_id ASC NULLS LAST").to_arrow_table()

    cursors = page([3, 1, 2, 2, 1, 2, 1, 2], ["b", "é", None, "B", "e", "a", "ü", "a"])
    nulls = page([None, None, None, None], [None, "b", "a", "b"])
    got, got_nulls = duckdb_source.cursor_ordered(cursors), duckdb_source.cursor_ordered(nulls)
    assert list(zip(got.column("_cursor").to_pylist(), got.column("event_id").to_pylist())) == [
        (1, "e"), (1, "é"), (1, "ü"), (2, "B"), (2, "a"), (2, "a"), (2, None), (3, "b")]
    assert got.column("row").to_pylist() == [4, 1, 6, 3, 5, 7, 2, 0]   # a stable sort: ties keep their order
    assert got_nulls.column("event_id").to_pylist() == ["a", "b", "b", None]
    assert got_nulls.column("row").to_pylist() == [2, 1, 3, 0]
    for table, sorted_table in ((cursors, got), (nulls, got_nulls)):
        want = duckdb_order(table)
        assert sorted_table.select(["_cursor", "event_id"]).equals(want.select(["_cursor", "event_id"]))
        assert duckdb_source.cursor_ordered(sorted_table) is sorted_table
