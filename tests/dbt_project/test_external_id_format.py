"""external_id hashed (the default) or as given, end to end: var external_id_format in dbt and
source.external_id in the sync, through the real Conversions API emulator.

One `dbt build` with external_id_format as_given on the fixture set, some customer keys
changed: one padded with whitespace (sent trimmed), one with an accent, one holding a quote
(the mart's test fails the build on it, and the sync never sends it). Then:
(a) sync as_given: the emulator receives external_id ["<the key>"] exactly, every other key hashed;
(b) sync hashed (its default): those events are skipped invalid_hash naming external_id, nothing
    is sent, the dead letters hold them, and once the sync is set to as_given a dead-letter retry
    delivers them;
(c) both defaults (the session's fixture build): external_id is the SHA-256 of the key trimmed
    and lowercased, sent as before, also by a sync set to as_given (a hash is an id it takes).
Plus: an invalid var value stops dbt in one line, and the mart's test and the sync accept
exactly the same ids."""
from __future__ import annotations

import calendar
import hashlib
import re
import textwrap

import duckdb
import pytest
from dbt_runner import compile_with_var, run_dbt
from hypothesis import given, settings
from hypothesis import strategies as st
from test_offline_events import COLUMNS, ORDERS, expected_rows

from sample_data.fixtures import AS_OF, AS_OF_VAR, load_fixtures
from sync.config import load_config
from sync.emulator import ConversionsApiEmulator
from sync.runner import SyncRun
from sync.sources.user_data_check import AS_GIVEN_VALUE
from tests.support.main_job import expected_event, expected_skip_reason

TOKEN = "external-id-token-5c1d"
DATASET_ID = "314159"
AS_OF_UNIX = calendar.timegm(AS_OF.timetuple())
# fixture customer -> its key in this warehouse (every other customer keeps its own, e.g. C001)
KEYS = {"C014": "Zoë·14", "C016": " \tAmp-016 \n", "C004": 'C"004'}
BAD = "O004"   # C004's order (in the window the build's data tests read): its key holds a quote
SENT_AS = {"C016": "Amp-016"}   # trimmed; case and accents kept
HASHED_MESSAGE = "user_data external_id is not a lowercase hex SHA-256; raw personal data is never sent"
AS_GIVEN_MESSAGE = ("user_data external_id is not an id as given (source.external_id: as_given): 1 to 256 "
                    "characters, none a quote, backslash, control character or U+FFFD")


def as_given_id(customer: str) -> str:
    return SENT_AS.get(customer, KEYS.get(customer, customer))


def as_given_rows() -> list[dict]:
    """The exact offline_events rows under as_given: the hashed rows with external_id the key."""
    rows = [dict(zip(COLUMNS, r)) for r in expected_rows()]
    return [{**r, "external_id": as_given_id(ORDERS[r["order_id"]][0])} for r in rows]


@pytest.fixture(scope="module")
def as_given_warehouse(tmp_path_factory):
    work = tmp_path_factory.mktemp("external_id_as_given")
    path = work / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        load_fixtures(con)
        for customer, key in KEYS.items():
            for table in ("customer_360", "unified_itemized_transactions"):
                con.execute(f"update amperity.{table} set amperity_id = ? where amperity_id = ?", [key, customer])
    build = run_dbt(["build", "--select", "+offline_events"], path, work,
                    {"as_of": AS_OF_VAR, "external_id_format": "as_given"}, check=False)
    return work, path, build


def sync_config(work, path, emu, name: str, external_id: str | None) -> str:
    config = work / f"{name}.yml"
    option = f", external_id: {external_id}" if external_id else ""
    config.write_text(textwrap.dedent(f"""\
        name: {name}
        source: {{type: duckdb, path: "{path}", relation: analytics.offline_events{option}}}
        cursor: {{column: event_time, lookback: 3d}}
        destination:
          endpoint: "{emu.url}"
          dataset_id: "{DATASET_ID}"
          access_token: "{{{{ env_var('EXTERNAL_ID_TOKEN') }}}}"
        """))
    return config


def run_sync(config, retry: bool = False):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXTERNAL_ID_TOKEN", TOKEN)
        run = SyncRun(load_config(config), config_file=str(config), now=lambda: AS_OF_UNIX)
        return run.retry_dead_letters() if retry else run.run()


