"""The baseline: the same orders as raw rows through the official facebook-business SDK.

Raw rows are the order lines joined to Customer 360, grouped per order and product in
SQL (no normalization, no hashing: that favours the SDK). In Python, per order: the
SDK's `Normalize.normalize_field` normalizes and hashes every customer field (an invalid
value - the SDK raises - is left out, as an integration must do to keep the event), then
UserData / Content / CustomData / Event objects, then per 1,000 events the SDK's own
serialization: `EventRequest.get_params()` (`Event.normalize()` + `json.dumps` per event),
`_top_level_param_json_encode` and the form encoding `requests` applies. No network.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time
import urllib.parse
from typing import Iterator

import duckdb
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.content import Content
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.gender import Gender
from facebook_business.adobjects.serverside.normalize import Normalize
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import _top_level_param_json_encode

BATCH = 1000
PIXEL_ID = "1234567890"

PICK_FIRST_EVENTS = "SELECT order_id FROM {events_table} ORDER BY event_time, event_id LIMIT {limit}"
# What a script without dbt sends: every order with a line placed in its window, from the sources.
PICK_WINDOW = ("SELECT DISTINCT order_id FROM {source}.unified_itemized_transactions "
               "WHERE order_datetime > TIMESTAMP '{since}' AND order_datetime <= TIMESTAMP '{until}'")

RAW_ORDERS_SQL = """
WITH picked AS (
    {picked}
), lines AS (
    SELECT t.order_id, t.amperity_id, t.product_id, t.item_quantity, t.item_revenue,
           t.order_datetime, t.currency
    FROM {source}.unified_itemized_transactions AS t
    WHERE t.order_id IN (SELECT order_id FROM picked)
      AND NOT coalesce(t.is_return, false) AND NOT coalesce(t.is_cancellation, false)
), products AS (
    SELECT order_id, product_id, sum(item_quantity) AS quantity, sum(item_revenue) AS revenue
    FROM lines GROUP BY order_id, product_id
), orders AS (
    SELECT order_id, any_value(amperity_id) AS amperity_id, min(order_datetime) AS order_datetime,
           any_value(currency) AS currency, sum(item_revenue) AS value, sum(item_quantity) AS num_items
    FROM lines GROUP BY order_id
), contents AS (
    SELECT order_id, list({{'id': product_id, 'quantity': quantity,
                           'revenue': CAST(revenue AS DOUBLE)}} ORDER BY product_id) AS contents
    FROM products GROUP BY order_id
)
SELECT o.order_id, epoch(o.order_datetime)::BIGINT AS event_time, o.currency,
       CAST(o.value AS DOUBLE) AS value, o.num_items, c.contents,
       p.email, p.phone, p.given_name, p.surname, p.birthdate, p.gender, p.city, p.state,
       p.postal, p.country, o.amperity_id
FROM orders AS o JOIN contents AS c USING (order_id)
LEFT JOIN {source}.customer_360 AS p ON p.amperity_id = o.amperity_id
ORDER BY o.order_datetime, o.order_id
"""


def read_raw_orders(con: duckdb.DuckDBPyConnection, events_table: str, limit: int,
                    source: str = "amperity") -> list[tuple]:
    """The first `limit` orders of `events_table` (by event_time) as raw joined rows."""
    picked = PICK_FIRST_EVENTS.format(events_table=events_table, limit=int(limit))
    return con.execute(RAW_ORDERS_SQL.format(picked=picked, source=source)).fetchall()


def read_window_orders(con: duckdb.DuckDBPyConnection, since: dt.datetime, until: dt.datetime,
                       source: str = "amperity") -> list[tuple]:
    """The orders with a line placed in (since, until], as raw joined rows, from the sources only."""
    picked = PICK_WINDOW.format(source=source, since=f"{since:%Y-%m-%d %H:%M:%S}", until=f"{until:%Y-%m-%d %H:%M:%S}")
    return con.execute(RAW_ORDERS_SQL.format(picked=picked, source=source)).fetchall()


def _norm(field: str, raw) -> str | None:
    """The SDK's normalization and hashing of one field; None when the SDK refuses it."""
    if raw is None:
        return None
    try:
        return Normalize.normalize_field(field, raw)
    except (TypeError, ValueError):
        return None


def _gender(raw: str | None) -> Gender | None:
    if not raw:
        return None
    first = raw.strip()[:1].lower()
    return Gender.FEMALE if first == "f" else Gender.MALE if first == "m" else None


