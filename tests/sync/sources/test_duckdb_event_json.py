"""The DuckDB hot path (events written in SQL) equals the reference path (`build_events` +
orjson) byte for byte, skip for skip, on rows of every column shape."""
from __future__ import annotations

from dataclasses import replace

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from offline_events_fixture import create_offline_events, event_id, make_row, sha, write_config  # noqa: E402

from sync.config import load_config  # noqa: E402
from sync.events import USER_DATA_COLUMNS, EventSettings, ready_chunk  # noqa: E402
import sync.sources.duckdb as duckdb_source  # noqa: E402
from sync.sources.duckdb import DuckDBSource, ReadFilter  # noqa: E402
from sync.errors import SourceError  # noqa: E402
from sync.sources.duckdb_event_json import JSON_COLUMN, RAW_COLUMN, ready_select  # noqa: E402

NOW = 1_800_000_000
DAY = 86_400
T = NOW - 3 * DAY


def contents(*items):
    return [{"id": i, "quantity": q, "item_price": p} for i, q, p in items]


def fixture_rows() -> list[dict]:
    rows = [make_row(n, T + n) for n in range(1, 6)]                                   # plain
    rows += [
        make_row(10, T + 10, em=None, ph=None, fn=None, ge=None, zp=None, country=None),  # NULL user_data keys
        make_row(11, T + 11, order_id=None, num_items=None),                              # NULL optional keys
        make_row(12, T + 12, order_id="ordre-é€😀-\u2028", event_id=event_id("ünï")),    # unicode
        make_row(13, T + 13, order_id='quote " back \\ slash / tab\t nl\n'),
        make_row(14, T + 14, order_id="ctl\x01\x1f\x7f"),                                 # control characters
        make_row(15, T + 15, value="9999999999999999.99"),                               # value >= 1e16
        make_row(16, T + 16, value="0.01"),
        make_row(17, T + 17, value="123456789.10"),
        make_row(18, T + 18, contents=contents(("p1", 3, 1 / 3), ("p2", 1, 1e-7), ("p3", 1, 5e-6))),
        make_row(19, T + 19, contents=contents(("p1", 1, 1e16), ("p2", 1, 1.5e22), ("p3", 2, 2.5e-300))),
        make_row(20, T + 20, contents=contents(("p1", 0, float("inf")), ("p2", 0, float("nan")))),  # zero quantities
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


def both_paths(tmp_path, warehouse, settings: EventSettings, chunk_size: int, monkeypatch,
               relation="analytics.offline_events"):
    source = open_source(tmp_path, warehouse, chunk_size, monkeypatch, relation)
    try:
        seen: set[str] = set()
        reference = [ready_chunk(c, settings, seen) for c in source.read(None, exclude_sent=False)]
        fast = list(source.read_ready(None, False, settings))
    finally:
        source.close()
    return reference, fast


def first_read_error(tmp_path, warehouse, chunk_size: int, monkeypatch, relation="analytics.offline_events"):
    """The SourceError that stops the hot path's read before its first chunk."""
    source = open_source(tmp_path, warehouse, chunk_size, monkeypatch, relation)
    try:
        with pytest.raises(SourceError) as raised:
            next(source.read_ready(None, False, EventSettings(now=NOW)))
    finally:
        source.close()
    return raised.value


def record_order_checks(monkeypatch) -> list[bool]:
    """Per page read without ORDER BY, in order: whether it came back in cursor order
    (`_in_cursor_order`; a page that did not is sorted by Arrow)."""
    checks: list[bool] = []
    original = duckdb_source._in_cursor_order

    def checking(page):
        checks.append(original(page))
        return checks[-1]
    monkeypatch.setattr(duckdb_source, "_in_cursor_order", checking)
    return checks


def flat(chunks):
    rows = []
    for c in chunks:
        columns = [column.to_pylist() for column in (c.event_ids, c.order_ids, c.event_times, c.cursors, c.encoded)]
        for i, row in enumerate(zip(*columns)):
            rows.append((*row, c.skips.get(i)))
    return rows


@pytest.mark.parametrize("relation", ["analytics.offline_events", "analytics.offline_events_view"])
@pytest.mark.parametrize("chunk_size", [1000, 7])
@pytest.mark.parametrize("ldu", [False, True])
def test_sql_events_identical_to_build_events(tmp_path, warehouse, chunk_size, ldu, relation, monkeypatch):
    settings = (EventSettings(now=NOW, data_processing_options=["LDU"], data_processing_options_country=1,
                              data_processing_options_state=1000) if ldu else EventSettings(now=NOW))
    reference, fast = both_paths(tmp_path, warehouse, settings, chunk_size, monkeypatch, relation)
    ref_rows, fast_rows = flat(reference), flat(fast)
    assert len(ref_rows) == len(fixture_rows())
    assert fast_rows == ref_rows
    reasons = sorted(r[5][0] for r in ref_rows if r[5])
    assert reasons.count("duplicate_event_id") == 4
    assert {"missing_event_id", "missing_event_name", "invalid_action_source", "missing_event_time",
            "event_time_in_future", "event_time_too_old", "invalid_hash", "no_customer_identifier",
            "missing_currency", "missing_value", "non_positive_value", "empty_contents"} <= set(reasons)
    sent = [r for r in ref_rows if r[4] is not None]
    assert len(sent) == 25
    if ldu:
        assert all(r[4].endswith(b',"data_processing_options":["LDU"],"data_processing_options_country":1,'
                                 b'"data_processing_options_state":1000}') for r in sent)


def test_events_are_joined_in_sql_where_the_view_wrote_custom_data(warehouse):
    """The fast path is taken for every row the checks pass and whose custom_data_json is
    there; a NULL custom_data_json, or a head DuckDB escapes differently (control characters),
    goes through Python."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("UPDATE analytics.offline_events SET custom_data_json = NULL WHERE order_id IN ('o2', 'o16')")
        sql = ready_select("analytics.offline_events", "v.event_time", "", " ORDER BY _cursor, event_id",
                           EventSettings(now=NOW))
        rows = con.execute(f"SELECT order_id, {JSON_COLUMN} IS NOT NULL, {RAW_COLUMN} IS NOT NULL FROM ({sql})").fetchall()
    finally:
        con.close()
    in_sql = {order_id for order_id, written, _ in rows if written}
    assert all(written != raw for _, written, raw in rows)   # one or the other
    assert {"o1", "o3", "o4", "o5", "o10", "o15", "o17", "o18", "o19", "o20", "o22", "o24", "ctl\x01\x1f\x7f"} <= in_sql
    assert not in_sql & {"o2", "o16", "o36", "o53"}   # NULL custom_data_json, failed checks
    assert "o42" in in_sql   # raw email in em: joined in SQL, then refused by the hex check in Python
    assert None in in_sql   # o11 has no order_id and is joined in SQL


def test_without_custom_data_json_every_event_is_built_in_python(tmp_path, warehouse, monkeypatch):
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CREATE VIEW analytics.offline_events_plain AS SELECT * EXCLUDE (custom_data_json) "
                    "FROM analytics.offline_events")
        sql = ready_select("analytics.offline_events_plain", "v.event_time", "", " ORDER BY _cursor, event_id",
                           EventSettings(now=NOW), custom_data=False)
        assert con.execute(f"SELECT count(*) FILTER ({JSON_COLUMN} IS NOT NULL) FROM ({sql})").fetchone() == (0,)
    finally:
        con.close()
    reference, _ = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch)
    _, plain = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch,
                          "analytics.offline_events_plain")
    assert flat(plain) == flat(reference)
    assert sum(e is not None for c in plain for e in c.encoded.to_pylist()) == 25


@pytest.mark.parametrize("bad", [
    ("""'{"currency":"USD","value":31.5,' || substr(custom_data_json, 32)""", "custom_data 'value' differs"),
    ("substr(custom_data_json, 2)", "it is not JSON"),
    ("replace(custom_data_json, ',', ', ')", "the text differs (key order, number format or escaping)"),
])
def test_a_custom_data_json_that_disagrees_with_its_columns_stops_the_read(tmp_path, warehouse, monkeypatch, bad):
    expression, what = bad
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"UPDATE analytics.offline_events SET custom_data_json = {expression} WHERE order_id = 'o3'")
    finally:
        con.close()
    assert str(first_read_error(tmp_path, warehouse, 1000, monkeypatch)) == (
        "source.relation: column custom_data_json of analytics.offline_events is not the custom_data its columns "
        f"give for event_id {event_id('o3')} ({what}); rebuild it with the project's custom_data_text macro "
        "(dbt build), or drop the column; nothing was sent")


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


def test_hash_check_on_arrow_buffers():
    import pyarrow as pa

    from sync.sources.duckdb_event_json import _all_hex64, bad_hashes
    good, other = sha("a"), sha("b")
    assert _all_hex64(pa.array([good, None, other]))
    assert _all_hex64(pa.array([None, None], pa.string()))
    assert not _all_hex64(pa.array([good, good.upper()]))
    assert not _all_hex64(pa.array([good, good[:63] + "g"]))
    assert not _all_hex64(pa.array([good, "é" * 32]))          # 64 bytes, not hex
    for neighbour in "/:`gG\x00\x7f":                             # next to 0-9 and a-f
        assert not _all_hex64(pa.array([good, good[:10] + neighbour + good[11:]])), repr(neighbour)
    assert _all_hex64(pa.array(["0123456789abcdef" * 4]))
    sliced = pa.array(["x" * 64, good, other, "y"])[1:3]       # offset 1: only the slice counts
    assert _all_hex64(sliced)
    assert not _all_hex64(pa.array(["x" * 64, good, other])[0:2])
    batch = pa.RecordBatch.from_pydict({k: [good, None, good] for k in USER_DATA_COLUMNS} |
                                       {"ph": [good, "16505550000", None], "zp": [None, good, "94035"],
                                        "country": ["US", good, good]})
    assert bad_hashes(batch) == {0: "country", 1: "ph", 2: "zp"}


def test_a_table_stored_in_cursor_order_is_read_without_sorting(tmp_path, warehouse, monkeypatch):
    """Pages of a table stored in (cursor, event_id) order come back in order from a plain scan
    (no ORDER BY); an unordered page is sorted by Arrow, not read again. Both give the
    reference events."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("CREATE TABLE analytics.offline_events_ordered AS SELECT * FROM analytics.offline_events "
                    "ORDER BY event_time NULLS LAST, event_id NULLS LAST")
    finally:
        con.close()
    sorted_queries = []
    original_order = DuckDBSource._ready_order

    def counting(self):
        sorted_queries.append(self.relation)
        return original_order(self)
    monkeypatch.setattr(DuckDBSource, "_ready_order", counting)
    pages_in_order = record_order_checks(monkeypatch)
    reference, ordered = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch,
                                    "analytics.offline_events_ordered")
    assert flat(ordered) == flat(reference)
    assert sorted_queries == [] and pages_in_order and all(pages_in_order)
    pages_in_order.clear()
    _, unordered = both_paths(tmp_path, warehouse, EventSettings(now=NOW), 7, monkeypatch)
    assert flat(unordered) == flat(reference)
    assert sorted_queries == [] and False in pages_in_order


