"""Warehouse sources the sync reads `offline_events` from (DuckDB locally, BigQuery in production)."""
from __future__ import annotations

from sync.config import SyncConfig
from sync.sources.base import CURSOR_KEY, Source

__all__ = ["CURSOR_KEY", "Source", "open_source"]


def open_source(config: SyncConfig, read_only: bool = False) -> Source:
    """The source for `config.source.type`."""
    if config.source.type == "duckdb":
        from sync.sources.duckdb import DuckDBSource
        return DuckDBSource(config, read_only=read_only)
    if config.source.type == "bigquery":
        try:
            from sync.sources.bigquery import BigQuerySource  # type: ignore[import-not-found]
        except ImportError:
            from sync.errors import ConfigError
            raise ConfigError("config", "source.type", "the bigquery source is not available in this build") from None
        return BigQuerySource(config)
    raise AssertionError(config.source.type)
