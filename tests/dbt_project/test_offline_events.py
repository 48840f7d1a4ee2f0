"""offline_events built by `dbt build` on the fixture set: the exact rows, every column."""
from __future__ import annotations

import hashlib
from decimal import Decimal

import duckdb
import orjson
from dbt_runner import compile_with_var, run_dbt

from sample_data.fixtures import AS_OF_VAR

COLUMNS = ["event_id", "event_name", "event_time", "action_source", "order_id", "currency", "value", "num_items",
           "contents", "store_id", "delivery_category", "em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"]
IDENTIFIERS = ["em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"]


def h(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


# Normalized identifiers per customer, written out by hand from the fixture rows:
# em, ph, fn, ln, db, ge, ct, st, zp, country, external_id
CUSTOMERS = {
    "C001": ("john_smith@gmail.com", "16505551212", "mary", "oconnor", "19970216", "f", "newyork", "ca",
             "94105", "us", "c001"),
    "C002": ("jane.doe@example.com", "16169547888", "zoë", "smithjones", "19850704", "m", "menlopark", "ca",
             "94035", "us", "c002"),
    "C003": ("oliver@example.co.uk", "442071838750", "oliver", "brown", "19000101", "m", "london",
             "greaterlondon", "sw1a1aa", "gb", "c003"),
    # no country -> default US: 'Seoul' is no US state; the zip keeps its 5 digits
    "C004": ("jung.kim@example.kr", None, "정", "김", None, "f", "seoul", None, "04524", None, "c004"),
    "C005": (None, "49301234567", "jürgen", "müller", None, None, "münchen", "bayern", "80331", "de", "c005"),
    "C006": ("valery@example.fr", "33142685300", "val\u00e9ry", "giscarddestaing", "19260202", "m", "paris",
             "îledefrance", "75008", "fr", "c006"),
    "C007": ("lucie@example.ca", "14165550199", "lucie", "tremblay", "19901231", "f", "montréal", "qc",
             "h2x1y4", "ca", "c007"),
    "C008": (None, "81312345678", "太郎", "山田", None, None, "tokyo", "tokyo", "1000001", "jp", "c008"),
    "C009": (None, "41446681800", "annemarie", "favre", "19700615", "f", "zürich", "zürich", "8001", "ch",
             "c009"),
    "C011": ("narnia@example.com", "16505550100", "aslan", "lion", None, "m", "cairparavel", "ny", "10001",
             None, "c011"),
    "C012": ("us.dotted@example.com", "16505551212", "dandre", "stjohn", "20010309", "m", "stlouis", "ny",
             None, "us", "c012"),
    "C013": ("gb@example.co.uk", "442071838750", "siobhan", "óbriain", None, "f", "belfast", "northernireland",
             "bt15gs", "gb", "c013"),
    "C014": ("x@y.org", None, None, None, None, None, None, None, None, "gb", "c014"),
    "C015": ("only.email@example.com", None, None, None, None, None, None, None, None, None, "c015"),
    "C016": (None, "442071838750", None, None, None, None, None, None, None, None, "c016"),
}


def c(product_id: str, quantity: int, item_price: float) -> dict:
    return {"id": product_id, "quantity": quantity, "item_price": item_price}


# order_id: (customer, event_time, currency, value, num_items, contents, store_id)
ORDERS = {
    "O001": ("C001", 1751198400, "USD", "25.50", 3, [c("P1", 2, 10.0), c("P2", 1, 5.5)], "S1"),
    # earliest line at 11:59:59.750 -> truncated; return and cancelled lines left out
    "O002": ("C002", 1751111999, "USD", "37.25", 4, [c("P1", 3, 10.0), c("P3", 1, 7.25)], "S2"),
    "O003": ("C003", 1751025600, "GBP", "29.97", 3, [c("P6", 3, 29.97 / 3)], "S3"),
    "O004": ("C004", 1750939200, "USD", "15.00", 1, [c("P1", 1, 15.0)], "S4"),
    "O005": ("C005", 1750852800, "EUR", "22.00", 4, [c("P2", 4, 5.5)], None),
    "O006": ("C006", 1750762800, None, "20.00", 2, [c("P3", 1, 12.0), c("P9", 1, 8.0)], "S6"),
    "O007": ("C007", 1750680000, "CAD", "13.50", 1, [c("P1", 1, 13.5)], "S7"),
    "O008": ("C008", 1750593600, "JPY", "2400.00", 2, [c("P10", 2, 1200.0)], "S8"),
    "O009": ("C009", 1750507200, "CHF", "49.90", 2, [c("P11", 1, 49.9), c("P12", 1, 0.0)], "S9"),
    "O016": ("C011", 1751198400, "USD", "0.00", 1, [c("P1", 1, 0.0)], "S1"),
    "O017": ("C011", 1750420800, "USD", "5.00", 5, [c("P13", 5, 1.0)], "S11"),
    "O018": ("C012", 1745928060, "USD", "1.00", 1, [c("P1", 1, 1.0)], "S12"),
    "O019": ("C013", 1750334400, None, "20.00", 2, [c("P1", 1, 10.0), c("P2", 1, 10.0)], "S13"),
    "O020": ("C014", 1750248000, "GBP", "3.00", 1, [c("P1", 1, 3.0)], "S14"),
    "O021": ("C015", 1750161600, "USD", "10.00", 3, [c("P1", 3, 10.0 / 3)], "S15"),
    "O022": ("C016", 1750075199, "USD", "99.99", 1, [c("P1", 1, 99.99)], "S16"),
}


def expected_rows(event_name: str = "Purchase", action_source: str = "physical_store") -> list[tuple]:
    rows = []
    for order_id, (customer, event_time, currency, value, num_items, contents, store_id) in sorted(ORDERS.items()):
        identifiers = tuple(h(v) for v in CUSTOMERS[customer])
        rows.append((h(f"{event_name}:{order_id}"), event_name, event_time, action_source, order_id, currency,
                     Decimal(value), num_items, contents, store_id,
                     "in_store" if action_source == "physical_store" else None, *identifiers))
    return rows


def test_dbt_build_runs_unit_tests_and_data_tests_green(fixture_warehouse):
    out = fixture_warehouse["build"].stdout
    assert fixture_warehouse["build"].returncode == 0
    # the only warning: the fixture's zero-value order O016, which the view keeps and the sync skips
    assert "Completed with 1 warning" in out and "Warning in test is_positive_offline_events_value " in out
    # unit tests and data tests really ran (not only the models)
    assert "PASS int_customers__hashed::hashes_match_meta_reference_vectors" in out
    assert "PASS int_customers__phone_normalized::phone_is_e164_digits_with_the_calling_code" in out
    assert "PASS unique_offline_events_event_id" in out
    assert " WARN=1 ERROR=0 SKIP=0 " in out


def test_offline_events_has_the_contract_columns_in_order(fixture_db):
    types = fixture_db.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'analytics' and table_name = 'offline_events' order by ordinal_position").fetchall()
    assert types == [
        ("event_id", "VARCHAR"), ("event_name", "VARCHAR"), ("event_time", "BIGINT"),
        ("action_source", "VARCHAR"), ("order_id", "VARCHAR"), ("currency", "VARCHAR"),
        ("value", "DECIMAL(18,2)"), ("num_items", "BIGINT"),
        ("contents", "STRUCT(id VARCHAR, quantity BIGINT, item_price DOUBLE)[]"), ("store_id", "VARCHAR"),
        ("delivery_category", "VARCHAR"),
        *[(name, "VARCHAR") for name in IDENTIFIERS], ("data_processing_options", "VARCHAR[]"),
        ("data_processing_options_country", "BIGINT"), ("data_processing_options_state", "BIGINT"),
        ("custom_data_json", "VARCHAR"), ("user_data_json", "VARCHAR"),
    ]
    assert fixture_db.execute(
        "select table_type from information_schema.tables "
        "where table_schema = 'analytics' and table_name = 'offline_events'").fetchone() == ("BASE TABLE",)


def test_offline_events_exact_rows(fixture_db):
    rows = fixture_db.execute(f"select {', '.join(COLUMNS)} from analytics.offline_events order by order_id").fetchall()
    expected = expected_rows()
    assert [r[4] for r in rows] == [r[4] for r in expected]
    for got, want in zip(rows, expected):
        assert dict(zip(COLUMNS, got)) == dict(zip(COLUMNS, want)), want[4]


def test_custom_data_json_is_what_the_sync_writes_for_every_order(fixture_db):
    """Each order's custom_data_json equals the custom_data of `build_events` + orjson on its columns."""
    from sync.contract import MODEL_COLUMNS
    from sync.events import EventSettings
    from tests.support.events_oracle import build_events
    cursor = fixture_db.execute(f"select {', '.join(MODEL_COLUMNS)}, custom_data_json from analytics.offline_events "
                                "order by order_id")
    rows = cursor.fetchall()
    chunk = {name: [float(r[k]) if name == "value" and r[k] is not None else r[k] for r in rows]
             for k, name in enumerate(MODEL_COLUMNS)}
    now = max(t for t in chunk["event_time"] if t is not None) + 60
    built = build_events(chunk, EventSettings(now=now))
    written = [r[-1] for r in rows]
    compared = 0
    for i, reason, _ in built.skips:   # no custom_data to write, or a value the sync refuses
        assert written[i] is None or reason == "non_positive_value", (rows[i], reason)
    for event, text in zip(built.events, written):
        if event is not None:
            assert text is not None and text.encode() == orjson.dumps(event["custom_data"])
            compared += 1
    assert compared == len(rows) - len(built.skips) and compared >= 10


def test_user_data_json_is_what_the_sync_writes_for_every_order(fixture_db):
    """Each order's user_data_json equals the user_data of orjson on its hashed columns, the
    way `build_events` puts them together (NULL keys left out, em/ph/external_id as arrays)."""
    from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS
    rows = fixture_db.execute(f"select {', '.join(USER_DATA_COLUMNS)}, user_data_json from analytics.offline_events "
                              "order by order_id").fetchall()
    assert len(rows) >= 10
    for row in rows:
        user_data = {key: [value] if key in ARRAY_USER_KEYS else value
                     for key, value in zip(USER_DATA_COLUMNS, row) if value is not None}
        assert row[-1] is not None and row[-1].encode() == orjson.dumps(user_data), row


def test_meta_reference_hashes_appear_verbatim(fixture_db):
    row = fixture_db.execute(
        "select em, ph, fn, ln, db, ge, ct, st, country from analytics.offline_events where order_id = 'O001'").fetchone()
    assert row == (
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
        "7a0fbfdf40cbeb97429bdb88f512cecd27f0d44b7e57986ab578423bb61936ac",
        "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c",
        "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
        "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5",
        "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126",
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    )
    # Valéry written decomposed in the source hashes as Meta's NFC vector
    assert fixture_db.execute("select fn from analytics.offline_events where order_id = 'O006'").fetchone() == (
        "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c",)


def test_source_tables_are_untouched_by_the_build(fixture_db):
    tables = fixture_db.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'amperity' "
        "order by table_name").fetchall()
    assert tables == [("customer_360", "BASE TABLE"), ("unified_itemized_transactions", "BASE TABLE")]


