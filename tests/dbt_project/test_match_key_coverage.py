"""offline_events__match_key_coverage_daily on the fixture set: each day's events and shares,
computed here from offline_events' rows."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

KEYS = ["em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id"]


def test_daily_coverage_equals_the_view_counted_by_day(fixture_db, fixture_warehouse):
    assert ("PASS offline_events__match_key_coverage_daily::match_key_coverage_is_the_share_of_each_day"
            in fixture_warehouse["build"].stdout)
    rows = fixture_db.execute(f"SELECT event_time, {', '.join(KEYS)} FROM analytics.offline_events").fetchall()
    days: dict[dt.date, list] = defaultdict(list)
    for event_time, *values in rows:
        days[dt.datetime.fromtimestamp(event_time, dt.timezone.utc).date()].append(values)
    expected = [(day, len(events), *(sum(v[i] is not None for v in events) / len(events) for i in range(len(KEYS))))
                for day, events in sorted(days.items())]
    got = fixture_db.execute(f"SELECT event_date, events, {', '.join(k + '_coverage' for k in KEYS)} "
                             "FROM analytics.offline_events__match_key_coverage_daily ORDER BY event_date").fetchall()
    assert got == expected and sum(r[1] for r in got) == 16 and len(got) > 1
