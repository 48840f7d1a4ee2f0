"""`capi-sync report`: read the state tables, print the figures (--json) and/or write the page."""
from __future__ import annotations

import datetime as dt
import os

from sync.config import SyncConfig
from sync.errors import InputError
from sync.report.figures import report_figures
from sync.state.base import utcnow

DEFAULT_OUTPUT = "data/capi-sync-report.html"
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


def collect(config: SyncConfig, since_text: str | None) -> dict:
    """The report's figures, read with a read-only connection (a run may be going on)."""
    from sync.sources import open_source
    from sync.state import open_state
    now = utcnow()
    since = parse_since(since_text, now)
    source = open_source(config, read_only=True)
    try:
        state = open_state(config, source)
        try:
            if not state.tables_exist():
                raise InputError(f"sync '{config.name}' has no state tables yet ({source.description}): "
                                  "run `capi-sync run` first")
            return report_figures(state.history, config.name, since, now)
        finally:
            state.close()
    finally:
        source.close()


def write_page(figures: dict, path: str) -> str:
    """Write the page next to its final name, then rename (a reader never sees half a page)."""
    from sync.report.page import render_page
    text = render_page(figures)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return path
