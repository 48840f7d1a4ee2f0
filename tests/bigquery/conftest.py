"""Fixtures for tests that need the local BigQuery emulator (crucible), from tests/support."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:  # pytest puts this directory on sys.path, not the repository root
    sys.path.insert(0, _REPO_ROOT)

from tests.support.bigquery_emulator import bigquery_dataset, bigquery_emulator  # noqa: E402,F401
