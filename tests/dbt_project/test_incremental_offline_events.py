"""offline_events incremental on DuckDB: after a sequence of daily loads (new orders, late
lines, returns, cancellations, profile changes inside the window, rows leaving the
eligibility window) the incremental relation equals a full rebuild row for row, every column;
an incremental build leaves the rows before its window alone."""
from __future__ import annotations

import datetime as dt
import shutil

import duckdb
from dbt_runner import run_dbt

from tests.support.daily_loads import as_of_var, daily_load, first_load

DAY0 = dt.datetime(2026, 3, 10, 6, 0, 0)
DAILY = ["build", "--selector", "daily"]   # README's daily command
MODELS = ["build", "--resource-type", "seed", "--resource-type", "model"]   # no tests: other files run them


def rows(con: duckdb.DuckDBPyConnection, relation: str, key: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {relation} ORDER BY {key}, profile_fingerprint"
                       if key == "amperity_id" else f"SELECT * FROM {relation} ORDER BY {key}").fetchall()


def test_daily_loads_end_equal_to_a_full_rebuild(tmp_path):
    path = tmp_path / "incremental.duckdb"
    first_load(path, DAY0)
    run_dbt(MODELS, path, tmp_path, {"as_of": as_of_var(DAY0)})

    previous = DAY0
    for day in (1, 2):
        as_of = DAY0 + dt.timedelta(days=day)
        changes = daily_load(path, previous, as_of, day)
        assert all(changes.values()), changes
        if day == 2:
            # a row before the window: the incremental build must not touch it
            with duckdb.connect(str(path)) as con:
                old_id, old_store = con.execute(
                    "SELECT event_id, store_id FROM analytics.offline_events WHERE event_time < ? "
                    "ORDER BY event_time DESC LIMIT 1", [int((previous - dt.timedelta(days=5)).timestamp())]).fetchone()
                con.execute("UPDATE analytics.offline_events SET store_id = 'untouched' WHERE event_id = ?", [old_id])
        build = run_dbt(DAILY if day == 2 else ["run"], path, tmp_path, {"as_of": as_of_var(as_of)})
        assert "ERROR=0" in build.stdout
        previous = as_of

    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT store_id FROM analytics.offline_events WHERE event_id = ?",
                           [old_id]).fetchone() == ("untouched",)
        con.execute("UPDATE analytics.offline_events SET store_id = ? WHERE event_id = ?", [old_store, old_id])

    full = tmp_path / "full.duckdb"
    shutil.copy(path, full)
    run_dbt([*MODELS, "--full-refresh"], full, tmp_path, {"as_of": as_of_var(previous)})

    with duckdb.connect(str(path), read_only=True) as inc, duckdb.connect(str(full), read_only=True) as ref:
        expected = rows(ref, "analytics.offline_events", "event_id")
        assert len(expected) > 1000
        assert rows(inc, "analytics.offline_events", "event_id") == expected
        for model in ("int_customers__normalized", "int_customers__hashed"):
            assert rows(inc, f"analytics.{model}", "amperity_id") == rows(ref, f"analytics.{model}", "amperity_id")
        # stored in cursor order within each build's rows: the newest window was appended last
        newest = inc.execute("SELECT event_time FROM analytics.offline_events").fetchall()
        assert newest[-1][0] == max(t for (t,) in newest)
        # rows that left the eligibility window were deleted: none older than as_of - 62 days
        cutoff = int((previous - dt.timedelta(days=62)).timestamp())
        assert inc.execute("SELECT count(*) FROM analytics.offline_events WHERE event_time <= ?",
                           [cutoff]).fetchone() == (0,)
