"""Plan: what a run reads: rows with cursor >= watermark - lookback (never older than any action
source accepts) minus the ledger and dead letters; for a retry, the dead letters' event ids."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sync.config import SyncConfig
from sync.cursor_check import CURSOR_FUTURE_TOLERANCE
from sync.errors import SourceError
from sync.events import DAY, MAX_AGE_PHYSICAL_STORE, EventSettings
from sync.state import StateStore

log = logging.getLogger("capi_sync")

# Rows older than this are outside every action source's window: never read them.
READ_FLOOR_AGE = MAX_AGE_PHYSICAL_STORE + DAY


@dataclass(frozen=True)
class ReadPlan:
    """An incremental read: rows with cursor >= lower_bound (all when None) or a NULL cursor;
    `exclude_sent`: minus the ledger and the unresolved dead letters."""

    lower_bound: int | None
    exclude_sent: bool
    settings: EventSettings


def event_settings(config: SyncConfig, now: int) -> EventSettings:
    """The per-run inputs of every event that do not come from the row."""
    dpo = config.destination.data_processing_options
    ldu = {} if dpo is None else {"data_processing_options": list(dpo.options),
                                  "data_processing_options_country": dpo.country,
                                  "data_processing_options_state": dpo.state}
    return EventSettings(now=now, external_id_as_given=config.source.external_id == "as_given", **ldu)


def plan_read(config: SyncConfig, watermark: int | None, now: int, *, full_refresh: bool,
              state_ready: bool) -> ReadPlan:
    if watermark is not None and watermark > now + CURSOR_FUTURE_TOLERANCE and not full_refresh:
        # Written before the watermark stayed behind the clock (sync/cursor_check.py): a read
        # from it would find nothing, run after run, without a word.
        raise SourceError(f"state: the watermark of sync '{config.name}' is {watermark}, {watermark - now} s ahead of "
                          "the clock (a cursor in milliseconds?); a run from it would read nothing. Set it to unix "
                          "seconds in the state table sync_watermarks; nothing was sent")
    lower = watermark - config.cursor.lookback if watermark is not None and not full_refresh else None
    if config.cursor.column == "event_time":
        floor = now - READ_FLOOR_AGE
        lower = floor if lower is None else max(lower, floor)
    return ReadPlan(lower, state_ready and not full_refresh, event_settings(config, now))


def plan_retry(state: StateStore, event_ids: list[str] | None) -> list[str]:
    """The event ids of the unresolved dead letters to retry (of `event_ids`, when given)."""
    letters = state.dead_letters(event_ids=event_ids)
    ids = sorted({d["event_id"] for d in letters if d["event_id"]})
    if event_ids:
        unknown = sorted(set(event_ids) - set(ids))
        if unknown:
            log.warning("no unresolved dead letter for %d of the given event ids (e.g. %s)", len(unknown), unknown[0])
    if not ids:
        log.info("no unresolved dead letters to retry")
    return ids
