"""Run the real dbt CLI on dbt_project/ with its `bigquery` target, against the local emulator.

The target is the one in dbt_project/profiles.yml (method oauth-secrets, api_endpoint from
BIGQUERY_API_ENDPOINT). The emulator has no NORMALIZE, so builds pass the dbt var
`bigquery_emulator: true` (macro bigquery__nfc); `dbt compile` without it gives the SQL
production runs. docs/bigquery.md lists every difference.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.bigquery_emulator import BigQueryEmulator

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")
EMULATOR_VARS = {"bigquery_emulator": True}


def dbt_bigquery_env(emulator: BigQueryEmulator, dataset: str = "analytics") -> dict[str, str]:
    """The environment the profile's `bigquery` target reads, pointed at the emulator."""
    return dict(os.environ, BIGQUERY_API_ENDPOINT=emulator.api_endpoint, BIGQUERY_PROJECT=emulator.project,
                BIGQUERY_DATASET=dataset, BIGQUERY_TOKEN="unused", DBT_SEND_ANONYMOUS_USAGE_STATS="false")


def dbt_bigquery_command(command: list[str], work_dir: Path, dbt_vars: dict | None = None) -> list[str]:
    args = [str(DBT), "--no-use-colors", *command, "--target", "bigquery", "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(PROJECT_DIR), "--target-path", str(work_dir / "target"),
            "--log-path", str(work_dir / "logs")]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return args


def run_dbt_bigquery(emulator: BigQueryEmulator, command: list[str], work_dir: Path, dbt_vars: dict | None = None,
                     dataset: str = "analytics", check: bool = True) -> subprocess.CompletedProcess:
    """`dbt <command> --target bigquery` from the repo root; target/ and logs/ go to work_dir.
    Raises AssertionError with dbt's output when check and dbt fails."""
    result = subprocess.run(dbt_bigquery_command(command, work_dir, dbt_vars), cwd=REPO,
                            env=dbt_bigquery_env(emulator, dataset), capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(command)} --target bigquery failed ({result.returncode}):\n"
                             f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}\nemulator log:\n"
                             f"{emulator.log_tail()}")
    return result
