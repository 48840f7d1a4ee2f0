"""The report's figures from one sync's state tables over a period: counts, shares, durations
and scores only (the state holds no customer identifier; no secret is read)."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from sync.errors import InputError
from sync.match_keys import MATCH_KEYS
from sync.state.history import History

DEFAULT_DAYS = 30


def parse_since(text: str | None, now: dt.datetime) -> dt.datetime:
    """--since: a date (YYYY-MM-DD, midnight UTC) or a UTC date and time; default 30 days ago."""
    if text is None:
        return (now - dt.timedelta(days=DEFAULT_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--since: {text!r} is not a date (YYYY-MM-DD) or a date and time "
                         "(YYYY-MM-DDTHH:MM)") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _day(value: dt.datetime | None) -> str | None:
    return None if value is None else value.date().isoformat()


def _shares(counts: dict[str, int], events: int) -> dict[str, float]:
    """Share (0 to 1) of `events` carrying each key; 0 when nothing was sent."""
    return {key: (counts.get(key, 0) / events if events else 0.0) for key in MATCH_KEYS}


def _runs(runs: list[dict]) -> list[dict]:
    out = []
    for run in runs:
        ended = run["ended_at"]
        seconds = (ended - run["started_at"]).total_seconds() if ended and run["started_at"] else None
        out.append({"run_id": run["run_id"], "started_at": run["started_at"], "ended_at": ended,
                    "status": run["status"], "full_refresh": bool(run["full_refresh"]),
                    "rows_read": run["rows_read"] or 0, "events_sent": run["events_sent"] or 0,
                    "skipped": sum(run["skipped"].values()), "dead_lettered": run["dead_lettered"] or 0,
                    "failed": run["failed"] or 0, "seconds": None if seconds is None else round(seconds, 3)})
    return out


def _match_keys(rows: list[dict]) -> tuple[dict, list[dict]]:
    """Over the period (counts, shares) and per day of the runs' end."""
    totals: Counter = Counter()
    per_day: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        day = per_day[_day(row["recorded_at"])]
        for key in ("events", *MATCH_KEYS):
            totals[key] += row[key] or 0
            day[key] += row[key] or 0
    events = totals["events"]
    period = {"events": events, "counts": {key: totals[key] for key in MATCH_KEYS},
              "shares": _shares(totals, events)}
    days = [{"day": day, "events": c["events"], "shares": _shares(c, c["events"])}
            for day, c in sorted(per_day.items())]
    return period, days


def _dead_letters(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(dead letters by stage and reason, API rejections by Graph code and subcode)."""
    by_reason: Counter = Counter()
    by_code: Counter = Counter()
    for row in rows:
        by_reason[(row["stage"], row["reason"])] += row["n"]
        if row["stage"] == "api":
            by_code[(row["code"], row["error_subcode"])] += row["n"]
    reasons = [{"stage": stage, "reason": reason, "count": n}
               for (stage, reason), n in sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))]
    codes = [{"code": code, "error_subcode": subcode, "count": n}
             for (code, subcode), n in sorted(by_code.items(), key=lambda item: (-item[1], str(item[0])))]
    return reasons, codes


def _quality(rows: list[dict]) -> dict:
    """The latest answer of the Dataset Quality API (one row per event name) and every answer."""
    latest_at = max((row["fetched_at"] for row in rows), default=None)
    return {"latest": [row for row in rows if row["fetched_at"] == latest_at], "history": rows}


def report_figures(history: History, sync_name: str, since: dt.datetime | None, now: dt.datetime) -> dict:
    """Every figure of the report: `match_keys` is the share (0 to 1) of the events sent in
    the period that carried each key."""
    raw_runs = history.runs(since)
    runs = _runs(raw_runs)
    period, days = _match_keys(history.match_key_counts(since))
    reasons, codes = _dead_letters(history.dead_letter_counts(since))
    per_day: Counter = Counter()
    for run in runs:
        per_day[_day(run["started_at"])] += run["events_sent"]
    skipped: Counter = Counter()
    for run in raw_runs:
        skipped.update(run["skipped"])
    return {
        "sync_name": sync_name,
        "period": {"since": since, "until": now},
        "totals": {"runs": len(runs), "events_sent": sum(r["events_sent"] for r in runs),
                   "skipped": sum(skipped.values()), "dead_lettered": sum(r["count"] for r in reasons),
                   "rejected_by_api": sum(r["count"] for r in codes),
                   "failed_runs": sum(1 for r in runs if r["status"] in ("failed", "abandoned"))},
        "match_keys": period["shares"],
        "match_key_counts": period["counts"],
        "match_key_events": period["events"],
        "match_keys_per_day": days,
        "events_per_day": [{"day": day, "events": n} for day, n in sorted(per_day.items())],
        "runs": runs,
        "skipped_by_reason": dict(sorted(skipped.items(), key=lambda item: (-item[1], item[0]))),
        "dead_letters_by_reason": reasons,
        "api_rejections_by_code": codes,
        "quality": _quality(history.quality(since)),
    }
