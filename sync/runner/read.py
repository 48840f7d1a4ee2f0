"""Read: the source's pages of ready events, read ahead on their own thread while the main
thread batches and sends; a graceful stop (`stop_requested`) ends a wait for the next page."""
from __future__ import annotations

from typing import Callable

from sync.events import EventSettings, ReadyChunk
from sync.read_ahead import ReadAhead
from sync.runner.plan import ReadPlan
from sync.sources import Source


def read_planned(source: Source, plan: ReadPlan, stop_requested: Callable[[], object] | None = None
                 ) -> ReadAhead[ReadyChunk]:
    return ReadAhead(source.read_ready(plan.lower_bound, plan.exclude_sent, plan.settings),
                     stop_requested=stop_requested)


def read_event_ids(source: Source, event_ids: list[str], settings: EventSettings,
                   stop_requested: Callable[[], object] | None = None) -> ReadAhead[ReadyChunk]:
    return ReadAhead(source.read_event_ids_ready(event_ids, settings), stop_requested=stop_requested)
