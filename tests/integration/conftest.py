"""Integration fixtures: a config for the DuckDB file and the emulator of tests/conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from offline_events_fixture import TOKEN, write_config


@pytest.fixture
def config_path(tmp_path, warehouse, emulator, monkeypatch) -> Path:
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    return write_config(tmp_path, warehouse, emulator.url)
