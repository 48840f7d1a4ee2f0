"""Bad input in the view (a recorded skip with its reason, never sent, nothing lost) and in
the config (one error line naming the key, non-zero exit, no traceback). Real processes."""
from __future__ import annotations

import json
import socket

import duckdb
import pytest
from tests.reliability.conftest import cli, insert_generated
from offline_events_fixture import COLUMNS, TOKEN, event_id, insert_rows, make_row, sha, state_rows, write_config

from sync.state.duckdb import DDL

DAY = 86400
USER_KEYS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")
# What a NULL in each column does: a skip reason, or None when the event is sent without it.
NULL_OUTCOME = {"event_id": "missing_event_id", "event_name": "missing_event_name",
                "event_time": "missing_event_time", "action_source": "invalid_action_source",
                "order_id": None, "currency": "missing_currency", "value": "missing_value", "num_items": None,
                "contents": "empty_contents", "store_id": None, "delivery_category": None,
                **{k: None for k in USER_KEYS},
                # the event's two objects as dbt writes them, sent as written
                "custom_data_json": "missing_custom_data", "user_data_json": "no_customer_identifier"}


def one_error_line(result) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("capi-sync: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_rows_are_skipped_with_their_reason(warehouse, emulator, config_path, now):
    assert set(NULL_OUTCOME) == set(COLUMNS)
    rows, expected_skip, expected_sent = [], {}, set()
    for n, column in enumerate(COLUMNS):          # a NULL in every column, one row each
        rows.append({**make_row(n, now - 3600 + n), column: None})
        (expected_skip.__setitem__(f"o{n}", NULL_OUTCOME[column]) if NULL_OUTCOME[column]
         else expected_sent.add(f"o{n}"))
    cases = {   # order number -> (overrides, reason)
        100: ({"em": "Jane.Doe@Example.com"}, "invalid_hash"),             # a raw email
        101: ({"ph": "+1 650 555 1234"}, "invalid_hash"),                  # a raw phone
        102: ({"fn": sha("mary").upper()}, "invalid_hash"),                # upper-case hex
        103: ({"zp": sha("94035")[:63]}, "invalid_hash"),                  # 63 hex digits
        104: ({"external_id": "amp-104"}, "invalid_hash"),                 # unhashed external id
        105: ({"event_time": now + 3600}, "event_time_in_future"),
        106: ({"event_time": now - 62 * DAY + 600}, "event_time_too_old"),  # beyond the API's window
        107: ({"event_time": now - 8 * DAY, "action_source": "website"}, "event_time_too_old"),
        108: ({"value": "0.00"}, "non_positive_value"),
        109: ({"value": "-12.50"}, "non_positive_value"),
        110: ({"currency": None}, "missing_currency"),
        111: ({**{k: None for k in USER_KEYS}}, "no_customer_identifier"),
    }
    for n, (overrides, reason) in cases.items():
        rows.append({**make_row(n, now - 1800 + n), **overrides})
        expected_skip[f"o{n}"] = reason
    big = make_row(200, now - 1200, contents=[{"id": f"sku{i:05d}", "quantity": 1, "item_price": 1.25}
                                              for i in range(5000)], num_items=5000, value="6250.00")
    dup_first = make_row(201, now - 1100)
    dup_second = {**dup_first, "event_time": now - 1000, "value": "99.00"}
    rows += [big, dup_first, dup_second] + [make_row(300 + i, now - 900 + i) for i in range(20)]
    expected_sent |= {"o200", "o201"} | {f"o{300 + i}" for i in range(20)}
    insert_rows(warehouse, rows)

    result = cli("run", "--config", str(config_path), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    reasons = {}
    for reason in [*expected_skip.values(), "duplicate_event_id"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert summary["skipped"] == dict(sorted(reasons.items()))
    accepted = {e["custom_data"].get("order_id") or e["event_id"]: e for e in emulator.accepted_events()}
    # NULL order_id: sent without custom_data.order_id (keyed here by its event id)
    null_order = f"o{list(COLUMNS).index('order_id')}"
    assert set(accepted) == (expected_sent - {null_order}) | {event_id(null_order)}
    assert len(emulator.accepted_event_ids()) == len(expected_sent)            # each sent once
    assert "order_id" not in accepted[event_id(null_order)]["custom_data"]
    assert "num_items" not in accepted[f"o{list(COLUMNS).index('num_items')}"]["custom_data"]
    for key in USER_KEYS:
        assert key not in accepted[f"o{list(COLUMNS).index(key)}"]["user_data"]
    assert len(accepted["o200"]["custom_data"]["contents"]) == 5000
    assert accepted["o201"]["custom_data"]["value"] == 30.5             # the first of the duplicates
    letters = state_rows(warehouse, "dead_letters")
    got = {(d["order_id"], d["reason"]) for d in letters}
    assert got == {(o, r) for o, r in expected_skip.items()} | {("o201", "duplicate_event_id")}
    assert all(d["stage"] == "check" and d["message"] for d in letters)
    text = str(letters) + result.stdout + result.stderr
    assert "Jane.Doe@Example.com" not in text and "+1 650 555 1234" not in text   # no raw personal data
    # Nothing lost: the next run finds nothing new; only the row without an event_id is read
    # (it cannot be excluded by id) and stays ONE dead letter.
    again = json.loads(cli("run", "--config", str(config_path), "--json").stdout)
    assert (again["events_sent"], again["skipped"]) == (0, {"missing_event_id": 1})
    assert len(state_rows(warehouse, "dead_letters")) == len(letters)


@pytest.mark.parametrize("change", ["rename", "drop"])
def test_renamed_or_missing_column_is_one_line(warehouse, emulator, config_path, now, change):
    insert_rows(warehouse, [make_row(1, now - 60)])
    con = duckdb.connect(str(warehouse))
    con.execute("ALTER TABLE analytics.offline_events RENAME COLUMN value TO order_value" if change == "rename"
                else "ALTER TABLE analytics.offline_events DROP COLUMN user_data_json")
    con.close()
    result = cli("run", "--config", str(config_path))
    assert result.returncode == 6
    column = "value" if change == "rename" else "user_data_json"
    assert one_error_line(result).startswith(
        f"capi-sync: error: source.relation: analytics.offline_events has no column '{column}' (has: ")
    assert emulator.requests == []


MEMORY_HINT = {
    "offline_events": "raise source.memory_limit, now 4MB, or lower source.chunk_size, now 20000",
    # a view is evaluated whole: the page size does not help
    "offline_events_view": "raise source.memory_limit, now 4MB; a view is evaluated whole at every read, so at "
                           "millions of orders build offline_events as a table",
}


@pytest.mark.parametrize("relation", list(MEMORY_HINT))
def test_a_memory_limit_too_small_is_one_line_naming_what_to_change(warehouse, emulator, config_path, now, relation):
    ids = insert_generated(warehouse, 0, 3000, f"{now - 7200} + i")
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE VIEW analytics.offline_events_view AS SELECT * FROM analytics.offline_events")
    con.close()
    text = config_path.read_text().replace("chunk_size: 1000", f"chunk_size: 20000\n  relation: analytics.{relation}"
                                                                "\n  memory_limit: 4MB")
    config_path.write_text(text)
    result = cli("run", "--config", str(config_path))
    assert result.returncode == 6
    line = one_error_line(result)
    assert line.startswith(f"capi-sync: error: source.relation: reading analytics.{relation} failed: "
                           "Out of Memory Error: ")
    assert line.endswith(f"(DuckDB ran out of memory: {MEMORY_HINT[relation]}; docs/sync.md, Memory)")
    assert emulator.requests == []
    # Nothing lost: with room, the next run sends every event, once.
    config_path.write_text(text.replace("memory_limit: 4MB", "memory_limit: 256MB"))
    summary = json.loads(cli("run", "--config", str(config_path), "--json").stdout)
    assert (summary["status"], summary["events_sent"]) == ("succeeded", 3000)
    assert sorted(emulator.accepted_event_ids()) == sorted(ids)


def test_a_ledger_that_cannot_be_written_fails_the_run_in_one_line_and_loses_nothing(tmp_path, warehouse, emulator,
                                                                                    now):
    ids = insert_generated(warehouse, 0, 1000, f"{now - 7200} + i")
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA capi_sync")
    for table, columns in DDL.items():
        if table == "sent_events":   # a ledger that refuses every row
            columns = columns.replace("event_id VARCHAR NOT NULL", "event_id VARCHAR NOT NULL CHECK (length(event_id) < 5)")
        con.execute(f"CREATE TABLE capi_sync.{table} ({columns})")
    con.close()
    config = write_config(tmp_path, warehouse, emulator.url, extra="state:\n  checkpoint_every_batches: 2\n")
    result = cli("run", "--config", str(config), "--json")
    assert result.returncode == 6
    line = one_error_line(result)
    assert line.startswith("capi-sync: error: state: could not record a checkpoint of ")
    # DuckDB 2.x quotes the table's name in the message, 1.x does not.
    assert line.replace('"sent_events"', "sent_events").endswith(
        " sent events: Constraint Error: CHECK constraint failed on table sent_events with "
        "expression CHECK((length(event_id) < 5))")
    summary = json.loads(result.stdout)   # the summary is printed all the same
    assert (summary["status"], summary["exit_code"], summary["watermark_after"]) == ("failed", 6, None)
    assert summary["error"] == line.removeprefix("capi-sync: error: ")
    sent = emulator.accepted_event_ids()
    assert sent and set(sent) <= set(ids)
    assert state_rows(warehouse, "sent_events") == [] and state_rows(warehouse, "sync_watermarks") == []
    # Nothing lost: with the ledger fixed, the next run sends every event (those already sent
    # again, with the same event_id) and records them.
    con = duckdb.connect(str(warehouse))
    con.execute("DROP TABLE capi_sync.sent_events")
    con.close()
    again = json.loads(cli("run", "--config", str(config), "--json").stdout)
    assert (again["status"], again["events_sent"]) == ("succeeded", 1000)
    assert sorted(r["event_id"] for r in state_rows(warehouse, "sent_events")) == sorted(ids)


def config_text(warehouse, url, **replace) -> str:
    import textwrap
    return textwrap.dedent(f"""\
        name: offline_events
        source:
          type: duckdb
          path: "{warehouse}"
        destination:
          endpoint: "{url}"
          dataset_id: "1234567890"
          access_token: "{{{{ env_var('META_ACCESS_TOKEN') }}}}"
          batch_size: 100
          retry: {{max_attempts: 3, base_delay: 0.01, max_delay: 0.02, budget_seconds: 1}}
        """)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CONFIG_CASES = {
    "malformed YAML": (lambda t: t.replace("  batch_size: 100", "  batch_size: [100"), 2,
                       "{file}: line "),
    "unknown key": (lambda t: t.replace("batch_size: 100", "batchsize: 100"), 2,
                    "{file}: destination.batchsize: unknown key (did you mean 'batch_size'?)"),
    "wrong type": (lambda t: t.replace("batch_size: 100", "batch_size: lots"), 2,
                   "{file}: destination.batch_size: must be a whole number (got 'lots')"),
    "wrong type of a section": (lambda t: t.replace("  retry: {", "  retry: 5\n  x: {"), 2,
                                "{file}: destination.retry: must be a mapping of keys (got 5)"),
    "missing env var": (lambda t: t.replace("env_var('META_ACCESS_TOKEN')", "env_var('CAPI_TEST_UNSET_VAR')"), 2,
                        "{file}: destination.access_token: environment variable CAPI_TEST_UNSET_VAR is not set"),
    "malformed dataset id": (lambda t: t.replace('dataset_id: "1234567890"', 'dataset_id: "pixel-12"'), 2,
                             "{file}: destination.dataset_id: must be the dataset (pixel) id, digits only "
                             "(got 'pixel-12')"),
    "token written in the file": (lambda t: t.replace("{{ env_var('META_ACCESS_TOKEN') }}", TOKEN), 2,
                                  "{file}: destination.access_token: must not be written in the file"),
    "unreachable endpoint": (lambda t: t.replace('endpoint: "URL"', f'endpoint: "http://127.0.0.1:{free_port()}"'),
                             4, "{file}: destination.endpoint: gave up after 3 attempts: connection to "
                                "http://127.0.0.1:"),
    "wrong token": (None, 3, "{file}: destination.access_token: the access token was refused"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_error_is_one_line(tmp_path, warehouse, emulator, now, case):
    insert_rows(warehouse, [make_row(1, now - 60)])
    edit, code, message = CONFIG_CASES[case]
    text = config_text(warehouse, "URL" if case == "unreachable endpoint" else emulator.url)
    path = tmp_path / "bad.yml"
    path.write_text(edit(text) if edit else text)
    env = {"META_ACCESS_TOKEN": "tok-WRONG-0000"} if case == "wrong token" else None
    result = cli("run", "--config", str(path), env_extra=env)
    assert result.returncode == code, result.stderr
    line = one_error_line(result)
    assert line.startswith("capi-sync: error: " + message.format(file=path)), line
    assert TOKEN not in result.stdout + result.stderr and "tok-WRONG-0000" not in result.stdout + result.stderr
    assert emulator.accepted_event_ids() == []
    if code == 2:
        assert emulator.requests == [] and result.stdout == ""
    assert cli("status", "--config", str(path), env_extra=env).returncode == (code if code == 2 else 0)
