"""Fixtures shared by the sync's tests (tests/sync, tests/integration, tests/reliability): the
clock, a DuckDB file with an empty `analytics.offline_events` table, and the real emulator.
A folder that needs another `emulator` or `warehouse` defines its own, which wins."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "sync"))  # offline_events_fixture

from offline_events_fixture import TOKEN, create_offline_events  # noqa: E402

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
