"""Integration fixtures: a DuckDB file with analytics.offline_events, the real emulator, a config."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))

from offline_events_fixture import TOKEN, create_offline_events, write_config  # noqa: E402

from sync.emulator import ConversionsApiEmulator  # noqa: E402


@pytest.fixture
def now() -> int:
    return int(time.time())


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    create_offline_events(path, [])
    return path


@pytest.fixture
def emulator():
    with ConversionsApiEmulator(access_token=TOKEN) as emu:
        yield emu


@pytest.fixture
def config_path(tmp_path, warehouse, emulator, monkeypatch) -> Path:
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    return write_config(tmp_path, warehouse, emulator.url)
