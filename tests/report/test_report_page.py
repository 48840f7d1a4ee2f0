"""`capi-sync report` after two real runs against the emulator: the figures (--json) and the
page rendered in headless Chromium show exactly what the emulator received, computed here
from the emulator's events; the page renders with every host name unresolvable."""
from __future__ import annotations

import html
import random
import re
import sys
import time

import orjson
import pytest

sys.path.insert(0, "tests/sync")
from offline_events_fixture import TOKEN, create_offline_events, insert_rows, make_row, write_config  # noqa: E402

from sync.cli import main  # noqa: E402
from sync.config import load_config  # noqa: E402
from sync.emulator import ConversionsApiEmulator, Faults  # noqa: E402
from sync.emulator.graph_errors import REJECTED_EVENT  # noqa: E402
from sync.match_keys import MATCH_KEYS  # noqa: E402
from sync.runner import SyncRun  # noqa: E402
from tests.support.browser import chromium_binary, dump_dom  # noqa: E402
from tests.support.events_oracle import user_data_keys  # noqa: E402


@pytest.fixture(scope="module")
def chromium():
    return chromium_binary()


def _rows(start: int, count: int, now: int, rng: random.Random) -> list[dict]:
    rows = []
    for n in range(start, start + count):
        drop = {key: None for key in MATCH_KEYS if key != "external_id" and rng.random() < 0.3}
        rows.append(make_row(n, now - 3600 - n, **drop))
    rows[3]["currency"] = None   # skipped: missing_currency
    return rows


def _shares_of(events: list[dict]) -> tuple[dict, dict]:
    counts = {key: sum(1 for e in events if key in user_data_keys(e)) for key in MATCH_KEYS}
    return counts, {key: counts[key] / len(events) for key in MATCH_KEYS}


def test_report_shows_what_the_emulator_received(tmp_path, monkeypatch, capsys, chromium):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    now = int(time.time())
    rng = random.Random(25)
    warehouse = tmp_path / "warehouse.duckdb"
    first = _rows(0, 450, now, rng)
    create_offline_events(warehouse, first)
    poisoned = {first[10]["event_id"], first[200]["event_id"]}
    with ConversionsApiEmulator(access_token=TOKEN, faults=Faults(poison_event_ids=poisoned)) as emu:
        config_path = write_config(tmp_path, warehouse, emu.url)
        config = load_config(str(config_path))
        one = SyncRun(config, config_file=str(config_path)).run()
        insert_rows(warehouse, _rows(1000, 230, now, rng))
        two = SyncRun(config, config_file=str(config_path)).run()
        received = emu.accepted_events()
        assert main(["quality", "--config", str(config_path), "--json"]) == 0
        stored = orjson.loads(capsys.readouterr().out)
    assert (one.events_sent, two.events_sent) == (447, 229)
    counts, shares = _shares_of(received)
    assert len(received) == 676 and one.match_keys == _shares_of(received[:447])[0]

    assert main(["report", "--config", str(config_path), "--json"]) == 0
    figures = orjson.loads(capsys.readouterr().out)
    assert figures["match_keys"] == shares          # the same divisions: equal floats
    assert figures["match_key_counts"] == counts and figures["match_key_events"] == 676
    assert figures["totals"] == {"runs": 2, "events_sent": 676, "skipped": 2, "dead_lettered": 4,
                                 "rejected_by_api": 2, "failed_runs": 0}
    assert [r["events_sent"] for r in figures["runs"]] == [447, 229]
    assert figures["skipped_by_reason"] == {"missing_currency": 2}
    assert figures["quality"]["latest"] == stored
    assert [(q["event_name"], q["email_coverage"], q["phone_coverage"], q["match_key_score"]) for q in stored] == [
        ("Purchase", round(100 * shares["em"], 1), round(100 * shares["ph"], 1),
         round(10 * (shares["em"] + shares["ph"]) / 2, 1))]
    assert figures["api_rejections_by_code"] == [{"code": 100, "error_subcode": REJECTED_EVENT, "count": 2}]

    page = tmp_path / "report.html"
    assert main(["report", "--config", str(config_path), "--output", str(page)]) == 0
    text = page.read_text()
    assert TOKEN not in text and not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert not any(row["em"] in text for row in first if row["em"])   # not even a hash
    dom = dump_dom(chromium, page, tmp_path / "profile")
    assert dom.count('class="main-svg"') >= 8    # plotly drew the charts (its script ran offline)
    table = re.search(r'<table id="match-keys">(.*?)</table>', dom, re.S).group(1)
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", table)]
    assert cells == [v for key in MATCH_KEYS for v in (key, str(counts[key]), f"{shares[key] * 100:.1f}%")]
    assert re.search(r"data-figure=\"events sent\"><b>676</b>", dom)
    quality = re.search(r'<table id="quality">(.*?)</table>', dom, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", quality)[5:7] == [str(stored[0]["email_coverage"]),
                                                            str(stored[0]["phone_coverage"])]
    runs = re.search(r'<table id="runs">(.*?)</table>', dom, re.S).group(1)
    rows = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", runs)]
    assert [(r[2], r[4], r[5]) for r in rows[1:]] == [("succeeded", "447", "1"), ("succeeded", "229", "1")]


def test_quality_refusals_name_the_key(tmp_path, monkeypatch, capsys):
    """A wrong token and an unknown dataset: exit 3, one line naming the key; nothing stored."""
    warehouse = tmp_path / "warehouse.duckdb"
    create_offline_events(warehouse, [])
    with ConversionsApiEmulator(access_token=TOKEN, dataset_ids={"42"}) as emu:
        config_path = write_config(tmp_path, warehouse, emu.url)
        monkeypatch.setenv("META_ACCESS_TOKEN", "wrong-token")
        assert main(["quality", "--config", str(config_path)]) == 3
        assert "destination.access_token" in capsys.readouterr().err
        monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
        assert main(["quality", "--config", str(config_path)]) == 3
        err = capsys.readouterr().err
        assert "destination.dataset_id" in err and "2044055" in err and TOKEN not in err
        assert [(r.path, r.token_source, r.had_token_in_url) for r in emu.requests] == [
            ("/v26.0/dataset_quality", "header", False)] * 2
