"""Fuzz: generated view rows (cursor values in the future, in milliseconds, negative, beyond any
date, NULL; NULLs and odd text in every column) inserted in rounds, each round followed by
`capi-sync run` through the command line (`sync.cli.main`, tests/reliability/fuzz_support.py)
against the emulator. The cursor is `event_time`, or a separate `updated_at` column.

After every run: a documented exit code, no traceback, no internal error; every row the run
could read (its cursor NULL or at or after the read's lower bound) is in the ledger or a dead
letter (a counted skip is one); the ledger is exactly what the API accepted, nothing accepted
twice; the watermark is never ahead of the run's clock. At the end `status` and
`dead-letter list` work. CAPI_FUZZ_EXAMPLES sets the number of sequences (default 25)."""
from __future__ import annotations

import json
import os
import time

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reliability.fuzz_support import CASES_RUN, assert_clean, run_cli
from offline_events_fixture import COLUMNS, TOKEN, event_id, fixture_value, make_row, sha, write_config

from sync.events import MAX_AGE_PHYSICAL_STORE

EXAMPLES = int(os.environ.get("CAPI_FUZZ_EXAMPLES_ROWS", os.environ.get("CAPI_FUZZ_EXAMPLES", "25")))
DAY = 86400
LOOKBACK = 3 * DAY
INT64_MAX = 2 ** 63 - 1
READ_FLOOR_AGE = MAX_AGE_PHYSICAL_STORE + DAY   # an event_time cursor never reads older rows


def cursor_values(now: int):
    """A cursor value relative to the run's clock: mostly recent, else one of the hostile kinds."""
    recent = st.integers(now - DAY, now)
    return st.one_of(recent, recent, recent, st.integers(now + 1, now + 60), st.integers(now + 61, now + 30 * DAY),
                     st.integers(now - DAY, now).map(lambda t: t * 1000), st.integers(2 ** 40, INT64_MAX),
                     st.integers(-2 ** 40, -1), st.just(0), st.none(), st.integers(now - 90 * DAY, now - 63 * DAY))


odd_text = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
                     st.sampled_from(["", " ", '"', "\\", "\x00", "é", "\u2028", "NaN"]))


@st.composite
def rows(draw, now: int, first: int):
    """1-10 rows for orders first, first+1, ...: valid ones with some columns replaced."""
    out = []
    for n in range(first, first + draw(st.integers(1, 10))):
        row = make_row(n, draw(st.integers(now - DAY, now)))
        row["updated_at"] = draw(cursor_values(now))
        row["event_time"] = draw(cursor_values(now))
        for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
            column = draw(st.sampled_from(sorted(set(COLUMNS) - {"event_time"})))
            choices = {
                "event_id": st.one_of(st.none(), odd_text, st.just(event_id(f"o{first}"))),
                "value": st.sampled_from([None, "0", "-1.00", "0.01", "9999999999999999.99"]),
                "num_items": st.one_of(st.none(), st.integers(-2 ** 63, INT64_MAX)),
                "contents": st.sampled_from([None, [], [{"id": None, "quantity": None, "item_price": None}],
                                             [{"id": "é\"\\", "quantity": -1, "item_price": 1e300}]]),
                "em": st.sampled_from([None, "Jane@Example.com", sha("x").upper(), sha("x")[:63]]),
                # the event's objects are dbt's (from the columns above), or missing
                "custom_data_json": st.none(), "user_data_json": st.none(),
            }.get(column, st.one_of(st.none(), odd_text))
            row[column] = draw(choices)
        out.append(row)
    return out


def create_table(path) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA analytics")
        cols = ", ".join(f'"{c}" {t}' for c, t in {**COLUMNS, "updated_at": "BIGINT"}.items())
        con.execute(f"CREATE TABLE analytics.offline_events ({cols})")
    finally:
        con.close()


