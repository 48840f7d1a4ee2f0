"""Read: the source's pages of ready-to-send events (sync/sources/base.py), read ahead on their
own thread while the main thread batches and sends."""
from __future__ import annotations

from sync.events import EventSettings, ReadyChunk
from sync.read_ahead import ReadAhead
from sync.runner.plan import ReadPlan
from sync.sources import Source


def read_planned(source: Source, plan: ReadPlan) -> ReadAhead[ReadyChunk]:
    return ReadAhead(source.read_ready(plan.lower_bound, plan.exclude_sent, plan.settings))


def read_event_ids(source: Source, event_ids: list[str], settings: EventSettings) -> ReadAhead[ReadyChunk]:
    return ReadAhead(source.read_event_ids_ready(event_ids, settings))
