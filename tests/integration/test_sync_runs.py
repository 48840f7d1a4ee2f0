"""End to end against the real emulator over 127.0.0.1 and a real DuckDB file (no dbt)."""
from __future__ import annotations

import logging
import os
import stat

import duckdb
import orjson
from offline_events_fixture import TOKEN, event_id, insert_rows, make_row, state_rows, write_config

from sync.config import load_config
from sync.emulator import Faults
from sync.errors import EXIT_DESTINATION_REFUSED, EXIT_LOCKED, EXIT_RETRIES_EXHAUSTED, EXIT_SOURCE, LockHeldError
from sync.locking import FileLock
from sync.runner import SyncRun, lock_file_path

DAY = 86400


def run(config_path, **kwargs):
    return SyncRun(load_config(config_path), config_file=str(config_path), **kwargs).run()


def test_first_run_sends_exactly_the_expected_events_second_sends_none(warehouse, emulator, config_path, now):
    rows = [make_row(i, now - 2 * DAY + i * 60) for i in range(250)]
    insert_rows(warehouse, rows)
    summary = run(config_path)
    assert (summary.status, summary.exit_code, summary.events_sent, summary.batches_sent) == ("succeeded", 0, 250, 3)
    accepted = emulator.accepted_events()
    assert [e["event_id"] for e in accepted if True] and sorted(e["event_id"] for e in accepted) == sorted(
        r["event_id"] for r in rows)
    first = next(e for e in accepted if e["event_id"] == event_id("o0"))
    assert first == {"event_name": "Purchase", "event_time": now - 2 * DAY, "event_id": event_id("o0"),
                     "action_source": "physical_store",
                     "user_data": {k: ([rows[0][k]] if k in ("em", "ph", "external_id") else rows[0][k])
                                   for k in ("em", "ph", "fn", "ge", "zp", "country", "external_id")},
                     "custom_data": {"currency": "USD", "value": 30.5, "contents": rows[0]["contents"],
                                     "order_id": "o0", "num_items": 3, "delivery_category": "in_store",
                                     "store_id": "s1"}}
    assert summary.watermark_before is None and summary.watermark_after == now - 2 * DAY + 249 * 60
    assert len(state_rows(warehouse, "sent_events")) == 250
    second = run(config_path)
    assert (second.rows_read, second.events_sent, second.requests) == (0, 0, 0)
    assert second.watermark_before == second.watermark_after == summary.watermark_after
    assert len(emulator.accepted_event_ids()) == 250
    runs = state_rows(warehouse, "sync_runs")
    assert sorted((r["status"], r["events_sent"]) for r in runs) == [("succeeded", 0), ("succeeded", 250)]
    assert state_rows(warehouse, "sync_locks") == []


def test_late_rows_inside_lookback_sent_once(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(i, now - DAY + i) for i in range(10)])
    first = run(config_path)
    # Late arrivals: 2 days behind the watermark (inside the 3-day lookback) and 5 days (outside).
    insert_rows(warehouse, [make_row(100, first.watermark_after - 2 * DAY),
                            make_row(101, first.watermark_after - 5 * DAY)])
    second = run(config_path)
    assert second.events_sent == 1
    third = run(config_path)
    assert third.events_sent == 0
    ids = emulator.accepted_event_ids()
    assert len(ids) == len(set(ids)) == 11
    assert event_id("o100") in ids and event_id("o101") not in ids


