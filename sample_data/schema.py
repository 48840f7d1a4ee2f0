"""The two source tables the warehouse layer reads, as DuckDB DDL.

These are the customer-data tables an Amperity (or similar CDP) tenant exposes:
Unified Itemized Transactions, one row per purchased item, and Customer 360, one
row per customer. dbt only reads them (they are dbt sources); the sample-data
generator and the test fixtures create and fill them.
"""
from __future__ import annotations

import re

import duckdb

DEFAULT_SOURCE_SCHEMA = "amperity"

UNIFIED_ITEMIZED_TRANSACTIONS_COLUMNS: dict[str, str] = {
    "amperity_id": "VARCHAR",
    "order_id": "VARCHAR",
    "product_id": "VARCHAR",
    "item_quantity": "INTEGER",
    "item_revenue": "DECIMAL(18, 2)",
    "order_datetime": "TIMESTAMP",
    "currency": "VARCHAR",
    "purchase_channel": "VARCHAR",
    "purchase_brand": "VARCHAR",
    "store_id": "VARCHAR",
    "is_return": "BOOLEAN",
    "is_cancellation": "BOOLEAN",
}

CUSTOMER_360_COLUMNS: dict[str, str] = {
    "amperity_id": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "given_name": "VARCHAR",
    "surname": "VARCHAR",
    "birthdate": "DATE",
    "gender": "VARCHAR",
    "city": "VARCHAR",
    "state": "VARCHAR",
    "postal": "VARCHAR",
    "country": "VARCHAR",
}

SOURCE_TABLES: dict[str, dict[str, str]] = {
    "unified_itemized_transactions": UNIFIED_ITEMIZED_TRANSACTIONS_COLUMNS,
    "customer_360": CUSTOMER_360_COLUMNS,
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """Quote a schema or table name after checking it is a plain identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return f'"{name}"'


def create_source_tables(con: duckdb.DuckDBPyConnection, schema: str = DEFAULT_SOURCE_SCHEMA,
                         replace: bool = True) -> None:
    """Create (or with replace=True, recreate empty) both source tables in `schema`."""
    q_schema = quote_identifier(schema)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {q_schema}")
    for table, columns in SOURCE_TABLES.items():
        cols = ", ".join(f"{quote_identifier(c)} {t}" for c, t in columns.items())
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        con.execute(f"{verb} {q_schema}.{quote_identifier(table)} ({cols})")
