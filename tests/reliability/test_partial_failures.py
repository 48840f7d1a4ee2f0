"""A batch rejected for bad events is split until they are isolated: every good event is
delivered, the bad ones are dead-lettered with the API's answer, the watermark moves past
them, and `capi-sync dead-letter list` / `retry` show and resend them after a fix."""
from __future__ import annotations

import datetime as dt
import json
import math
import time

from tests.reliability.conftest import cli, insert_generated
from offline_events_fixture import TOKEN, event_id, insert_rows, make_row, state_rows, write_config

from sync.emulator import ConversionsApiEmulator, Faults

DAY = 86400


def test_bad_events_isolated_in_k_log_n_requests_and_dead_lettered(tmp_path, warehouse, now):
    n = 1000
    ids = insert_generated(warehouse, 0, n - 1, f"{now - 3600} + i")
    # Old enough for the API (its clock runs 3 h ahead here) but not for the sync's own check.
    stale_time = now - 62 * DAY + 2 * 3600
    insert_rows(warehouse, [make_row(5000, stale_time)])
    stale = event_id("o5000")
    poisoned = {ids[17], ids[500], ids[998]}
    with ConversionsApiEmulator(access_token=TOKEN, clock=lambda: time.time() + 3 * 3600,
                                faults=Faults(poison_event_ids=poisoned)) as emu:
        path = write_config(tmp_path, warehouse, emu.url)
        path.write_text(path.read_text().replace("batch_size: 100", "batch_size: 1000")
                        .replace("concurrency: 4", "concurrency: 1"))
        started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        result = cli("run", "--config", str(path), "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        bad = poisoned | {stale}
        assert (summary["events_sent"], summary["rejected_by_api"], summary["dead_lettered"]) == (n - 4, 4, 4)
        assert sorted(emu.accepted_event_ids()) == sorted(set(ids) - poisoned)
        # k = 4 bad events among n = 1000: at most 1 + 2k * ceil(log2 n) requests, far fewer than n.
        requests = len(emu.requests)
        assert requests == summary["requests"] and requests <= 1 + 2 * 4 * math.ceil(math.log2(n)), requests
        print(f"\n{n} events, 4 bad: {requests} requests")
        subcodes = {r.error_subcode for r in emu.requests if r.error_code}
        assert subcodes == {2804003, 2804090}
        # The watermark moves past the bad events (the newest row is good and sent).
        assert summary["watermark_after"] == now - 3600 + n - 2
        letters = {d["event_id"]: d for d in state_rows(warehouse, "dead_letters")}
        assert set(letters) == bad
        for eid, d in letters.items():
            assert d["order_id"] == ("o5000" if eid == stale else f"o{ids.index(eid)}")
            assert (d["stage"], d["reason"], d["code"]) == ("api", "invalid_event", 100)
            assert d["error_subcode"] == (2804003 if eid == stale else 2804090)
            assert d["message"].startswith("The event at index 0 of data is invalid")   # isolated: alone
            assert ("62 days" in d["message"]) == (eid == stale)
            assert d["fbtrace_id"] and d["run_id"] == summary["run_id"]
            assert started - dt.timedelta(seconds=5) <= d["recorded_at"] <= started + dt.timedelta(minutes=2)
            assert d["resolved_at"] is None and d["sync_name"] == "offline_events"
        assert d["event_time"] is not None

        listing = cli("dead-letter", "list", "--config", str(path))
        assert listing.returncode == 0
        lines = listing.stdout.splitlines()
        assert len(lines) == 4
        stale_line = next(line for line in lines if line.startswith(stale))
        assert (f"order o5000  event_time {stale_time}  api/invalid_event code 100/2804003 fbtrace_id "
                f"{letters[stale]['fbtrace_id']}") in stale_line and f"(run {summary['run_id']})" in stale_line
        as_json = json.loads(cli("dead-letter", "list", "--config", str(path), "--json").stdout)
        assert {d["event_id"] for d in as_json} == bad

        # A second run sends nothing: the dead letters are not retried by themselves.
        again = json.loads(cli("run", "--config", str(path), "--json").stdout)
        assert (again["events_sent"], again["requests"], again["dead_lettered"]) == (0, 0, 0)

        # The fix: the API no longer refuses them. The stale one stays refused (too old for ever).
        emu.set_faults(Faults())
        retry = cli("dead-letter", "retry", "--config", str(path), "--json")
        assert retry.returncode == 0, retry.stderr
        out = json.loads(retry.stdout)
        assert (out["events_sent"], out["resolved"], out["rejected_by_api"]) == (3, 3, 1)
        assert sorted(emu.accepted_event_ids()) == sorted(ids)
        unresolved = [d for d in state_rows(warehouse, "dead_letters") if d["resolved_at"] is None]
        assert [d["event_id"] for d in unresolved] == [stale]
        assert unresolved[0]["run_id"] == out["run_id"]   # the new failure replaced the old one
        status = cli("status", "--config", str(path))
        assert "dead letters: 1 unresolved" in status.stdout
        every = cli("dead-letter", "list", "--config", str(path), "--all", "--json")
        assert every.returncode == 0 and len(json.loads(every.stdout)) == 4


def test_a_run_with_too_many_rejections_exits_7(tmp_path, warehouse, now):
    """6 of 30 events rejected (20 %, more than max_rejected_share 0.1): the run finishes, the
    rejected events are dead letters, exit 7 with one line and `rejected_share` in --json."""
    ids = insert_generated(warehouse, 0, 30, f"{now - 600} + i")
    with ConversionsApiEmulator(access_token=TOKEN, faults=Faults(poison_event_ids=set(ids[:6]))) as emu:
        path = write_config(tmp_path, warehouse, emu.url)
        result = cli("run", "--config", str(path), "--json")
        assert result.returncode == 7, result.stderr
        summary = json.loads(result.stdout)
        assert (summary["status"], summary["exit_code"], summary["rejected_share"]) == ("succeeded", 7, 0.2)
        alert = ("the API rejected 6 of 30 events (20.0%), more than destination.max_rejected_share (0.1); "
                 "they are dead letters: capi-sync dead-letter list")
        assert summary["alert"] == alert and summary["error"] is None
        assert [line for line in result.stderr.splitlines() if "error:" in line] == [f"capi-sync: error: {alert}"]
        assert sorted(emu.accepted_event_ids()) == sorted(ids[6:])


def test_rejected_share_bounds():
    from sync.runner import RunSummary
    for sent, rejected, limit, code in ((90, 10, 0.1, 0), (89, 11, 0.1, 7), (100, 0, 0.0, 0), (99, 1, 0.0, 7),
                                        (0, 5, 1.0, 0), (0, 0, 0.0, 0)):
        summary = RunSummary("r", "s", events_sent=sent, rejected_by_api=rejected)
        summary.check_rejected_share(limit)
        assert summary.exit_code == code, (sent, rejected, limit)
