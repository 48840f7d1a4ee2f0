"""The sample-data generator: determinism, exact counts, the messy cases, --append."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from sample_data.generator import as_of_utc, generate

AS_OF = "2025-06-01T12:00:00Z"
AS_OF_DT = datetime(2025, 6, 1, 12, 0, 0)
CUSTOMERS = "amperity.customer_360"
LINES = "amperity.unified_itemized_transactions"


def table_digest(con: duckdb.DuckDBPyConnection, table: str, where: str = "") -> str:
    """SHA-256 over every row in insertion (rowid) order, every column."""
    rows = con.execute(f"SELECT * FROM {table} {where} ORDER BY rowid").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def column(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    return [r[0] for r in con.execute(sql).fetchall()]


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    """A modest data set in which every messy format family must show up."""
    path = tmp_path_factory.mktemp("sample") / "messy.duckdb"
    counts = generate(path, customers=4000, orders=4000, days=30, as_of=AS_OF)
    assert counts["customer_360"] == 4000 and counts["orders"] == 4000
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def test_same_arguments_write_identical_tables(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert generate(a, 300, 500, 10, seed=7, as_of=AS_OF)["unified_itemized_transactions"] == \
        generate(b, 300, 500, 10, seed=7, as_of=AS_OF)["unified_itemized_transactions"]
    with duckdb.connect(str(a)) as con_a, duckdb.connect(str(b)) as con_b:
        for table in (CUSTOMERS, LINES):
            assert table_digest(con_a, table) == table_digest(con_b, table)


def test_another_seed_or_as_of_writes_other_rows(tmp_path):
    base, other_seed, other_day = (tmp_path / f"{n}.duckdb" for n in ("base", "seed", "day"))
    generate(base, 50, 50, 10, seed=1, as_of=AS_OF)
    generate(other_seed, 50, 50, 10, seed=2, as_of=AS_OF)
    generate(other_day, 50, 50, 10, seed=1, as_of="2025-06-02T12:00:00Z")
    with duckdb.connect(str(base)) as b, duckdb.connect(str(other_seed)) as s, duckdb.connect(str(other_day)) as d:
        assert table_digest(b, CUSTOMERS) != table_digest(s, CUSTOMERS)
        assert table_digest(b, LINES) != table_digest(s, LINES)
        assert table_digest(b, LINES) != table_digest(d, LINES)


def test_exact_counts_and_order_ids(tmp_path):
    con = duckdb.connect()
    counts = generate(con, customers=7, orders=11, days=3, as_of=AS_OF)
    lines = con.execute(f"SELECT count(*) FROM {LINES}").fetchone()[0]
    assert counts == {"customer_360": 7, "unified_itemized_transactions": lines, "orders": 11,
                      "as_of": "2025-06-01T12:00:00Z", "seconds": counts["seconds"]}
    assert con.execute(f"SELECT count(*), count(DISTINCT amperity_id) FROM {CUSTOMERS}").fetchone() == (7, 7)
    assert column(con, f"SELECT DISTINCT order_id FROM {LINES} ORDER BY 1") == [f"ORD-{i:08d}" for i in range(1, 12)]
    per_order = column(con, f"SELECT count(*) FROM {LINES} GROUP BY order_id")
    assert min(per_order) >= 1 and max(per_order) <= 6


def test_zero_orders_writes_only_customers():
    con = duckdb.connect()
    assert generate(con, 5, 0, 1, as_of=AS_OF)["unified_itemized_transactions"] == 0
    assert con.execute(f"SELECT count(*) FROM {CUSTOMERS}").fetchone()[0] == 5
    assert con.execute(f"SELECT count(*) FROM {LINES}").fetchone()[0] == 0


def test_orders_fall_in_the_days_before_as_of_in_whole_seconds(messy):
    lo, hi, fractional = messy.execute(
        f"SELECT min(order_datetime), max(order_datetime), "
        f"count(*) FILTER (WHERE epoch_us(order_datetime) % 1000000 <> 0) FROM {LINES}").fetchone()
    assert AS_OF_DT - timedelta(days=30) <= lo and hi < AS_OF_DT and fractional == 0
    per_order = messy.execute(f"SELECT count(*), avg(n) FROM (SELECT order_id, count(*) n FROM {LINES} "
                              f"GROUP BY order_id)").fetchone()
    assert per_order[0] == 4000 and 2.7 < per_order[1] < 3.4


def test_revenue_is_quantity_times_unit_price(messy):
    # the same product in the same currency always has the same unit price (or is free)
    mixed = messy.execute(f"""
        SELECT product_id, upper(currency), count(DISTINCT round(item_revenue / item_quantity, 4))
        FROM {LINES} WHERE item_revenue <> 0 AND upper(currency) IN ('USD', 'EUR', 'GBP')
        GROUP BY ALL HAVING count(DISTINCT round(item_revenue / item_quantity, 4)) > 1""").fetchall()
    assert mixed == []
    wrong_sign = messy.execute(f"SELECT count(*) FROM {LINES} WHERE sign(item_revenue) * sign(item_quantity) < 0"
                               ).fetchone()[0]
    assert wrong_sign == 0


def any_match(values: list, pattern: str) -> bool:
    return any(isinstance(v, str) and re.search(pattern, v) for v in values)


EMAIL_FAMILIES = {
    "clean": r"^[a-z0-9._]+@[a-z0-9-]+(\.[a-z]+)+$",
    "mixed case": r"^[A-Z][a-z]*[._]?.*@[A-Z]",
    "surrounding spaces": r"^ .*@.* $",
    "no @": r"^[^@ ]+\.[a-z]+$",
    "space inside": r"^\S+ \S+@",
    "no top-level domain": r"^[^ @]+@[a-z0-9-]+$",
}

PHONE_FAMILIES = {
    "+1 (650) 555-1212": r"^\+1 \(\d{3}\) \d{3}-\d{4}$",
    "650.555.1212": r"^\d{3}\.\d{3}\.\d{4}$",
    "1-650-555-1212": r"^1-\d{3}-\d{3}-\d{4}$",
    "(650) 555-1212": r"^\(\d{3}\) \d{3}-\d{4}$",
    "+16505551212": r"^\+1\d{10}$",
    "extension x123": r"^\d{3}-\d{3}-\d{4} x\d{3}$",
    "020 7183 8750": r"^020 \d{4} \d{4}$",
    "+44 (0)20 7183 8750": r"^\+44 \(0\)20 \d{4} \d{4}$",
    "0049 30 1234567": r"^0049 \d{2,3} \d{7}$",
    "+49 30 1234567": r"^\+49 \d{2,3} \d{7,8}$",
    "01 42 68 53 00": r"^0\d( \d\d){4}$",
    "+41 44 668 18 00": r"^\+41 \d\d \d{3} \d\d \d\d$",
    "03-1234-5678": r"^0\d-\d{4}-\d{4}$",
    "090-1234-5678": r"^0\d0-\d{4}-\d{4}$",
    "+81 3-1234-5678": r"^\+81 \d{1,2}-\d{3,4}-\d{4}$",
    "garbage": r"^(n/a|N/A|none|call store|\+)$",
}


def test_emails_are_messy(messy):
    emails = column(messy, f"SELECT email FROM {CUSTOMERS}")
    for family, pattern in EMAIL_FAMILIES.items():
        assert any_match(emails, pattern), family
    assert None in emails and "" in emails


def test_phones_come_in_national_and_international_formats(messy):
    phones = column(messy, f"SELECT phone FROM {CUSTOMERS}")
    for family, pattern in PHONE_FAMILIES.items():
        assert any_match(phones, pattern), family
    assert None in phones


def test_names_have_accents_punctuation_other_scripts_and_stray_characters(messy):
    names = column(messy, f"SELECT given_name FROM {CUSTOMERS} UNION ALL SELECT surname FROM {CUSTOMERS}")
    for family, pattern in {
        "accent": r"[éëèüöäïîôâçñóáí]", "apostrophe": r"\w'\w", "hyphen": r"\w-\w", "Hangul": r"[\uac00-\ud7a3]",
        "CJK": r"[\u4e00-\u9fff]", "Cyrillic": r"[\u0400-\u04ff]", "leading or trailing space": r"^ |\s$",
        "digit": r"\d", "upper case": r"^[A-Z]{3,}$", "lower case": r"^[a-z]{3,}$",
    }.items():
        assert any_match(names, pattern), family
    assert None in names
    assert {"O'Connor", "Smith-Jones", "Zoë", "Valéry", "정", "山田", "Дмитрий"} <= set(names)


def test_birthdates_and_genders_include_bad_and_missing_values(messy):
    nulls, ancient, future, normal = messy.execute(f"""
        SELECT count(*) FILTER (WHERE birthdate IS NULL), count(*) FILTER (WHERE year(birthdate) < 1900),
               count(*) FILTER (WHERE birthdate > DATE '2025-06-01'),
               count(*) FILTER (WHERE year(birthdate) BETWEEN 1930 AND 2008) FROM {CUSTOMERS}""").fetchone()
    assert nulls > 0 and ancient > 0 and future > 0 and normal > 3000
    genders = set(column(messy, f"SELECT DISTINCT gender FROM {CUSTOMERS}"))
    assert {"f", "F", "Female", "female", "male", "M", "m", "other", None} <= genders


def test_addresses_are_messy(messy):
    states = set(column(messy, f"SELECT DISTINCT state FROM {CUSTOMERS}"))
    assert {"California", "CA", "ca", "Ontario", "QC", "Bayern", "Île-de-France", None} <= states
    postals = column(messy, f"SELECT postal FROM {CUSTOMERS}")
    for family, pattern in {
        "94105": r"^\d{5}$", "94105-1234": r"^\d{5}-\d{4}$", "SW1A 1AA": r"^[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}$",
        "K1P 5G4": r"^[A-Z]\d[A-Z] \d[A-Z]\d$", "100-0001": r"^\d{3}-\d{4}$", "8001": r"^\d{4}$",
    }.items():
        assert any_match(postals, pattern), family
    assert None in postals
    cities = set(column(messy, f"SELECT DISTINCT city FROM {CUSTOMERS}"))
    assert {"St. Louis", "Coeur d'Alene", "Winston-Salem", "Zürich", None} <= cities
    countries = set(column(messy, f"SELECT DISTINCT country FROM {CUSTOMERS}"))
    assert {"US", "USA", "United States", "U.S.", "us", "United Kingdom", "UK", "Great Britain", "GB",
            "Deutschland", "DE", "FR", "CH", "JP", "CA", "Canada", None} <= countries
    assert countries & {"XX", "N/A", "--", "Unknown", "123", "Earth", ""}
    us_share = messy.execute(f"SELECT avg((country IN ('US', 'USA', 'United States'))::INT) FROM {CUSTOMERS}"
                             ).fetchone()[0]
    assert 0.25 < us_share < 0.5


def test_transactions_are_messy(messy):
    stats = messy.execute(f"""
        SELECT count(*) FILTER (WHERE item_quantity < 0 AND is_return),
               count(*) FILTER (WHERE is_cancellation),
               count(*) FILTER (WHERE is_return IS NULL), count(*) FILTER (WHERE NOT is_return),
               count(*) FILTER (WHERE is_cancellation IS NULL), count(*) FILTER (WHERE NOT is_cancellation),
               count(*) FILTER (WHERE item_revenue = 0),
               count(*) FILTER (WHERE currency IS NULL), count(*) FILTER (WHERE currency = 'usd'),
               count(*) FILTER (WHERE currency = 'USD'),
               count(*) FILTER (WHERE store_id IS NULL), count(*) FILTER (WHERE store_id IS NOT NULL),
               count(DISTINCT purchase_brand), count(DISTINCT purchase_channel), count(DISTINCT product_id)
        FROM {LINES}""").fetchone()
    (returns, cancels, return_null, return_false, cancel_null, cancel_false, free, currency_null, currency_lower,
     usd, store_null, store_set, brands, channels, products) = stats
    assert min(returns, cancels, return_null, return_false, cancel_null, cancel_false, free, currency_null,
               currency_lower, store_null) > 0
    total = messy.execute(f"SELECT count(*) FROM {LINES}").fetchone()[0]
    assert usd > 0.4 * total and store_set > store_null
    assert brands == 3 and channels == 5 and 500 < products <= 4000
    assert {"store", "online", "call_center"} <= set(column(messy, f"SELECT DISTINCT purchase_channel FROM {LINES}"))
    currencies = set(column(messy, f"SELECT DISTINCT currency FROM {LINES}"))
    assert {"USD", "EUR", "GBP", "CAD", "CHF", "JPY", "usd", None} <= currencies
    repeated = messy.execute(f"SELECT count(*) FROM (SELECT order_id FROM {LINES} GROUP BY order_id "
                             f"HAVING count(*) > count(DISTINCT product_id))").fetchone()[0]
    assert repeated > 0
    orphans = messy.execute(f"SELECT count(DISTINCT order_id) FROM {LINES} t "
                            f"WHERE NOT EXISTS (SELECT 1 FROM {CUSTOMERS} c WHERE c.amperity_id = t.amperity_id)"
                            ).fetchone()[0]
    assert 0 < orphans < 200
    one_customer = messy.execute(f"SELECT count(*) FROM (SELECT order_id FROM {LINES} GROUP BY order_id "
                                 f"HAVING count(DISTINCT amperity_id) > 1)").fetchone()[0]
    assert one_customer == 0


def test_append_adds_rows_and_leaves_existing_ones_alone(tmp_path):
    path = tmp_path / "append.duckdb"
    first = generate(path, 200, 300, 10, as_of=AS_OF)
    with duckdb.connect(str(path)) as con:
        before = {t: table_digest(con, t) for t in (CUSTOMERS, LINES)}
        old_ids = set(column(con, f"SELECT amperity_id FROM {CUSTOMERS}"))
    second = generate(path, 20, 100, 2, as_of="2025-06-03T12:00:00Z", append=True)
    assert second["customer_360"] == 20 and second["orders"] == 100
    with duckdb.connect(str(path)) as con:
        assert con.execute(f"SELECT count(*) FROM {CUSTOMERS}").fetchone()[0] == 220
        assert con.execute(f"SELECT count(*) FROM {LINES}").fetchone()[0] == \
            first["unified_itemized_transactions"] + second["unified_itemized_transactions"]
        assert table_digest(con, CUSTOMERS, "WHERE rowid < 200") == before[CUSTOMERS]
        assert table_digest(con, LINES, f"WHERE rowid < {first['unified_itemized_transactions']}") == before[LINES]
        new_orders = column(con, f"SELECT DISTINCT order_id FROM {LINES} "
                                 f"WHERE rowid >= {first['unified_itemized_transactions']} ORDER BY 1")
        assert new_orders == [f"ORD-{i:08d}" for i in range(301, 401)]
        assert con.execute(f"SELECT count(*), count(DISTINCT amperity_id) FROM {CUSTOMERS}").fetchone() == (220, 220)
        new_buyers = set(column(con, f"SELECT amperity_id FROM {LINES} "
                                     f"WHERE rowid >= {first['unified_itemized_transactions']}"))
        assert new_buyers & old_ids, "appended orders also go to existing customers"
        lo = con.execute(f"SELECT min(order_datetime) FROM {LINES} "
                         f"WHERE rowid >= {first['unified_itemized_transactions']}").fetchone()[0]
        assert lo >= datetime(2025, 6, 1, 12, 0, 0)


def test_append_orders_only_to_existing_customers(tmp_path):
    path = tmp_path / "orders_only.duckdb"
    generate(path, 30, 10, 5, as_of=AS_OF)
    counts = generate(path, 0, 10, 5, as_of=AS_OF, append=True)
    assert counts["customer_360"] == 0 and counts["orders"] == 10
    with duckdb.connect(str(path)) as con:
        assert con.execute(f"SELECT count(DISTINCT order_id) FROM {LINES}").fetchone()[0] == 20


def test_append_into_an_empty_file_creates_the_tables(tmp_path):
    counts = generate(tmp_path / "new" / "fresh.duckdb", 5, 5, 1, as_of=AS_OF, append=True)
    assert counts["customer_360"] == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"customers": -1}, "customers must be at least 0, got -1"),
    ({"orders": 1.5}, "orders must be an integer, got 1.5"),
    ({"days": 0}, "days must be at least 1, got 0"),
    ({"seed": -3}, "seed must be at least 0, got -3"),
    ({"customers": 0}, "orders need customers"),
    ({"schema": "bad-name"}, "not a valid identifier: 'bad-name'"),
    ({"as_of": "tomorrow"}, "Invalid isoformat string: 'tomorrow'"),
])
def test_bad_arguments_raise_value_error(kwargs, message, tmp_path):
    args = {"customers": 3, "orders": 3, "days": 1, "as_of": AS_OF} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(tmp_path / "x.duckdb", **args)


def test_numpy_integers_are_accepted():
    import numpy as np
    assert generate(duckdb.connect(), np.int64(2), np.int32(3), np.int64(1), as_of=AS_OF)["orders"] == 3


def test_as_of_is_utc_whole_seconds():
    assert as_of_utc("2025-06-01T12:00:00Z") == datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    assert as_of_utc("2025-06-01T14:30:15.9+02:00") == datetime(2025, 6, 1, 12, 30, 15, tzinfo=timezone.utc)
    assert as_of_utc("2025-06-01 12:00") == datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    assert as_of_utc(datetime(2025, 6, 1, 7, tzinfo=timezone(timedelta(hours=-5)))) == \
        datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    assert as_of_utc(None).tzinfo == timezone.utc
