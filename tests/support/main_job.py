"""What the main job (view -> capi-sync -> Conversions API emulator) must have done, the same
on DuckDB and on BigQuery: the expectations are written from the issues, not from the code."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HASHED = ["em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"]
ARRAY_KEYS = ("em", "ph", "external_id")
MAX_AGE_PHYSICAL_STORE = 62 * 86400
EVENT_TIME_SAFETY_MARGIN = 3600   # docs/sync.md: "62 days for physical_store ... minus a 1-hour safety margin"


def run_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """`capi-sync <args>` as a real process from the repository root."""
    return subprocess.run([str(BIN / "capi-sync"), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def expected_skip_reason(row: dict, now: int) -> str | None:
    """Why the sync must skip this view row (None: it must be sent)."""
    if row["event_time"] < now - MAX_AGE_PHYSICAL_STORE + EVENT_TIME_SAFETY_MARGIN:
        return "event_time_too_old"
    if row["currency"] is None:
        return "missing_currency"
    if row["value"] <= 0:
        return "non_positive_value"
    return None


def run_clock(summary: dict, rows: list[dict], accepted: list[dict], after: int) -> int:
    """The `now` the run checked event times against: some second between its start (the
    run id begins with it) and `after` (taken once the run ended). A row whose age crosses the
    limit within that window is sent or skipped depending on that second, so the second that
    explains the run is used (the latest one when no row decides; the checks below still
    compare every row)."""
    started = int(dt.datetime.strptime(summary["run_id"][:16], "%Y%m%dT%H%M%SZ")
                  .replace(tzinfo=dt.timezone.utc).timestamp())
    # a row is too old from now = event_time + MAX_AGE - MARGIN + 1 on
    flips = sorted({row["event_time"] + MAX_AGE_PHYSICAL_STORE - EVENT_TIME_SAFETY_MARGIN + 1 for row in rows}
                   & set(range(started + 1, after + 1)))
    sent = Counter(e["event_id"] for e in accepted)
    for now in [*reversed(flips), started]:
        if Counter(row["event_id"] for row in rows if expected_skip_reason(row, now) is None) == sent:
            return now
    return after


def expected_event(row: dict) -> dict:
    """The Conversions API event a view row must become."""
    user_data = {}
    for key in HASHED:
        if row[key] is not None:
            user_data[key] = [row[key]] if key in ARRAY_KEYS else row[key]
    return {
        "event_name": row["event_name"],
        "event_time": row["event_time"],
        "event_id": row["event_id"],
        "action_source": row["action_source"],
        "user_data": user_data,
        "custom_data": {
            "currency": row["currency"],
            "value": float(row["value"]),
            "contents": [{k: v for k, v in c.items() if v is not None or k not in ("title", "brand", "category")}
                         for c in row["contents"]],
            "order_id": row["order_id"],
            "num_items": row["num_items"],
            **{k: row[k] for k in ("delivery_category", "store_id") if row.get(k) is not None},
        },
        # Limited Data Use the warehouse set for this customer (docs/warehouse.md)
        **({k: row[k] for k in ("data_processing_options", "data_processing_options_country",
                                "data_processing_options_state") if row[k] is not None}
           if row.get("data_processing_options") else {}),
    }


def check_first_run(emu, rows: list[dict], first: subprocess.CompletedProcess, *, batch_size: int, token: str,
                    min_sendable: int) -> tuple[dict, list[dict], Counter]:
    """The first run sent every sendable view row exactly once, exactly as expected_event
    builds it, skipped the rest with their reasons, and moved the watermark to the last row."""
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    accepted = emu.accepted_events()
    now = run_clock(summary, rows, accepted, int(dt.datetime.now(dt.timezone.utc).timestamp()))
    expected_skips = Counter(r for r in (expected_skip_reason(row, now) for row in rows) if r)
    sendable = [row for row in rows if expected_skip_reason(row, now) is None]
    # the sample data exercises both paths
    assert len(sendable) > min_sendable and expected_skips["non_positive_value"] > 0

    assert Counter(e["event_id"] for e in accepted) == Counter(r["event_id"] for r in sendable)
    by_id = {e["event_id"]: e for e in accepted}
    for row in sendable:
        assert by_id[row["event_id"]] == expected_event(row)

    assert summary["status"] == "succeeded"
    assert summary["rows_read"] == len(rows)
    assert summary["events_sent"] == len(sendable)
    assert summary["batches_sent"] == -(-len(sendable) // batch_size)
    assert summary["skipped"] == dict(expected_skips)
    assert summary["watermark_after"] == max(r["event_time"] for r in rows)
    assert all(not r.had_token_in_url for r in emu.requests)
    assert token not in first.stdout + first.stderr
    return summary, sendable, expected_skips


def check_second_run_and_status(emu, config: Path, env: dict, summary: dict, sendable: list[dict],
                                expected_skips: Counter) -> dict:
    """A second run reads and sends nothing; `status` shows the watermark and both runs."""
    second = run_cli(["run", "--config", str(config), "--json"], env)
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads(second.stdout)
    assert again["events_sent"] == 0 and again["rows_read"] == 0
    assert len(emu.accepted_events()) == len(sendable)

    status = run_cli(["status", "--config", str(config), "--json"], env)
    assert status.returncode == 0, status.stderr[-2000:]
    state = json.loads(status.stdout)
    assert state["watermark"] == summary["watermark_after"]
    assert [r["events_sent"] for r in state["runs"][:2]] == [0, len(sendable)]
    assert [r["status"] for r in state["runs"][:2]] == ["succeeded", "succeeded"]
    assert state["dead_letters"] == sum(expected_skips.values())
    return state
