"""What `capi-sync` prints: its log lines, the progress of a run, the run's summary, JSON."""
from __future__ import annotations

import datetime as dt
import logging
import sys
import time

import orjson

from sync.redact import Redactor, RedactingFilter
from sync.runner import Progress, RunSummary

log = logging.getLogger("capi_sync")


def setup_logging(redactor: Redactor, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s capi-sync %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_capi_sync", False):
            root.removeHandler(old)
    handler._capi_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "urllib3", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class TqdmProgress(Progress):
    """A progress bar on a terminal."""

    def __init__(self):
        self.bar = None

    def start(self, summary: RunSummary) -> None:
        from tqdm import tqdm
        self.bar = tqdm(desc="events sent" if not summary.dry_run else "events written", unit=" ev",
                        file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, summary: RunSummary, events: int) -> None:
        if self.bar is not None:
            self.bar.update(events)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogProgress(Progress):
    """Plain log lines (not a terminal): one every few seconds."""

    def __init__(self, every_seconds: float = 5.0):
        self.every = every_seconds
        self.last = time.monotonic()

    def update(self, summary: RunSummary, events: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            done = summary.events_written if summary.dry_run else summary.events_sent
            log.info("progress: %d rows read, %d events %s in %d batches", summary.rows_read, done,
                     "written" if summary.dry_run else "sent", summary.batches_sent)


def progress() -> Progress:
    return TqdmProgress() if sys.stderr.isatty() else LogProgress()


def show_time(seconds: int | None) -> str:
    """A cursor value with its date; a value no date has (a watermark written in milliseconds
    by an earlier version) is shown as it is."""
    if seconds is None:
        return "none"
    try:
        return f"{seconds} ({dt.datetime.fromtimestamp(seconds, dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC)"
    except (OverflowError, OSError, ValueError):
        return f"{seconds} (not a date in unix seconds)"


def human_summary(summary: RunSummary) -> str:
    title = {"run": "dry run" if summary.dry_run else "run"}.get(summary.command, summary.command)
    lines = [f"capi-sync {title} {summary.run_id} of '{summary.sync_name}': {summary.status} "
             f"in {summary.seconds:.1f} s", f"  rows read:        {summary.rows_read}"]
    if summary.dry_run:
        lines.append(f"  events written:   {summary.events_written} in {summary.batches_sent} request bodies "
                     f"-> {summary.output} (nothing sent, state unchanged)")
    else:
        lines.append(f"  events sent:      {summary.events_sent} in {summary.batches_sent} batches "
                     f"({summary.requests} requests, {summary.retries} retries)")
    skipped_total = sum(summary.skipped.values())
    lines.append(f"  skipped:          {skipped_total}" + (
        " (" + ", ".join(f"{k}: {v}" for k, v in summary.skipped.items()) + ")" if skipped_total else ""))
    if summary.rejected_by_api:
        lines.append(f"  rejected by API:  {summary.rejected_by_api} ({summary.rejected_share:.1%} of the answered events)")
    if not summary.dry_run:
        lines.append(f"  dead-lettered:    {summary.dead_lettered}")
    if summary.failed:
        lines.append(f"  not sent (failed): {summary.failed}")
    if summary.command == "dead-letter retry":
        lines.append(f"  resolved:         {summary.resolved}")
        if summary.not_found:
            lines.append(f"  not in the view:  {len(summary.not_found)}")
    lines.append(f"  watermark:        {show_time(summary.watermark_before)} -> {show_time(summary.watermark_after)}")
    if summary.error:
        lines.append(f"  error:            {summary.error}")
    return "\n".join(lines)


def print_json(payload) -> None:
    sys.stdout.write(orjson.dumps(payload, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