def sdk_event(row: tuple) -> Event:
    """One raw order row -> an SDK Event (normalized and hashed by the SDK)."""
    (order_id, event_time, currency, value, num_items, contents, email, phone, given_name, surname,
     birthdate, gender, city, state, postal, country, amperity_id) = row
    em, ph = _norm("em", email), _norm("ph", phone)
    user_data = UserData(
        emails=[em] if em else None,
        phones=[ph] if ph else None,
        first_name=_norm("fn", given_name),
        last_name=_norm("ln", surname),
        date_of_birth=_norm("db", birthdate.strftime("%Y%m%d")) if isinstance(birthdate, dt.date) else None,
        gender=_gender(gender),
        city=_norm("ct", city),
        state=_norm("st", state),
        zip_code=_norm("zp", postal),
        country_code=_norm("country", country),
        external_ids=[_norm("external_id", amperity_id)] if amperity_id else None,
    )
    items = [Content(product_id=c["id"], quantity=int(c["quantity"]),
                     item_price=c["revenue"] / c["quantity"] if c["quantity"] else c["revenue"])
             for c in contents]
    currency = currency.strip().lower() if currency and len(currency.strip()) == 3 and currency.strip().isalpha() else "usd"
    custom_data = CustomData(value=value, currency=currency, contents=items, order_id=order_id,
                             num_items=int(num_items) if num_items is not None else None)
    event_id = hashlib.sha256(f"Purchase:{order_id}".encode()).hexdigest()
    return Event(event_name="Purchase", event_time=int(event_time), event_id=event_id,
                 action_source=ActionSource.PHYSICAL_STORE, user_data=user_data, custom_data=custom_data)


def sdk_bodies(rows: list[tuple]) -> Iterator[bytes]:
    """Form-encoded request bodies of up to 1,000 events, as the SDK would POST them."""
    for start in range(0, len(rows), BATCH):
        events = [sdk_event(row) for row in rows[start:start + BATCH]]
        request = EventRequest(pixel_id=PIXEL_ID, events=events)
        params = _top_level_param_json_encode(request.get_params())
        params["access_token"] = "bench-token"
        yield urllib.parse.urlencode(params).encode()


def measure(con: duckdb.DuckDBPyConnection, events_table: str, limit: int) -> dict:
    """Events/s of the SDK path on the first `limit` orders (read timed apart)."""
    t0 = time.perf_counter()
    rows = read_raw_orders(con, events_table, limit)
    t1 = time.perf_counter()
    n_bytes = n_bodies = 0
    for body in sdk_bodies(rows):
        n_bytes += len(body)
        n_bodies += 1
    t2 = time.perf_counter()
    build = t2 - t1
    return {"orders": len(rows), "read_seconds": round(t1 - t0, 3), "build_seconds": round(build, 3),
            "bodies": n_bodies, "body_bytes": n_bytes,
            "events_per_second": round(len(rows) / build, 1) if build else None,
            "events_per_second_with_read": round(len(rows) / (t2 - t0), 1)}


def send_window(duckdb_path: str, endpoint: str, days: float, now: dt.datetime | None = None) -> dict:
    """The SDK script's whole job: read the orders of the last `days` days from the sources,
    build every event with the SDK and POST each batch form-encoded, with `requests` (the
    SDK's own transport), to `endpoint`/v24.0/<pixel>/events. Seconds per phase, events accepted."""
    import requests

    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    t0 = time.perf_counter()
    with duckdb.connect(duckdb_path, read_only=True) as con:
        rows = read_window_orders(con, now - dt.timedelta(days=days), now)
    t1 = time.perf_counter()
    accepted = requests_sent = 0
    with requests.Session() as session:
        session.trust_env = False
        url = f"{endpoint}/v24.0/{PIXEL_ID}/events"
        for body in sdk_bodies(rows):
            answer = session.post(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  timeout=60)
            answer.raise_for_status()
            accepted += answer.json()["events_received"]
            requests_sent += 1
    t2 = time.perf_counter()
    return {"orders": len(rows), "events_accepted": accepted, "requests": requests_sent,
            "read_seconds": round(t1 - t0, 3), "build_and_send_seconds": round(t2 - t1, 3),
            "seconds": round(t2 - t0, 3)}


def main(argv: list[str] | None = None) -> int:
    """python -m bench.sdk_baseline --duckdb-path F --endpoint URL --days 7: one JSON line."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.sdk_baseline")
    parser.add_argument("--duckdb-path", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--days", type=float, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(send_window(args.duckdb_path, args.endpoint, args.days)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
