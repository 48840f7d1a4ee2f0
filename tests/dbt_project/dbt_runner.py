"""Run the real dbt CLI on the project against a DuckDB file (a subprocess per call)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from sample_data.fixtures import AS_OF_VAR

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


def run_dbt(command: list[str], duckdb_path: Path, work_dir: Path, dbt_vars: dict | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    """`dbt <command>` from the repo root with DUCKDB_PATH set; target/ and logs/ go to
    work_dir so parallel runs never share them. Raises AssertionError with dbt's output
    when check and dbt fails."""
    env = dict(os.environ, DUCKDB_PATH=str(duckdb_path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    args = [str(DBT), "--no-use-colors", *command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(command)} failed ({result.returncode}):\n"
                             f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return result


def compile_with_var(select: str, name: str, value: str, work_dir: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """`dbt compile --select <select>` on an empty DuckDB file with var `name` set to `value`
    (and as_of fixed): dbt's result (not checked) and the file."""
    path = work_dir / "bad.duckdb"
    duckdb.connect(str(path)).close()
    return run_dbt(["compile", "--select", select], path, work_dir, {"as_of": AS_OF_VAR, name: value}, check=False), path


def compile_inline(sql: str, work_dir: Path) -> str:
    """The SQL dbt compiles from `sql` (Jinja with the project's macros), for the DuckDB target."""
    result = run_dbt(["--quiet", "compile", "--output", "json", "--inline", sql], work_dir / "compile.duckdb", work_dir)
    return json.loads(result.stdout)["compiled"]