def dead_letters(path, name: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select order_id, stage, reason, message, resolved_at is not null from capi_sync.dead_letters "
                           "where sync_name = ? order by order_id", [name]).fetchall()


def test_the_mart_test_fails_the_build_on_an_id_the_sync_cannot_send(as_given_warehouse):
    _, path, build = as_given_warehouse
    assert build.returncode == 1
    failures = re.findall(r"Failure in (\w+ \S+)", build.stdout)
    assert failures == ["test matches_external_id_format_offline_events_external_id"], build.stdout[-3000:]
    assert "Got 1 result, configured to fail if != 0" in build.stdout
    assert " ERROR=1 SKIP=0 " in build.stdout
    assert "PASS int_customers__normalized::external_id_as_given_is_the_key_trimmed" in build.stdout
    assert "PASS int_customers__hashed::external_id_as_given_is_not_hashed" in build.stdout
    assert "PASS int_customers__hashed::external_id_hashed_like_every_key" in build.stdout
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select {', '.join(COLUMNS)} from analytics.offline_events order by order_id").fetchall()
    assert [dict(zip(COLUMNS, r)) for r in rows] == as_given_rows()


def test_a_as_given_sync_sends_the_key_as_it_is_and_every_other_key_hashed(as_given_warehouse):
    work, path, _ = as_given_warehouse
    rows = as_given_rows()
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}, clock=lambda: AS_OF_UNIX) as emu:
        summary = run_sync(sync_config(work, path, emu, "as_given", "as_given"))
        accepted = sorted(emu.accepted_events(), key=lambda e: e["event_id"])
    sendable = [r for r in rows if expected_skip_reason(r, AS_OF_UNIX) is None and r["order_id"] != BAD]
    assert (summary.exit_code, summary.events_sent, len(sendable)) == (0, 11, 11)
    assert accepted == sorted((expected_event(r) for r in sendable), key=lambda e: e["event_id"])
    by_order = {e["custom_data"]["order_id"]: e["user_data"] for e in accepted}
    assert by_order["O001"]["external_id"] == ["C001"] and by_order["O022"]["external_id"] == ["Amp-016"]
    assert by_order["O020"]["external_id"] == ["Zoë·14"]
    assert by_order["O001"]["em"] == ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"]
    skipped = {r["order_id"]: expected_skip_reason(r, AS_OF_UNIX) for r in rows}
    assert summary.skipped == {"invalid_hash": 1, **{reason: list(skipped.values()).count(reason)
                                                   for reason in set(skipped.values()) - {None}}}
    assert [d for d in dead_letters(path, "as_given") if d[2] == "invalid_hash"] == [
        (BAD, "check", "invalid_hash", AS_GIVEN_MESSAGE, False)]


def test_b_a_hashed_sync_skips_every_raw_id_and_sends_nothing(as_given_warehouse):
    work, path, _ = as_given_warehouse
    rows = as_given_rows()
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}, clock=lambda: AS_OF_UNIX) as emu:
        summary = run_sync(sync_config(work, path, emu, "mismatch", None))
        assert emu.requests == []
        checked = [r for r in rows if expected_skip_reason(r, AS_OF_UNIX) != "event_time_too_old"]
        assert summary.events_sent == 0 and summary.skipped == {"invalid_hash": len(checked), "event_time_too_old": 1}
        letters = [d for d in dead_letters(path, "mismatch") if d[2] == "invalid_hash"]
        assert letters == [(r["order_id"], "check", "invalid_hash", HASHED_MESSAGE, False) for r in checked]
        # the fix: the sync set to as_given, as the warehouse writes it; the retry sends the events
        # the as_given checks let through (BAD stays a dead letter, now with the as_given message)
        retry = run_sync(sync_config(work, path, emu, "mismatch", "as_given"), retry=True)
        accepted = sorted(emu.accepted_events(), key=lambda e: e["event_id"])
    sendable = [r for r in checked if expected_skip_reason(r, AS_OF_UNIX) is None and r["order_id"] != BAD]
    assert (retry.exit_code, retry.events_sent) == (0, len(sendable))
    assert accepted == sorted((expected_event(r) for r in sendable), key=lambda e: e["event_id"])


