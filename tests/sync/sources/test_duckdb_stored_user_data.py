"""A table that stores user_data_json is read without its hashed columns (`stored_select`),
and gives exactly the reference's events and skips: pages that need the hashed columns are
read the exact way, the first stored page is compared with the exact read, and raw personal
data in the stored text is never sent."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline_events_fixture import create_offline_events, event_id, make_row, sha  # noqa: E402
from test_duckdb_event_json import (NOW, T, both_paths, first_read_error, fixture_rows, flat,  # noqa: E402
                                    record_order_checks)

from sync.events import EventSettings  # noqa: E402
from sync.sources.duckdb import DuckDBSource  # noqa: E402

ORDERED = "analytics.offline_events_ordered"


def store_in_cursor_order(path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE OR REPLACE TABLE {ORDERED} AS SELECT * FROM analytics.offline_events "
                    "ORDER BY event_time NULLS LAST, event_id NULLS LAST")
    finally:
        con.close()


@pytest.fixture
def stored_pages(monkeypatch) -> list[bool]:
    """Per page read with stored_select, in order: True when it was used, False when the page
    was read again the exact way."""
    outcomes: list[bool] = []
    original = DuckDBSource._stored_page

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        outcomes.append(result is not None)
        return result
    monkeypatch.setattr(DuckDBSource, "_stored_page", recording)
    return outcomes


@pytest.mark.parametrize("ldu", [False, True])
def test_every_row_shape_and_skip_reason_as_the_reference(tmp_path, stored_pages, monkeypatch, ldu):
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, fixture_rows())
    store_in_cursor_order(path)
    settings = (EventSettings(now=NOW, data_processing_options=["LDU"], data_processing_options_country=1,
                              data_processing_options_state=1000) if ldu else EventSettings(now=NOW))
    reference, stored = both_paths(tmp_path, path, settings, 7, monkeypatch, ORDERED)
    assert flat(stored) == flat(reference)
    # 56 rows with a cursor in pages of 7, then the NULL cursor's page. Read again the exact
    # way: page 4 (o42-o46, hashes that are not hashes), page 5 (o47, no identifier: the
    # table stores no user_data for it), page 6 (o54, no contents: no custom_data). The
    # others decide their skips (too old, in the future, no id, name, source, time,
    # currency, value, duplicates) without the hashed columns.
    assert stored_pages == [True, True, True, True, False, False, False, True, True]


def test_stored_rows_decide_their_skip_reasons(tmp_path, stored_pages, monkeypatch):
    """Skips decided without the hashed columns (time, name, source, currency, value,
    duplicates) have the reference's reason and message."""
    rows = [make_row(1, T + 1), make_row(2, T + 2, event_id=None), make_row(3, T + 3, event_name=""),
            make_row(4, T + 4, action_source="store"), make_row(5, NOW + 61), make_row(6, NOW - 63 * 86_400),
            make_row(7, T + 7, currency=None), make_row(8, T + 8, value=None), make_row(9, T + 9, value="-5.00"),
            make_row(10, T + 10), dict(make_row(10, T + 11), value="0.00"), make_row(11, T + 12)]
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, rows)
    store_in_cursor_order(path)
    reference, stored = both_paths(tmp_path, path, EventSettings(now=NOW), 100, monkeypatch, ORDERED)
    assert stored_pages == [True]
    assert flat(stored) == flat(reference)
    assert [r[5] for r in flat(stored)] == [
        ("event_time_too_old", f"event_time {NOW - 63 * 86_400} is older than the API accepts for physical_store "
                               "(62 days)"),
        None, ("missing_event_id", "event_id is empty"), ("missing_event_name", "event_name is empty"),
        ("invalid_action_source", "action_source 'store' is not one the API accepts"),
        ("missing_currency", "currency is NULL (not a 3-letter ISO 4217 code)"), ("missing_value", "value is NULL"),
        ("non_positive_value", "value -5.0 is not positive"), None,
        ("duplicate_event_id", "event_id occurs 2 times in this read; the first was kept"), None,
        ("event_time_in_future", f"event_time {NOW + 61} is 61 s in the future"),
    ]


def edit_row(path, order_id: str, assignment: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(f"UPDATE {ORDERED} SET {assignment} WHERE order_id = ?", [order_id])
    finally:
        con.close()


def warehouse_of(tmp_path, n: int = 30):
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, [make_row(i, T + i) for i in range(1, n + 1)])
    store_in_cursor_order(path)
    return path