def test_build_refuses_to_write_into_the_source_schema(tmp_path):
    """The on-run-start guard stops the build before any node: no table is created."""
    path = tmp_path / "guard.duckdb"
    duckdb.connect(str(path)).close()
    result = run_dbt(["build"], path, tmp_path, {"amperity_schema": "analytics", "as_of": AS_OF_VAR}, check=False)
    assert result.returncode != 0
    assert "would be built in guard.analytics, the schema of the source tables: dbt must never write" in result.stdout
    renamed = run_dbt(["build"], path, tmp_path, {"source_schema": "cdp", "as_of": AS_OF_VAR}, check=False)
    assert renamed.returncode != 0
    assert "var source_schema is now amperity_schema" in renamed.stdout
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from information_schema.tables").fetchone() == (0,)


def test_offline_events_as_a_table_holds_the_same_rows_in_cursor_order(fixture_warehouse, tmp_path):
    """var offline_events_materialization=table: the same rows, stored, in (event_time, event_id) order."""
    path = tmp_path / "table.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{fixture_warehouse['path']}' as built (read_only)")
        con.execute("create schema amperity")
        for table in ("unified_itemized_transactions", "customer_360"):
            con.execute(f"create table amperity.{table} as select * from built.amperity.{table}")
    run_dbt(["build"], path, tmp_path,
            {"as_of": AS_OF_VAR, "offline_events_materialization": "table"})
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'analytics' and table_name = 'offline_events'").fetchone() == ("BASE TABLE",)
        stored = con.execute(f"select {', '.join(COLUMNS)} from analytics.offline_events").fetchall()
    assert stored == sorted(expected_rows(), key=lambda r: (r[2], r[0]))


def test_offline_events_materialization_must_be_incremental_table_or_view(tmp_path):
    result, _ = compile_with_var("offline_events", "offline_events_materialization", "snapshot", tmp_path)
    assert result.returncode != 0
    assert ("var offline_events_materialization must be 'incremental', 'table' or 'view', got 'snapshot'"
            in result.stdout)
