"""`GET /{version}/dataset_quality?dataset_id=...&fields=offline`: the Dataset Quality API for
offline events, answered from the events the emulator accepted.

The shape is Meta's (docs/emulator.md cites the page): per event name a `composite`,
`match_key` (with `coverage` of email and phone, in percent), `frequency` and `freshness`,
each a score out of 10 with a recommendation. Meta does not publish how it scores; the
emulator's formulas are its own, stated here, so a test can compute the same figures:

- coverage: percent of the events carrying `em` (email) / `ph` (phone);
- match_key = 10 x the mean of the email and phone shares;
- frequency = 10 x the days with uploads among the last 7 / 7;
- freshness = 10 x (1 - the mean upload delay in days / 7), at least 0;
- composite = 0.4 match_key + 0.3 frequency + 0.3 freshness;

over the events received in the last 28 days, each score rounded to one decimal.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict

from sync.emulator import graph_errors as ge

WINDOW_DAYS = 28
UNKNOWN_DATASET = 2044055   # Meta's code for a dataset_id that does not exist (this endpoint)


def _day(seconds: float) -> dt.date:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).date()


class QualityLedger:
    """Per dataset, event name and day received: events, with em, with ph, sum of delays (s)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._days: dict[tuple[str, str], dict[dt.date, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0.0]))

    def add(self, dataset_id: str, events: list, received_at: float) -> None:
        day = _day(received_at)
        with self._lock:
            for event in events:
                if not isinstance(event, dict):
                    continue
                user_data = event.get("user_data") if isinstance(event.get("user_data"), dict) else {}
                cell = self._days[(dataset_id, str(event.get("event_name")))][day]
                cell[0] += 1
                cell[1] += 1 if user_data.get("em") else 0
                cell[2] += 1 if user_data.get("ph") else 0
                event_time = event.get("event_time")
                if isinstance(event_time, int):
                    cell[3] += max(0.0, received_at - event_time)

    def answer(self, dataset_id: str, now: float) -> dict:
        """The `offline` answer for a dataset (an empty list when it received nothing)."""
        today = _day(now)
        window = {today - dt.timedelta(days=d) for d in range(WINDOW_DAYS)}
        week = {today - dt.timedelta(days=d) for d in range(7)}
        offline = []
        with self._lock:
            names = sorted(name for dataset, name in self._days if dataset == dataset_id)
            cells = {name: dict(self._days[(dataset_id, name)]) for name in names}
        for name in names:
            days = {day: cell for day, cell in cells[name].items() if day in window}
            events = sum(c[0] for c in days.values())
            if not events:
                continue
            email, phone = (sum(c[i] for c in days.values()) / events for i in (1, 2))
            delay_days = sum(c[3] for c in days.values()) / events / 86400
            match_key = round(10 * (email + phone) / 2, 1)
            frequency = round(10 * len(week & set(days)) / 7, 1)
            freshness = round(max(0.0, 10 * (1 - delay_days / 7)), 1)
            composite = round(0.4 * match_key + 0.3 * frequency + 0.3 * freshness, 1)
            offline.append({
                "event_name": name,
                "composite": {"score": composite, "recommendation": _advice(composite, "Your offline data quality score")},
                "match_key": {"score": match_key, "recommendation": _advice(match_key, "Send email and phone to raise the match key score"),
                              "coverage": {"email": round(100 * email, 1), "phone": round(100 * phone, 1)}},
                "frequency": {"score": frequency, "recommendation": _advice(frequency, "Share offline data every day")},
                "freshness": {"score": freshness, "recommendation": _advice(freshness, "Send recent conversions sooner")},
            })
        return {"offline": offline}


def _advice(score: float, text: str) -> str:
    return f"{text}: {'good' if score >= 8.5 else 'could be improved'}."


def check_request(method: str, query: dict, known: set[str] | None) -> str:
    """The dataset id a quality request asks for; a Graph error for a bad request."""
    if method != "GET":
        raise ge.unsupported_method(method)
    dataset_id = str(query.get("dataset_id") or "")
    if not dataset_id:
        raise ge.invalid_request("The parameter dataset_id is required")
    if known is not None and dataset_id not in known:
        raise ge.GraphError(http_status=400, code=100, subcode=UNKNOWN_DATASET, type="GraphMethodException",
                            message=f"(#100) The dataset_id '{dataset_id[:100]}' does not exist.")
    return dataset_id
