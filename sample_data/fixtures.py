"""A small hand-written fixture set for the two source tables, one edge case per row.

Timestamps are relative to AS_OF (UTC); tests pass it to dbt as the var `as_of` so the
offline_events view is deterministic. tests/dbt_project/test_offline_events.py holds
the exact rows the view must produce from these fixtures.

    from sample_data.fixtures import AS_OF, load_fixtures
    load_fixtures(duckdb.connect(path))            # recreates amperity.* and fills them
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb

from sample_data.schema import (CUSTOMER_360_COLUMNS, DEFAULT_SOURCE_SCHEMA, UNIFIED_ITEMIZED_TRANSACTIONS_COLUMNS,
                                create_source_tables, quote_identifier)

# The moment the fixtures are evaluated at (dbt var as_of), UTC.
AS_OF = datetime(2025, 6, 30, 12, 0, 0)
AS_OF_VAR = AS_OF.strftime("%Y-%m-%d %H:%M:%S")


def ago(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """AS_OF minus a duration (negative values give a time after AS_OF)."""
    return AS_OF - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# customer_360: amperity_id, email, phone, given_name, surname, birthdate, gender, city, state, postal, country
CUSTOMERS: list[tuple] = [
    # Meta's reference vectors, all in one customer.
    ("C001", "John_Smith@gmail.com", "(650)555-1212", "Mary", "O'Connor", date(1997, 2, 16), "Female",
     "New York", "California", "94105-1234", "United States"),
    # Messy US: padded upper-case email, '+1' phone with odd grouping, accented name, state code,
    # alpha-3 country.
    ("C002", "  JANE.Doe@Example.COM ", "+1 (616) 954-78 88", "Zoë", "Smith-Jones", date(1985, 7, 4), "M",
     "Menlo Park", "CA", "94035", "USA"),
    # GB: national number with trunk 0, alias 'UK', birthdate on the 1900 boundary.
    ("C003", "oliver@example.co.uk", "020 7183 8750", "Oliver", "Brown", date(1900, 1, 1), "male",
     "London", "Greater London", "SW1A 1AA", "UK"),
    # Korean names, no country (default US drives phone/state/zip), birthdate before 1900.
    ("C004", "jung.kim@example.kr", None, "정", "김", date(1899, 12, 31), "F",
     "Seoul", "Seoul", "04524", None),
    # DE: no email, '+49 (0)' phone, birthdate in the future, gender not f/m, alpha-3 country.
    ("C005", None, "+49 (0)30 1234567", "Jürgen", "Müller", date(2030, 1, 1), "unknown",
     "München", "Bayern", "80331", "DEU"),
    # FR: decomposed accent (NFC matters), apostrophe and space in the surname, dotted phone.
    ("C006", "valery@example.fr", "01.42.68.53.00", "Vale\u0301ry", "Giscard d'Estaing", date(1926, 2, 2), "m",
     "Paris", "Île-de-France", "75008", "France"),
    # CA: extension, province name with accent, lowercase country name.
    ("C007", "lucie@example.ca", "(416) 555-0199 ext. 12", "Lucie", "Tremblay", date(1990, 12, 31), "Female",
     "Montréal", "Québec", "H2X 1Y4", "canada"),
    # JP: blank email, national phone, kanji names, alpha-3 country.
    ("C008", "   ", "03-1234-5678", "太郎", "山田", None, None, "Tokyo", "Tokyo", "100-0001", "JPN"),
    # CH: invalid email, '0041' phone, country name in German (an alias).
    ("C009", "INVALID-EMAIL", "0041 44 668 18 00", "Anne-Marie", "Favre", date(1970, 6, 15), "FEMALE",
     "Zürich", "Zürich", "8001", "Schweiz"),
    # Neither a valid email nor a valid phone: its orders are not eligible.
    ("C010", "not-an-email", "12345", "Nobody", "Reachable", None, None, None, None, None, "US"),
    # Garbage country (default US applies), state as a name, zip+4.
    ("C011", "narnia@example.com", "650-555-0100", "Aslan", "Lion", None, "M", "Cair Paravel", "New York",
     "10001-0001", "Narnia"),
    # Country 'U.S.', state code in lower case, US zip too short, number already carrying the code.
    ("C012", "us.dotted@example.com", "1-650-555-1212", "D'Andre", "St. John", date(2001, 3, 9), "m",
     "St. Louis", "ny", "1000", "U.S."),
    # 'Great Britain', '#' extension after an international number.
    ("C013", "gb@example.co.uk", "+44 20 7183 8750 #5", "Siobhan", "Ó Briain", None, "f",
     "Belfast", "Northern Ireland", "BT1 5GS", "Great Britain"),
    # 'England', no phone, blank state.
    ("C014", "x@y.org", None, None, None, None, None, None, "  ", None, "England"),
    # Email only; everything else NULL.
    ("C015", "only.email@example.com", None, None, None, None, None, None, None, None, None),
    # Phone only, US number written with 011 (the US international prefix) to a GB number.
    ("C016", None, "011 44 20 7183 8750", None, None, None, None, None, None, None, None),
]

T = "store"
A = "acme"
# unified_itemized_transactions: amperity_id, order_id, product_id, item_quantity, item_revenue,
# order_datetime, currency, purchase_channel, purchase_brand, store_id, is_return, is_cancellation
TRANSACTIONS: list[tuple] = [
    # Two products, explicit false flags.
    ("C001", "O001", "P1", 2, Decimal("20.00"), ago(days=1), "USD", T, A, "S1", False, False),
    ("C001", "O001", "P2", 1, Decimal("5.50"), ago(days=1), "USD", T, A, "S1", False, False),
    # Repeated product id (quantities and revenue summed), a return line and a cancelled line
    # (not counted), NULL flags, lowercase currency, fractional seconds on the earliest line.
    ("C002", "O002", "P1", 1, Decimal("10.00"), ago(days=2, seconds=0.25), "usd", T, A, "S2", None, None),
    ("C002", "O002", "P1", 2, Decimal("20.00"), ago(days=2), "usd", T, A, "S2", None, False),
    ("C002", "O002", "P3", 1, Decimal("7.25"), ago(days=2), "usd", T, A, "S2", False, None),
    ("C002", "O002", "P4", -1, Decimal("-3.00"), ago(days=2), "usd", T, A, "S2", True, None),
    ("C002", "O002", "P5", 1, Decimal("9.99"), ago(days=2), "usd", T, A, "S2", None, True),
    # Zero and negative quantities are not eligible; the positive line is.
    ("C003", "O003", "P6", 3, Decimal("29.97"), ago(days=3), "GBP", T, A, "S3", False, False),
    ("C003", "O003", "P7", 0, Decimal("0.00"), ago(days=3), "GBP", T, A, "S3", False, False),
    ("C003", "O003", "P8", -1, Decimal("-9.99"), ago(days=3), "GBP", T, A, "S3", False, False),
    # NULL currency -> default USD; web channel and another brand (no filter by default).
    ("C004", "O004", "P1", 1, Decimal("15.00"), ago(days=4), None, "web", "other", "S4", None, None),
    # EUR, no store.
    ("C005", "O005", "P2", 4, Decimal("22.00"), ago(days=5), "EUR", T, A, None, False, False),
    # Invalid currency -> NULL; the store is the greatest over the lines.
    ("C006", "O006", "P3", 1, Decimal("12.00"), ago(days=6), "EURO", T, A, None, False, False),
    ("C006", "O006", "P9", 1, Decimal("8.00"), ago(days=6, hours=1), "EURO", T, A, "S6", False, False),
    # Lowercase currency with spaces.
    ("C007", "O007", "P1", 1, Decimal("13.50"), ago(days=7), " cad ", T, A, "S7", False, False),
    # JPY, whole units.
    ("C008", "O008", "P10", 2, Decimal("2400.00"), ago(days=8), "JPY", T, A, "S8", False, False),
    # CHF; a zero-priced line inside a positive order stays in contents.
    ("C009", "O009", "P11", 1, Decimal("49.90"), ago(days=9), "CHF", T, A, "S9", False, False),
    ("C009", "O009", "P12", 1, Decimal("0.00"), ago(days=9), "CHF", T, A, "S9", False, False),
    # Customer without a valid email or phone -> no event.
    ("C010", "O010", "P1", 1, Decimal("10.00"), ago(days=1), "USD", T, A, "S1", False, False),
    # Customer missing from Customer 360 -> no event.
    ("C999", "O011", "P1", 1, Decimal("10.00"), ago(days=1), "USD", T, A, "S1", False, False),
    # Outside the 62-day lookback -> no event.
    ("C001", "O012", "P1", 1, Decimal("10.00"), ago(days=62, seconds=1), "USD", T, A, "S1", False, False),
    # After as_of (a future order) -> no event.
    ("C001", "O013", "P1", 1, Decimal("10.00"), ago(hours=-1), "USD", T, A, "S1", False, False),
    # Only returned lines -> no event.
    ("C001", "O014", "P1", -1, Decimal("-10.00"), ago(days=1), "USD", T, A, "S1", True, False),
    # Only cancelled lines -> no event.
    ("C001", "O015", "P1", 1, Decimal("10.00"), ago(days=1), "USD", T, A, "S1", False, True),
    # Zero-value order (eligible lines worth nothing) -> an event with value 0 (the sync skips it).
    ("C011", "O016", "P1", 1, Decimal("0.00"), ago(days=1), "USD", T, A, "S1", False, False),
    # Garbage country customer, normal order.
    ("C011", "O017", "P13", 5, Decimal("5.00"), ago(days=10), "USD", "online", "Other Brand", "S11", None, None),
    # One line just inside the lookback, one outside it: event_time is the eligible line's.
    ("C012", "O018", "P1", 1, Decimal("1.00"), ago(days=61, hours=23, minutes=59), "USD", T, A, "S12", False, False),
    ("C012", "O018", "P2", 1, Decimal("2.00"), ago(days=70), "USD", T, A, "S12", False, False),
    # Lines in two currencies -> NULL currency.
    ("C013", "O019", "P1", 1, Decimal("10.00"), ago(days=11), "GBP", T, A, "S13", False, False),
    ("C013", "O019", "P2", 1, Decimal("10.00"), ago(days=11), "EUR", T, A, "S13", False, False),
    ("C014", "O020", "P1", 1, Decimal("3.00"), ago(days=12), "GBP", T, A, "S14", False, False),
    ("C015", "O021", "P1", 3, Decimal("10.00"), ago(days=13), "USD", T, A, "S15", False, False),
    ("C016", "O022", "P1", 1, Decimal("99.99"), ago(days=14, seconds=0.999), "USD", T, A, "S16", False, False),
]


def load_fixtures(con: duckdb.DuckDBPyConnection, schema: str = DEFAULT_SOURCE_SCHEMA,
                  extra_customers: list[tuple] | None = None) -> None:
    """Recreate both source tables in `schema` and insert the fixture rows
    (plus `extra_customers`, rows in customer_360 column order)."""
    create_source_tables(con, schema, replace=True)
    q_schema = quote_identifier(schema)
    for table, columns, rows in (
        ("customer_360", CUSTOMER_360_COLUMNS, CUSTOMERS + list(extra_customers or [])),
        ("unified_itemized_transactions", UNIFIED_ITEMIZED_TRANSACTIONS_COLUMNS, TRANSACTIONS),
    ):
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {q_schema}.{quote_identifier(table)} VALUES ({placeholders})", rows)