def test_a_user_data_json_that_disagrees_with_its_columns_stops_the_read(tmp_path, stored_pages, monkeypatch):
    path = warehouse_of(tmp_path)
    edit_row(path, "o3", f"""user_data_json = '{{"em":["{sha("someone-else")}"]}}'""")
    assert str(first_read_error(tmp_path, path, 10, monkeypatch, ORDERED)) == (
        f"source.relation: {ORDERED}, event_id {event_id('o3')}: user_data_json is not what its columns give; "
        "rebuild the table with the project's macros (dbt build), or drop column user_data_json; nothing was sent")


@pytest.mark.parametrize("stored_text", [
    '{"em":["Jane.Doe@Example.com"]}',                                  # raw email
    '{"em":["' + sha("x") + '"],"ph":["+1 650 555 1234"]}',             # raw phone next to a hash
    '{"em":["' + sha("x").upper() + '"]}',                              # upper-case hex
    '{"em":["' + sha("x")[:63] + '"]}',                                 # 63 characters
    '{"email":["' + sha("x") + '"]}',                                   # a key the API does not know
    '{"em":["' + sha("x") + '"],"fn":"jane"}',
])
def test_raw_personal_data_in_user_data_json_is_never_sent(tmp_path, stored_pages, monkeypatch, stored_text):
    """After the first page, a user_data_json that is not hashes makes its page read from the
    hashed columns: the event goes out with the column's hashes, the stored text never."""
    path = warehouse_of(tmp_path)
    edit_row(path, "o25", f"user_data_json = '{stored_text}'")
    reference, stored = both_paths(tmp_path, path, EventSettings(now=NOW), 10, monkeypatch, ORDERED)
    assert stored_pages == [True, True, False]
    assert flat(stored) == flat(reference)
    sent = b"".join(r[4] for r in flat(stored))
    assert stored_text.encode()[1:-1] not in sent
    assert all(r[5] is None for r in flat(stored))


def test_raw_personal_data_in_a_hashed_column_is_skipped_as_invalid_hash(tmp_path, stored_pages, monkeypatch):
    path = warehouse_of(tmp_path)
    edit_row(path, "o25", "em = 'jane.doe@example.com', user_data_json = replace(user_data_json, em, "
                          "'jane.doe@example.com')")
    reference, stored = both_paths(tmp_path, path, EventSettings(now=NOW), 10, monkeypatch, ORDERED)
    assert stored_pages == [True, True, False]
    assert flat(stored) == flat(reference)
    (skipped,) = [r for r in flat(stored) if r[5]]
    assert skipped[1] == "o25" and skipped[4] is None
    assert skipped[5] == ("invalid_hash", "user_data em is not a lowercase hex SHA-256; raw personal data is never sent")
    assert b"jane.doe" not in b"".join(r[4] for r in flat(stored) if r[4])


def test_a_null_user_data_json_is_built_from_the_columns(tmp_path, stored_pages, monkeypatch):
    """NULL user_data_json where the hashed columns hold identifiers: sent, not skipped as
    no_customer_identifier (the stored text is not trusted to say a row has none)."""
    path = warehouse_of(tmp_path)
    edit_row(path, "o25", "user_data_json = NULL")
    reference, stored = both_paths(tmp_path, path, EventSettings(now=NOW), 10, monkeypatch, ORDERED)
    assert stored_pages == [True, True, False]
    assert flat(stored) == flat(reference)
    assert all(r[5] is None and r[4] for r in flat(stored))


def test_a_page_out_of_cursor_order_is_sorted_not_read_again(tmp_path, stored_pages, monkeypatch):
    """A page of a table not stored in cursor order is read with stored_select and sorted by
    Arrow: not read again the exact way, which scans the eleven hashed columns (the run's most
    expensive page). The events and skips are the reference's."""
    in_order = record_order_checks(monkeypatch)
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, fixture_rows())   # rows inserted out of cursor order
    reference, stored = both_paths(tmp_path, path, EventSettings(now=NOW), 7, monkeypatch)
    assert flat(stored) == flat(reference)
    # Pages 0 and 1 come out of order and are sorted; pages 4, 5 and 6 need the hashed
    # columns, as in the table stored in cursor order
    # (test_every_row_shape_and_skip_reason_as_the_reference).
    assert in_order[:2] == [False, False]
    assert stored_pages == [True, True, True, True, False, False, False, True, True]
