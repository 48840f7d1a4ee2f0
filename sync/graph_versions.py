"""Graph API versions: when each was released and until when Meta serves it (docs/sync.md);
from the "Versions" table of Meta's Graph API changelog (SOURCE), read 2026-12-06."""
from __future__ import annotations

import datetime as dt
import re

SOURCE = "https://developers.facebook.com/docs/graph-api/changelog/versions/"
WARN_DAYS = 90   # a run warns this many days before a version's end of life, and after it

# version: (released, available until; None = not announced yet)
VERSIONS: dict[str, tuple[dt.date, dt.date | None]] = {
    "v26.0": (dt.date(2026, 7, 29), None),
    "v25.0": (dt.date(2026, 2, 18), dt.date(2028, 7, 29)),
    "v24.0": (dt.date(2025, 10, 8), dt.date(2028, 2, 18)),
    "v23.0": (dt.date(2025, 5, 29), dt.date(2027, 10, 8)),
    "v22.0": (dt.date(2025, 1, 21), dt.date(2027, 5, 20)),
    "v21.0": (dt.date(2024, 10, 2), dt.date(2027, 1, 21)),
    "v20.0": (dt.date(2024, 5, 21), dt.date(2026, 9, 24)),
    "v19.0": (dt.date(2024, 1, 23), dt.date(2026, 5, 21)),
    "v18.0": (dt.date(2023, 9, 12), dt.date(2026, 1, 26)),
    "v17.0": (dt.date(2023, 5, 23), dt.date(2025, 9, 12)),
    "v16.0": (dt.date(2023, 2, 2), dt.date(2025, 5, 14)),
}
DEFAULT_API_VERSION = "v26.0"   # the newest version of the changelog


def _number(version: str) -> tuple[int, int]:
    major, minor = re.fullmatch(r"v(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def end_of_life(version: str) -> dt.date | None:
    """The date Meta stops serving `version`; None when not announced (or newer than the table).
    A version older than every one in the table ended before the oldest one did."""
    if version in VERSIONS:
        return VERSIONS[version][1]
    oldest = min(VERSIONS, key=_number)
    if _number(version) < _number(oldest):
        return VERSIONS[oldest][1]
    return None


def version_warning(version: str, today: dt.date) -> str | None:
    """One line when `version` is within WARN_DAYS of its end of life or past it, else None."""
    ends = end_of_life(version)
    if ends is None:
        return None
    days = (ends - today).days
    advice = f"set destination.api_version to {DEFAULT_API_VERSION} (Meta's Graph API changelog: {SOURCE})"
    if days < 0:
        return (f"destination.api_version {version} reached its end of life on {ends:%Y-%m-%d}: Meta answers its "
                f"calls with the oldest version still available; {advice}")
    if days <= WARN_DAYS:
        return f"destination.api_version {version} reaches its end of life on {ends:%Y-%m-%d}, in {days} days; {advice}"
    return None