def test_skipped_rows_recorded_with_reasons_never_sent(warehouse, emulator, config_path, now):
    good = [make_row(i, now - 3600) for i in range(5)]
    bad = [make_row(10, now - 3600, em="jane@example.com"), make_row(11, now - 3600, currency=None),
           make_row(12, now - 3600, value="0.00"), make_row(13, now + 3600),
           make_row(14, now - 62 * DAY + 600),
           {**make_row(15, now - 3600), **{k: None for k in ("em", "ph", "fn", "ln", "db", "ge", "ct", "st",
                                                             "zp", "country", "external_id")}},
           make_row(16, None), make_row(17, now - 3600, value=None), make_row(18, now - 3600, contents=[])]
    insert_rows(warehouse, good + bad)
    summary = run(config_path)
    assert summary.events_sent == 5
    assert summary.skipped == {"empty_contents": 1, "event_time_in_future": 1, "event_time_too_old": 1,
                               "invalid_hash": 1, "missing_currency": 1, "missing_event_time": 1,
                               "missing_value": 1, "no_customer_identifier": 1, "non_positive_value": 1}
    assert sorted(emulator.accepted_event_ids()) == sorted(r["event_id"] for r in good)
    letters = state_rows(warehouse, "dead_letters")
    assert sorted((d["order_id"], d["stage"], d["reason"]) for d in letters) == sorted([
        ("o10", "check", "invalid_hash"), ("o11", "check", "missing_currency"),
        ("o12", "check", "non_positive_value"), ("o13", "check", "event_time_in_future"),
        ("o14", "check", "event_time_too_old"), ("o15", "check", "no_customer_identifier"),
        ("o16", "check", "missing_event_time"), ("o17", "check", "missing_value"),
        ("o18", "check", "empty_contents")])
    assert "jane@example.com" not in str(letters)
    again = run(config_path)
    assert (again.rows_read, again.skipped, again.dead_lettered) == (0, {}, 0)


def test_duplicate_event_ids_in_one_read(warehouse, emulator, config_path, now):
    row = make_row(1, now - 3600)
    insert_rows(warehouse, [row, {**row, "event_time": now - 1800, "value": "99.00"}, make_row(2, now - 60)])
    summary = run(config_path)
    assert summary.events_sent == 2 and summary.skipped == {"duplicate_event_id": 1}
    assert sorted(emulator.accepted_event_ids()) == sorted([row["event_id"], event_id("o2")])


def test_duplicate_event_ids_in_an_incremental_read(warehouse, emulator, config_path, now):
    """With sent events in the ledger the read anti-joins it: a sent id that gets a second copy
    is not read at all (no duplicate skip), a new id with two copies is sent once."""
    sent = make_row(1, now - 7200)
    insert_rows(warehouse, [sent, make_row(2, now - 7000)])
    assert run(config_path).events_sent == 2
    new = make_row(3, now - 600)
    insert_rows(warehouse, [{**sent, "event_time": now - 500, "value": "99.00"},   # a late copy of a sent event
                            new, {**new, "event_time": now - 300, "value": "12.00"}, make_row(4, now - 60)])
    second = run(config_path)
    assert (second.rows_read, second.events_sent, second.skipped) == (3, 2, {"duplicate_event_id": 1})
    assert sorted(emulator.accepted_event_ids()) == sorted([sent["event_id"], event_id("o2"), new["event_id"],
                                                            event_id("o4")])
    letters = state_rows(warehouse, "dead_letters")
    assert [(d["event_id"], d["reason"], d["message"]) for d in letters] == [
        (new["event_id"], "duplicate_event_id", "event_id occurs 2 times in this read; the first was kept")]


def test_dry_run_sends_nothing_and_writes_the_exact_bodies(warehouse, emulator, config_path, now, tmp_path):
    insert_rows(warehouse, [make_row(i, now - 3600 + i) for i in range(150)] + [make_row(999, now - 60, currency=None)])
    out = tmp_path / "bodies.jsonl"
    summary = run(config_path, dry_run=True, output=str(out))
    assert (summary.events_written, summary.batches_sent, summary.skipped) == (150, 2, {"missing_currency": 1})
    assert emulator.requests == []
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'capi_sync'").fetchone() == (0,)
    con.close()
    bodies = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [len(b["data"]) for b in bodies] == [100, 50]
    real = run(config_path)
    assert real.events_sent == 150
    # the same requests, event for event (batches may be answered in any order: concurrency 4)
    key = lambda events: events[0]["event_id"]  # noqa: E731
    assert sorted((b["data"] for b in bodies), key=key) == sorted(
        (batch.events for batch in emulator.accepted_batches()), key=key)
    assert TOKEN not in out.read_text()


