"""The Graph API version table and the end-of-life warning (90 days before, and after)."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from offline_events_fixture import TOKEN, create_offline_events, make_row, write_config

from sync.config import load_config
from sync.emulator import ConversionsApiEmulator
from sync.graph_versions import DEFAULT_API_VERSION, VERSIONS, end_of_life, version_warning
from sync.runner import SyncRun


def test_the_table_follows_meta_s_rule_and_the_default_is_the_newest():
    newest = max(VERSIONS, key=lambda v: VERSIONS[v][0])
    assert DEFAULT_API_VERSION == newest == "v26.0" and end_of_life(newest) is None
    # each version ends after the next one was released (Meta: two years after it, give or take days)
    ordered = sorted(VERSIONS, key=lambda v: VERSIONS[v][0])
    for older, newer in zip(ordered, ordered[1:]):
        gap = (VERSIONS[older][1] - VERSIONS[newer][0]).days
        assert 715 <= gap <= 745, older


@pytest.mark.parametrize(("version", "today", "expected"), [
    ("v21.0", dt.date(2026, 10, 22), None),                                        # 91 days before
    ("v21.0", dt.date(2026, 10, 23), "reaches its end of life on 2027-01-21, in 90 days"),
    ("v21.0", dt.date(2027, 1, 21), "reaches its end of life on 2027-01-21, in 0 days"),
    ("v21.0", dt.date(2027, 1, 22), "reached its end of life on 2027-01-21"),
    ("v20.0", dt.date(2026, 12, 7), "reached its end of life on 2026-09-24"),
    ("v12.0", dt.date(2026, 12, 7), "reached its end of life on 2025-05-14"),      # older than the table
    ("v26.0", dt.date(2030, 1, 1), None),                                          # not announced
    ("v99.0", dt.date(2026, 12, 7), None),                                         # newer than the table
])
def test_version_warning(version, today, expected):
    warning = version_warning(version, today)
    if expected is None:
        assert warning is None
    else:
        assert expected in warning and warning.startswith(f"destination.api_version {version} ")
        assert f"set destination.api_version to {DEFAULT_API_VERSION}" in warning


def test_a_run_on_an_ended_version_warns_and_still_sends(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    warehouse = tmp_path / "warehouse.duckdb"
    now = 1796601600   # 2026-12-07 00:00 UTC
    create_offline_events(warehouse, [make_row(1, now - 60)])
    with ConversionsApiEmulator(access_token=TOKEN) as emu:
        config_path = write_config(tmp_path, warehouse, emu.url, extra_destination="api_version: v20.0\n")
        with caplog.at_level(logging.WARNING, logger="capi_sync"):
            summary = SyncRun(load_config(str(config_path)), now=lambda: float(now)).run()
        assert summary.events_sent == 1 and emu.requests[0].path.startswith("/v20.0/")
    assert [r.getMessage() for r in caplog.records if "api_version" in r.getMessage()] == [
        version_warning("v20.0", dt.date(2026, 12, 7))]