def insert(path, new_rows: list[dict]) -> None:
    names = [*COLUMNS, "updated_at"]
    # the JSON columns as dbt writes them from the row's columns, unless the row sets them
    values = [[fixture_value(row, c) for c in names] for row in new_rows]
    con = duckdb.connect(str(path))
    try:
        columns = ", ".join(f'"{c}"' for c in names)
        con.executemany(f"INSERT INTO analytics.offline_events ({columns}) VALUES ({', '.join('?' * len(names))})",
                        values)
    finally:
        con.close()


def state(path, sync_name: str = "offline_events") -> tuple[list[str], set[str], int | None]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        ledger = [r[0] for r in con.execute("SELECT event_id FROM capi_sync.sent_events WHERE sync_name = ?",
                                            [sync_name]).fetchall()]
        letters = {r[0] for r in con.execute("SELECT event_id FROM capi_sync.dead_letters WHERE sync_name = ? "
                                             "AND resolved_at IS NULL AND event_id IS NOT NULL", [sync_name]).fetchall()}
        watermark = con.execute("SELECT max(watermark) FROM capi_sync.sync_watermarks WHERE sync_name = ?",
                                [sync_name]).fetchone()[0]
    finally:
        con.close()
    return ledger, letters, watermark


def readable(row: dict, column: str, watermark: int | None, now: int) -> bool:
    """Whether a run with this watermark reads the row (docs/sync.md: the read)."""
    cursor = row[column]
    if cursor is None:
        return True
    lower = None if watermark is None else watermark - LOOKBACK
    if column == "event_time":
        lower = max(lower or 0, now - READ_FLOOR_AGE) if lower is not None else now - READ_FLOOR_AGE
    return lower is None or cursor >= lower


def test_generated_rows(tmp_path_factory, emulator):
    folder = tmp_path_factory.mktemp("fuzz-rows")
    now = int(time.time())

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def case(data):
        CASES_RUN["rows"] += 1
        case_dir = folder / f"case{CASES_RUN['rows']}"
        case_dir.mkdir()
        warehouse = case_dir / "warehouse.duckdb"
        create_table(warehouse)
        column = data.draw(st.sampled_from(["event_time", "updated_at"]), "cursor")
        config = write_config(case_dir, warehouse, emulator.url)
        config.write_text(config.read_text().replace("cursor:\n", f"cursor:\n  column: {column}\n", 1))
        emulator.reset()
        inserted: list[dict] = []
        for round_ in range(data.draw(st.integers(1, 3), "rounds")):
            new = data.draw(rows(now, 1000 * round_), "rows")
            insert(warehouse, new)
            inserted += new
            watermark_before = state(warehouse)[2] if round_ else None
            outcome = run_cli("run", "--config", str(config), "--json", env={"META_ACCESS_TOKEN": TOKEN})
            run_clock_bound = int(time.time())   # the run read its clock inside run_cli: at most this
            assert_clean(outcome, secrets=(TOKEN,))
            assert outcome.code in (0, 7), outcome.stderr
            summary = json.loads(outcome.stdout)
            assert summary["dead_lettered"] == summary["rejected_by_api"] + sum(summary["skipped"].values())
            ledger, letters, watermark = state(warehouse)
            accepted = emulator.accepted_event_ids()
            assert len(accepted) == len(set(accepted)), "an event accepted twice"
            assert sorted(ledger) == sorted(accepted)
            assert watermark is None or 0 <= watermark <= run_clock_bound, watermark
            handled = set(ledger) | letters
            for row in inserted:
                if row["event_id"] and readable(row, column, watermark_before, run_clock_bound):
                    assert row["event_id"] in handled, (row, column, watermark_before)
        for args in (("status", "--json"), ("dead-letter", "list", "--json", "--all")):
            outcome = run_cli(*args, "--config", str(config), env={"META_ACCESS_TOKEN": TOKEN})
            assert_clean(outcome)
            assert outcome.code == 0

    case()
    print(f"\nrows fuzz: {CASES_RUN['rows']} generated sequences of 1-3 rounds of rows, each round one run")