def test_token_never_in_urls_logs_or_state(warehouse, emulator, config_path, now, caplog, capsys, tmp_path):
    caplog.set_level(logging.DEBUG)
    insert_rows(warehouse, [make_row(i, now - 3600) for i in range(30)] + [make_row(50, now - 60, em="raw@x.com")])
    emulator.set_faults(Faults(script=["server_error", "drop"], poison_event_ids={event_id("o3")}))
    run(config_path)
    run(config_path, dry_run=True, output=str(tmp_path / "dry.jsonl"))
    assert len(emulator.requests) > 3 and all(not r.had_token_in_url and r.query_keys == [] for r in emulator.requests)
    assert {r.token_source for r in emulator.requests if r.status} == {"header"}
    captured = capsys.readouterr()
    assert TOKEN not in caplog.text + captured.out + captured.err
    con = duckdb.connect(str(warehouse), read_only=True)
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema='capi_sync'").fetchall():
        assert TOKEN not in str(con.execute(f"SELECT * FROM capi_sync.{table}").fetchall())
    con.close()
    assert TOKEN not in (tmp_path / "dry.jsonl").read_text()


def test_second_concurrent_run_sends_nothing(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(i, now - 3600) for i in range(10)])
    config = load_config(config_path)
    with FileLock(lock_file_path(config.source.path), "test"):
        summary = SyncRun(config).run()
    assert summary.exit_code == EXIT_LOCKED and summary.status == "failed"
    assert "is in progress" in summary.error and "nothing was sent" in summary.error
    assert emulator.requests == []
    assert run(config_path).events_sent == 10   # the lock is free again


def test_stale_lock_row_taken_over(warehouse, emulator, config_path, now, caplog):
    insert_rows(warehouse, [make_row(i, now - 3600) for i in range(3)])
    run(config_path)
    con = duckdb.connect(str(warehouse))
    con.execute("INSERT INTO capi_sync.sync_runs (run_id, sync_name, started_at, status) "
                "VALUES ('dead-run', 'offline_events', now()::TIMESTAMP, 'running')")
    con.execute("INSERT INTO capi_sync.sync_locks VALUES ('offline_events', 'dead-run', 'somehost:999999', "
                "now()::TIMESTAMP, now()::TIMESTAMP, now()::TIMESTAMP + INTERVAL 1 HOUR)")
    con.close()
    caplog.set_level(logging.WARNING)
    insert_rows(warehouse, [make_row(10, now - 60)])
    summary = run(config_path)
    assert summary.exit_code == 0 and summary.events_sent == 1
    assert "taking over a stale lock of sync 'offline_events' from run dead-run" in caplog.text
    assert {r["run_id"]: r["status"] for r in state_rows(warehouse, "sync_runs")}["dead-run"] == "abandoned"


def test_poisoned_events_dead_lettered_every_good_event_delivered(warehouse, emulator, config_path, now):
    rows = [make_row(i, now - 3600 + i) for i in range(300)]
    insert_rows(warehouse, rows)
    poisoned = {rows[7]["event_id"], rows[150]["event_id"], rows[299]["event_id"]}
    emulator.set_faults(Faults(poison_event_ids=poisoned))
    summary = run(config_path)
    assert (summary.exit_code, summary.events_sent, summary.rejected_by_api) == (0, 297, 3)
    assert sorted(emulator.accepted_event_ids()) == sorted({r["event_id"] for r in rows} - poisoned)
    assert summary.watermark_after == now - 3600 + 299
    letters = state_rows(warehouse, "dead_letters")
    assert {d["event_id"] for d in letters} == poisoned
    assert all(d["stage"] == "api" and d["code"] == 100 and 2804000 <= d["error_subcode"] < 2805000
               and d["fbtrace_id"] and d["message"] and d["resolved_at"] is None for d in letters)
    assert summary.requests <= 3 + 3 * 2 * 7
    # After the fix: retry the dead letters; they are delivered and resolved.
    emulator.set_faults(Faults())
    retry = SyncRun(load_config(config_path)).retry_dead_letters()
    assert (retry.exit_code, retry.events_sent, retry.resolved) == (0, 3, 3)
    assert sorted(emulator.accepted_event_ids()) == sorted(r["event_id"] for r in rows)
    assert all(d["resolved_at"] is not None for d in state_rows(warehouse, "dead_letters"))
    assert run(config_path).events_sent == 0


