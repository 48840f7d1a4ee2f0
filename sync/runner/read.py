"""Read: the source's rows as ReadyChunks (events JSON-encoded, checked, in cursor order), read
ahead on their own thread while the main thread batches and sends."""
from __future__ import annotations

from typing import Iterable, Iterator

from sync.events import EventSettings, ReadyChunk, ready_chunk
from sync.read_ahead import ReadAhead
from sync.runner.plan import ReadPlan
from sync.sources import CURSOR_KEY, Chunk, Source


def read_planned(source: Source, plan: ReadPlan) -> ReadAhead[ReadyChunk]:
    if hasattr(source, "read_ready"):   # DuckDB: events written in SQL
        chunks = source.read_ready(plan.lower_bound, plan.exclude_sent, plan.settings)
    else:
        chunks = _ready_chunks(source.read(plan.lower_bound, exclude_sent=plan.exclude_sent), plan.settings)
    return ReadAhead(chunks)


def read_event_ids(source: Source, event_ids: list[str], settings: EventSettings) -> ReadAhead[ReadyChunk]:
    if hasattr(source, "read_event_ids_ready"):
        chunks = source.read_event_ids_ready(event_ids, settings)
    else:
        chunks = _ready_chunks(source.read_event_ids(event_ids), settings)
    return ReadAhead(chunks)


def _ready_chunks(chunks: Iterable[Chunk], settings: EventSettings) -> Iterator[ReadyChunk]:
    """A source's columnar chunks through the reference path (`build_events` + orjson)."""
    seen_duplicates: set[str] = set()
    for chunk in chunks:
        yield ready_chunk(chunk, settings, seen_duplicates, CURSOR_KEY)
