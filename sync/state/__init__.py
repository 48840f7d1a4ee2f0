"""Sync state stores: watermark, ledger, dead letters, runs and lock, next to the data."""
from __future__ import annotations

from sync.config import SyncConfig
from sync.sources.base import Source
from sync.state.base import Checkpoint, RunRecord, StateStore, utcnow

__all__ = ["Checkpoint", "RunRecord", "StateStore", "open_state", "utcnow"]


def open_state(config: SyncConfig, source: Source) -> StateStore:
    """The state store for the config; a DuckDB store shares the source's connection."""
    if config.source.type == "duckdb":
        from sync.state.duckdb import DuckDBStateStore
        return DuckDBStateStore(source.connection, config.state.schema_, config.name,  # type: ignore[attr-defined]
                                error_line=source.error_line)  # type: ignore[attr-defined]
    from sync.state.bigquery import BigQueryStateStore  # type: ignore[import-not-found]
    return BigQueryStateStore(config, source)