def test_switching_the_var_rehashes_every_customer_and_the_window(as_given_warehouse, tmp_path):
    """An incremental build with the var switched back to hashed (no --full-refresh): every
    customer is re-hashed (the format is in the profile fingerprint), the rows of
    offline_events' window are recomputed, the older rows keep the key as given."""
    _, built, _ = as_given_warehouse
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(built.read_bytes())
    run_dbt(["build", "--select", "+offline_events"], path, tmp_path, {"as_of": AS_OF_VAR})
    with duckdb.connect(str(path), read_only=True) as con:
        customers = dict(con.execute("select amperity_id, external_id from analytics.int_customers__hashed").fetchall())
        events = dict(con.execute("select order_id, external_id from analytics.offline_events").fetchall())
    assert len(customers) == 16 and customers == {
        key: hashlib.sha256(key.strip().lower().encode()).hexdigest() for key in customers}
    window_start = max(r["event_time"] for r in as_given_rows()) - 3 * 86400
    assert events == {r["order_id"]: (customers[KEYS.get(ORDERS[r["order_id"]][0], ORDERS[r["order_id"]][0])]
                                      if r["event_time"] >= window_start else r["external_id"]) for r in as_given_rows()}
    assert sorted(o for o, v in events.items() if len(v) == 64) == ["O001", "O002", "O003", "O004", "O016"]


@pytest.mark.parametrize("external_id", [None, "as_given"])
def test_c_default_warehouse_sends_the_hash_of_the_trimmed_lowercased_key(fixture_warehouse, tmp_path, external_id):
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(fixture_warehouse["path"].read_bytes())
    rows = [dict(zip(COLUMNS, r)) for r in expected_rows()]
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={DATASET_ID}, clock=lambda: AS_OF_UNIX) as emu:
        summary = run_sync(sync_config(tmp_path, path, emu, "default", external_id))
        accepted = sorted(emu.accepted_events(), key=lambda e: e["event_id"])
    sendable = [r for r in rows if expected_skip_reason(r, AS_OF_UNIX) is None]
    assert (summary.exit_code, summary.events_sent, len(sendable)) == (0, 12, 12)
    assert accepted == sorted((expected_event(r) for r in sendable), key=lambda e: e["event_id"])
    assert {e["custom_data"]["order_id"]: e["user_data"]["external_id"] for e in accepted}["O001"] == [
        hashlib.sha256(b"c001").hexdigest()]


def test_an_invalid_var_value_stops_the_build_in_one_line(tmp_path):
    result, path = compile_with_var("int_customers__hashed", "external_id_format", "sha256", tmp_path)
    assert result.returncode != 0
    assert "var external_id_format must be 'hashed' or 'as_given', got 'sha256'" in result.stdout
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from information_schema.tables").fetchone() == (0,)


@pytest.fixture(scope="module")
def dbt_pattern(as_given_warehouse):
    """The as_given pattern of the mart's test, as the build compiled it for DuckDB, and a connection."""
    work, _, _ = as_given_warehouse
    compiled = next((work / "target" / "compiled").rglob("matches_external_id_format_offline_events_external_id.sql"))
    (literal,) = re.findall(r"regexp_full_match\(external_id, '(.*)'\)", compiled.read_text())
    with duckdb.connect() as con:
        yield literal.replace("''", "'"), con


_IDS = st.text(st.sampled_from(['a', 'Z', '0', ' ', 'é', '·', '"', '\\', '\x00', '\x1f', '\x7f', '\t', '\ufffd',
                                '\u00a0', '\U0001f600']), max_size=6) | st.builds(lambda n, c: c * n,
                                                                                  st.integers(250, 260),
                                                                                  st.sampled_from(['a', 'é']))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_IDS, min_size=1, max_size=20))
def test_the_mart_test_and_the_sync_accept_exactly_the_same_ids(dbt_pattern, values):
    pattern, con = dbt_pattern
    sync_accepts = [re.fullmatch(AS_GIVEN_VALUE, v) is not None for v in values]
    dbt_accepts = [r[0] for r in con.execute(
        "select regexp_full_match(v, ?) from unnest(?::varchar[]) with ordinality as t(v, i) order by i",
        [pattern, values]).fetchall()]
    assert dbt_accepts == sync_accepts, values
