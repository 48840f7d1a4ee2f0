"""Test helpers: a DuckDB file with `analytics.offline_events` as a TABLE with the contract's
columns (so the sync's tests do not depend on dbt), valid rows, and config files.
`custom_data_json` and `user_data_json` are filled as the dbt macros write them
(`custom_data_json_of`, `user_data_json_of`) unless a row sets them."""
from __future__ import annotations

import hashlib
from decimal import Decimal
import textwrap
from pathlib import Path

import duckdb
import orjson

from sync.events import ARRAY_USER_KEYS, USER_DATA_COLUMNS

DATASET_ID = "1234567890"
TOKEN = "tok-SECRET-5e1f9c2a7b"   # recognizable fake token; grepped for in outputs

COLUMNS = {
    "event_id": "VARCHAR", "event_name": "VARCHAR", "event_time": "BIGINT", "action_source": "VARCHAR",
    "order_id": "VARCHAR", "currency": "VARCHAR", "value": "DECIMAL(18,2)", "num_items": "BIGINT",
    "contents": "STRUCT(id VARCHAR, quantity BIGINT, item_price DOUBLE)[]", "store_id": "VARCHAR",
    "delivery_category": "VARCHAR", "em": "VARCHAR", "ph": "VARCHAR", "fn": "VARCHAR", "ln": "VARCHAR", "db": "VARCHAR", "ge": "VARCHAR",
    "ct": "VARCHAR", "st": "VARCHAR", "zp": "VARCHAR", "country": "VARCHAR", "external_id": "VARCHAR",
    "custom_data_json": "VARCHAR", "user_data_json": "VARCHAR",
}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def event_id(order_id: str, event_name: str = "Purchase") -> str:
    return sha(f"{event_name}:{order_id}")


def make_row(n: int, event_time: int, **overrides) -> dict:
    """A valid row for order `o{n}`."""
    order_id = f"o{n}"
    row = {
        "event_id": event_id(order_id), "event_name": "Purchase", "event_time": event_time,
        "action_source": "physical_store", "order_id": order_id, "currency": "USD",
        "value": "30.50", "num_items": 3,
        "contents": [{"id": "p1", "quantity": 2, "item_price": 10.0},
                     {"id": "p2", "quantity": 1, "item_price": 10.5}],
        "store_id": "s1", "delivery_category": "in_store", "em": sha(f"user{n}@example.com"), "ph": sha(f"1650555{n:04d}"),
        "fn": sha("mary"), "ln": None, "db": None, "ge": sha("f"), "ct": None, "st": None,
        "zp": sha("94035"), "country": sha("us"), "external_id": sha(f"amp-{n}"),
    }
    row.update(overrides)
    return row


def create_offline_events(path: str | Path, rows: list[dict] = (), replace: bool = True) -> None:
    """Create analytics.offline_events as a table in the DuckDB file at `path` and add rows."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        con.execute(f"{verb} analytics.offline_events ({cols})")
        insert_rows(con, rows)
    finally:
        con.close()


def insert_rows(con_or_path, rows: list[dict]) -> None:
    if not rows:
        return
    own = not isinstance(con_or_path, duckdb.DuckDBPyConnection)
    con = duckdb.connect(str(con_or_path)) if own else con_or_path
    try:
        placeholders = ", ".join("?" * len(COLUMNS))
        con.executemany(f"INSERT INTO analytics.offline_events VALUES ({placeholders})",
                        [[fixture_value(r, c) for c in COLUMNS] for r in rows])
    finally:
        if own:
            con.close()


def custom_data_json_of(row: dict) -> str | None:
    """What the view's custom_data_json holds for `row`: the custom_data bytes the sync's
    reference writes (sync/events.py build_events + orjson), NULL without currency, value or
    contents (as dbt_project/macros/conversions_api/custom_data_json.sql)."""
    if not row.get("currency") or row.get("value") is None or not row.get("contents"):
        return None
    custom_data = {"currency": row["currency"], "value": float(Decimal(str(row["value"]))),
                   "contents": [without_null_product_fields(item) for item in row["contents"]]}
    for key in ("order_id", "num_items", "delivery_category", "store_id"):
        if row.get(key) is not None:
            custom_data[key] = row[key]
    return orjson.dumps(custom_data).decode()


def without_null_product_fields(item):
    """A contents item as sent: title, brand and category left out when NULL."""
    if not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if v is not None or k not in ("title", "brand", "category")}


def user_data_json_of(row: dict) -> str | None:
    """What the table's user_data_json holds for `row`, as dbt_project/macros/conversions_api/
    user_data_json.sql writes it: the hashed columns' values as they are (not escaped), NULL
    keys left out, em/ph/external_id as one-element arrays; NULL without any identifier."""
    parts = [f'"{key}":["{row[key]}"]' if key in ARRAY_USER_KEYS else f'"{key}":"{row[key]}"'
             for key in USER_DATA_COLUMNS if row.get(key) is not None]
    return "{" + ",".join(parts) + "}" if parts else None


def fixture_value(row: dict, column: str):
    """The row's value of `column`; the two JSON columns as the dbt macros write them unless set."""
    if column == "custom_data_json" and column not in row:
        return custom_data_json_of(row)
    if column == "user_data_json" and column not in row:
        return user_data_json_of(row)
    return row.get(column)


def write_config(directory: Path, duckdb_path: str | Path, endpoint: str, *, name: str = "config.yml",
                 extra_destination: str = "", extra: str = "", token_env: str = "META_ACCESS_TOKEN") -> Path:
    """A config for these tests; the token comes from env var `token_env`."""
    text = textwrap.dedent(f"""\
        name: offline_events
        source:
          type: duckdb
          path: "{duckdb_path}"
          chunk_size: 1000
        cursor:
          lookback: 3d
        destination:
          endpoint: "{endpoint}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('{token_env}') }}}}"
          batch_size: 100
          concurrency: 4
          timeout: {{connect: 2, read: 5}}
          retry: {{max_attempts: 5, base_delay: 0.01, max_delay: 0.05, throttle_base_delay: 0.02, budget_seconds: 5}}
        """)
    if extra_destination:
        # a key given in extra_destination replaces the one above (a YAML key is written once)
        extra_lines = textwrap.dedent(extra_destination).splitlines()
        keys = {line.split(":")[0] + ":" for line in extra_lines if line and not line.startswith(" ")}
        text = "".join(line for line in text.splitlines(keepends=True) if line.strip().split(" ")[0] not in keys
                       or not line.startswith("  ") or line.startswith("    "))
        text += textwrap.indent("\n".join(extra_lines) + "\n", "  ")
    text += textwrap.dedent(extra)
    path = Path(directory) / name
    path.write_text(text)
    return path


def state_rows(warehouse: str | Path, table: str) -> list[dict]:
    """Every row of the sync's state table `capi_sync.<table>` in the DuckDB file, as dicts."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cur = con.execute(f"SELECT * FROM capi_sync.{table}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()