def test_permanent_error_stops_with_the_key_named(warehouse, emulator, config_path, now, monkeypatch):
    insert_rows(warehouse, [make_row(i, now - 3600) for i in range(250)])
    monkeypatch.setenv("META_ACCESS_TOKEN", "tok-WRONG-123456")
    summary = run(config_path)
    assert summary.exit_code == EXIT_DESTINATION_REFUSED and summary.status == "failed"
    assert summary.error.startswith(f"{config_path}: destination.access_token: the access token was refused")
    assert summary.requests <= 4   # no retry storm: one request per batch in flight
    assert state_rows(warehouse, "sent_events") == []
    assert state_rows(warehouse, "sync_watermarks") == []
    (record,) = state_rows(warehouse, "sync_runs")
    assert record["status"] == "failed" and "destination.access_token" in record["error"]


def test_retries_exhausted_commits_what_was_accepted(tmp_path, warehouse, emulator, now, monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    path = write_config(tmp_path, warehouse, emulator.url, name="c1.yml")
    path.write_text(path.read_text().replace("concurrency: 4", "concurrency: 1"))
    rows = [make_row(i, now - 3600 + i) for i in range(500)]
    insert_rows(warehouse, rows)
    emulator.set_faults(Faults(script=["ok", "ok"], server_error_rate=1.0))
    summary = run(path)
    assert summary.exit_code == EXIT_RETRIES_EXHAUSTED
    assert summary.events_sent == 200 and summary.watermark_after == now - 3600 + 199
    assert len(state_rows(warehouse, "sent_events")) == 200
    emulator.set_faults(Faults())
    again = run(path)
    assert again.exit_code == 0 and again.events_sent == 300
    ids = emulator.accepted_event_ids()
    assert len(ids) == len(set(ids)) == 500


def test_missing_column_is_one_line_source_error(warehouse, emulator, config_path):
    con = duckdb.connect(str(warehouse))
    con.execute("ALTER TABLE analytics.offline_events RENAME COLUMN currency TO currency_code")
    con.close()
    summary = run(config_path)
    assert summary.exit_code == EXIT_SOURCE
    assert summary.error.startswith("source.relation: analytics.offline_events has no column 'currency' (has: ")
    assert emulator.requests == []


def test_missing_relation(tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    summary = run(write_config(tmp_path, tmp_path / "empty.duckdb", emulator.url))
    assert summary.exit_code == EXIT_SOURCE
    assert summary.error == (f"source.relation: analytics.offline_events does not exist in {tmp_path / 'empty.duckdb'} "
                             "(run `dbt build` first?)")


def test_full_refresh_resends_everything(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(i, now - 3600) for i in range(20)])
    run(config_path)
    summary = run(config_path, full_refresh=True)
    assert summary.events_sent == 20
    assert len(state_rows(warehouse, "sent_events")) == 20   # the ledger holds each id once
    assert len(emulator.accepted_event_ids()) == 40


def test_lock_file_is_private(warehouse, emulator, config_path, now):
    run(config_path)
    assert stat.S_IMODE(os.stat(lock_file_path(str(warehouse))).st_mode) == 0o600


def test_ledger_pruned_behind_the_lookback(warehouse, emulator, config_path, now):
    insert_rows(warehouse, [make_row(1, now - 10 * DAY), make_row(2, now - 60)])
    summary = run(config_path)
    assert summary.events_sent == 2
    assert [r["event_id"] for r in state_rows(warehouse, "sent_events")] == [event_id("o2")]
    assert run(config_path).events_sent == 0


def test_lock_error_type():
    assert LockHeldError.exit_code == EXIT_LOCKED
