"""Sync state stores: watermark, ledger, dead letters, runs and lock, next to the data."""
from __future__ import annotations

from sync.config import SyncConfig
from sync.sources.base import Source
from sync.state.base import Checkpoint, RunRecord, StateStore, utcnow

__all__ = ["Checkpoint", "RunRecord", "StateStore", "open_state", "utcnow"]


def open_state(config: SyncConfig, source: Source) -> StateStore:
    """The config's state store on a connection of its own: on DuckDB a cursor of the source's
    (one writing process per file; errors worded like the source's), on BigQuery its own client."""
    if config.source.type == "duckdb":
        from sync.state.duckdb import DuckDBStateStore
        return DuckDBStateStore(source.connection.cursor(), config.state.schema_, config.name,  # type: ignore[attr-defined]
                                error_line=source.error_line)  # type: ignore[attr-defined]
    from sync.state.bigquery import BigQueryStateStore  # type: ignore[import-not-found]
    return BigQueryStateStore(config)