def test_an_unordered_page_is_sorted_as_duckdb_orders_it():
    """`_in_cursor_order_sorted` puts a page in the order of `_ready_order` (DuckDB's ORDER BY
    _cursor, event_id, NULLs last, strings in byte order), and hands a page already in that
    order back as it is. A page holds either cursors or only NULL cursors (`_pages`)."""
    import pyarrow as pa

    def page(cursors, ids):
        return pa.table({"_cursor": pa.array(cursors, pa.int64()), "event_id": pa.array(ids, pa.string()),
                         "row": pa.array(range(len(ids)), pa.int64())})

    def duckdb_order(arrow_page):
        return duckdb.sql("SELECT * FROM arrow_page "
                          "ORDER BY _cursor ASC NULLS LAST, event_id ASC NULLS LAST").to_arrow_table()

    cursors = page([3, 1, 2, 2, 1, 2, 1, 2], ["b", "é", None, "B", "e", "a", "ü", "a"])
    nulls = page([None, None, None, None], [None, "b", "a", "b"])
    got, got_nulls = duckdb_source._in_cursor_order_sorted(cursors), duckdb_source._in_cursor_order_sorted(nulls)
    assert list(zip(got.column("_cursor").to_pylist(), got.column("event_id").to_pylist())) == [
        (1, "e"), (1, "é"), (1, "ü"), (2, "B"), (2, "a"), (2, "a"), (2, None), (3, "b")]
    assert got.column("row").to_pylist() == [4, 1, 6, 3, 5, 7, 2, 0]   # a stable sort: ties keep their order
    assert got_nulls.column("event_id").to_pylist() == ["a", "b", "b", None]
    assert got_nulls.column("row").to_pylist() == [2, 1, 3, 0]
    for table, sorted_table in ((cursors, got), (nulls, got_nulls)):
        want = duckdb_order(table)
        assert sorted_table.select(["_cursor", "event_id"]).equals(want.select(["_cursor", "event_id"]))
        assert not duckdb_source._in_cursor_order(table) and duckdb_source._in_cursor_order(sorted_table)
        assert duckdb_source._in_cursor_order_sorted(sorted_table) is sorted_table


def test_cursor_order_check():
    import pyarrow as pa

    from sync.sources.duckdb import _in_cursor_order

    def page(cursors, ids):
        return pa.table({"_cursor": pa.array(cursors, pa.int64()), "event_id": pa.array(ids, pa.string())})
    assert _in_cursor_order(page([1, 2, 2, 3], ["d", "a", "b", "a"]))
    assert not _in_cursor_order(page([1, 3, 2], ["a", "a", "a"]))
    assert not _in_cursor_order(page([1, 2, 2], ["a", "b", "a"]))
    assert _in_cursor_order(page([None, None, None], ["a", "b", None]))
    assert not _in_cursor_order(page([None, None], [None, "a"]))
    assert not _in_cursor_order(page([1, None], ["a", "b"]))
    assert _in_cursor_order(page([5], ["x"])) and _in_cursor_order(page([2, 2], ["é", "ü"]))
