"""Fixtures for the emulator tests: a fresh emulator per test and an HTTP client."""
from __future__ import annotations

import httpx
import pytest
from emulator_helpers import TOKEN

from sync.emulator import ConversionsApiEmulator


@pytest.fixture
def emulator():
    with ConversionsApiEmulator(access_token=TOKEN) as emu:
        yield emu


@pytest.fixture(scope="session")
def client():
    """One client for the session: creating an httpx.Client costs ~0.2 s (TLS context)."""
    with httpx.Client(timeout=10) as c:
        yield c
