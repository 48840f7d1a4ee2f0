"""Fixtures for the dbt project tests: one `dbt build` of the fixture warehouse per session."""
from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/reference_normalization.py

from dbt_runner import run_dbt  # noqa: E402
from phone_cases import customer_rows  # noqa: E402

from sample_data.fixtures import AS_OF_VAR, load_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory) -> dict:
    """A fresh DuckDB file with the fixture set (plus the phone cases as extra customers),
    built by one `dbt build` (seeds, models, unit tests and data tests) at as_of = AS_OF.
    Returns {'path': Path, 'build': CompletedProcess}."""
    work = tmp_path_factory.mktemp("fixture_warehouse")
    path = work / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        load_fixtures(con, extra_customers=customer_rows())
    build = run_dbt(["build"], path, work, {"as_of": AS_OF_VAR})
    return {"path": path, "build": build}


@pytest.fixture(scope="session")
def fixture_db(fixture_warehouse):
    """A read-only connection to the built fixture warehouse."""
    con = duckdb.connect(str(fixture_warehouse["path"]), read_only=True)
    yield con
    con.close()
