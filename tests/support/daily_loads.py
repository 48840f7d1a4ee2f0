"""A sequence of daily loads on the two source tables (in a DuckDB file), as a CDP delivers
them: new orders and customers, late lines of recent orders, lines returned or cancelled
after they were built, and customer profile changes. Every change but the new day touches
only orders inside the incremental window (placed within the two days before the previous
load's as_of, with incremental_lookback_days = 3), so an incremental build must end up
equal to a full rebuild."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from sample_data.generator import generate

LINES = "amperity.unified_itemized_transactions"
CUSTOMERS = "amperity.customer_360"
RECENT = dt.timedelta(days=2)   # well inside incremental_lookback_days (3)


def as_of_var(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def first_load(path: Path, as_of: dt.datetime, customers: int = 300, orders: int = 1500, days: int = 66) -> dict:
    """The history: `orders` orders over `days` days before as_of (some already older than
    the 62-day eligibility window, more of them leaving it as the loads move on)."""
    return generate(str(path), customers=customers, orders=orders, days=days, seed=23, as_of=as_of)


def daily_load(path: Path, previous_as_of: dt.datetime, as_of: dt.datetime, day: int) -> dict:
    """One day's load: new orders in the day before as_of (some for new customers), and
    changes to the orders placed within RECENT before previous_as_of (already built). Returns
    how many rows each kind of change touched (each must be > 0 for the load to test it)."""
    generate(str(path), customers=15, orders=120, days=1, seed=1000 + day, as_of=as_of, append=True)
    since, until = previous_as_of - RECENT, previous_as_of
    with duckdb.connect(str(path)) as con:
        recent = [r[0] for r in con.execute(
            f"SELECT order_id FROM {LINES} WHERE order_datetime > ? AND order_datetime <= ? "
            f"AND item_quantity > 0 AND NOT coalesce(is_return, false) AND NOT coalesce(is_cancellation, false) "
            f"GROUP BY order_id ORDER BY hash(order_id || '{day}'), order_id LIMIT 12", [since, until]).fetchall()]
        late, returned, cancelled = recent[:4], recent[4:8], recent[8:10]
        changes = {
            "late_lines": _late_lines(con, late, day),
            "returned_lines": _mark(con, "is_return", returned, all_lines=False),
            "cancelled_orders": _mark(con, "is_cancellation", cancelled, all_lines=True),
            "profile_changes": _profile_changes(con, since, day),
        }
    return changes


def _late_lines(con: duckdb.DuckDBPyConnection, orders: list[str], day: int) -> int:
    """A line arriving a day late for each order: a new product, same customer, time and store."""
    for n, order_id in enumerate(orders):
        con.execute(
            f"INSERT INTO {LINES} SELECT amperity_id, order_id, 'LATE-{day}-{n}', 2, 19.90, order_datetime, "
            f"currency, purchase_channel, purchase_brand, store_id, false, NULL FROM {LINES} "
            f"WHERE order_id = ? AND item_quantity > 0 ORDER BY product_id LIMIT 1", [order_id])
    return len(orders)


def _mark(con: duckdb.DuckDBPyConnection, flag: str, orders: list[str], all_lines: bool) -> int:
    """Flag lines as returned / cancelled after they were built: every line of each order
    (it leaves offline_events) or only its first positive line (its value drops)."""
    touched = 0
    for order_id in orders:
        first = "" if all_lines else (
            f" AND product_id = (SELECT min(product_id) FROM {LINES} WHERE order_id = $1 AND item_quantity > 0)")
        touched += con.execute(f"UPDATE {LINES} SET {flag} = true WHERE order_id = $1{first}", [order_id]).fetchone()[0]
    return touched


def _profile_changes(con: duckdb.DuckDBPyConnection, since: dt.datetime, day: int) -> int:
    """New email and city for customers whose every order is recent; one of them loses its
    phone, one gets another."""
    ids = [r[0] for r in con.execute(
        f"SELECT amperity_id FROM {LINES} WHERE amperity_id IN (SELECT amperity_id FROM {CUSTOMERS}) "
        f"GROUP BY amperity_id HAVING min(order_datetime) > ? ORDER BY amperity_id LIMIT 4", [since]).fetchall()]
    for n, amperity_id in enumerate(ids):
        phone = {0: "phone", 1: "NULL", 2: "'+44 20 7946 0" + f"{day}{n:02d}'"}.get(n % 3)
        con.execute(f"UPDATE {CUSTOMERS} SET email = 'moved.{day}.{n}@example.org', city = 'Springfield {day}', "
                    f"phone = {phone} WHERE amperity_id = ?", [amperity_id])
    return len(ids)
