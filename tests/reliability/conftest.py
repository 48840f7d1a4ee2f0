"""Fault-injection fixtures: real `capi-sync` processes, the real emulator over 127.0.0.1
(in its own `capi-sync emulator` process when a sync gets SIGKILLed), a DuckDB file with
`analytics.offline_events` as a table (tests/sync/offline_events_fixture.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from offline_events_fixture import TOKEN, write_config

from sync.emulator import EmulatorClient

CAPI_SYNC = str(Path(sys.executable).parent / "capi-sync")
ROOT = Path(__file__).resolve().parents[2]
APP_SECRET = "appsecret-SECRET-9d3b71c04e"   # recognizable fake app secret; grepped for in outputs


def sync_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CAPI_SYNC_DEBUG",)}
    env.update({"META_ACCESS_TOKEN": TOKEN, **extra})
    return env


def cli(*args, env_extra=None, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    """Run `capi-sync ARGS` to completion from the repository root."""
    return subprocess.run([CAPI_SYNC, *args], capture_output=True, text=True, env=sync_env(**(env_extra or {})),
                          cwd=ROOT, timeout=timeout, **kwargs)


class EmulatorProcess:
    """`capi-sync emulator --port 0` in its own process, driven through its control API."""

    def __init__(self, *args: str, env_extra: dict | None = None):
        env = sync_env(CAPI_EMULATOR_ACCESS_TOKEN=TOKEN, **(env_extra or {}))
        self.proc = subprocess.Popen([CAPI_SYNC, "emulator", "--port", "0", "--quiet", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()!r}")
        self.url = match.group(1)
        self.client = EmulatorClient(self.url)

    def close(self) -> tuple[str, str]:
        self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, err


@pytest.fixture
def config_path(tmp_path, warehouse, emulator) -> Path:
    return write_config(tmp_path, warehouse, emulator.url)


_ORDER_ROW = """
    sha256('Purchase:o' || i), 'Purchase', {event_time}, 'physical_store', 'o' || i, {currency},
    30.50, 3, [{{'id': 'p1', 'quantity': 2, 'item_price': 10.0}},
               {{'id': 'p2', 'quantity': 1, 'item_price': 10.5}}], 's1', 'in_store',
    sha256('user' || i || '@example.com'), sha256('1650555' || printf('%04d', i)),
    sha256('mary'), NULL, NULL, sha256('f'), NULL, NULL, sha256('94035'), sha256('us'),
    sha256('amp-' || i),
    '{{"currency":' || to_json({currency}) || ',"value":30.5,"contents":[{{"id":"p1","quantity":2,"item_price":10.0}},'
    || '{{"id":"p2","quantity":1,"item_price":10.5}}],"order_id":"o' || i || '","num_items":3,'
    || '"delivery_category":"in_store","store_id":"s1"}}',
    '{{"em":["' || sha256('user' || i || '@example.com') || '"],"ph":["' || sha256('1650555' || printf('%04d', i))
    || '"],"fn":"' || sha256('mary') || '","ge":"' || sha256('f') || '","zp":"' || sha256('94035')
    || '","country":"' || sha256('us') || '","external_id":["' || sha256('amp-' || i) || '"]}}'"""


def _insert(warehouse, select: str) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"INSERT INTO analytics.offline_events {select}")
    finally:
        con.close()


def insert_generated(warehouse, first: int, n: int, event_time_sql: str) -> list[str]:
    """Insert rows equal to offline_events_fixture.make_row(i, t) for i in [first, first+n), fast
    (one SQL statement); `event_time_sql` is an expression of `i`. Returns their event ids."""
    _insert(warehouse, f"SELECT {_ORDER_ROW.format(event_time=event_time_sql, currency=repr('USD'))} "
                       f"FROM range({first}, {first + n}) AS t(i)")
    from offline_events_fixture import event_id
    return [event_id(f"o{i}") for i in range(first, first + n)]


def insert_orders(warehouse, orders: list[tuple[int, int, bool]]) -> None:
    """One SQL statement inserting make_row(n, event_time) for each (n, event_time, has_currency),
    with currency NULL where has_currency is false (make_row(n, t, currency=None))."""
    if not orders:
        return
    values = ", ".join(f"({int(n)}, {int(t)}, {'true' if c else 'false'})" for n, t, c in orders)
    row = _ORDER_ROW.format(event_time="event_time", currency="CASE WHEN has_currency THEN 'USD' END")
    _insert(warehouse, f"SELECT {row} FROM (VALUES {values}) AS t(i, event_time, has_currency)")
