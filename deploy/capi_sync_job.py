"""The scheduled job's two steps, `dbt build` then `capi-sync run --all`, and what a scheduler does
with their exit codes: shared by the Airflow DAG and the Dagster job beside it (copy it with
them). Standard library only. docs/deploy.md.

capi-sync's exit codes (docs/sync.md): 0 ok; 4 transient failures outlasted the retry budget,
5 another run holds the lock (or the DuckDB file is busy, e.g. a `dbt build`), 6 a source
problem (the relation missing during a rebuild, DuckDB out of memory): retried, as is 130
(interrupted); 1 internal error, 2 configuration, 3 the destination refused (token, dataset,
permission): a person must act, so the run fails without retries. What was accepted before a
failure is committed, so a retry sends only the rest.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Callable

OK, RETRY, FAIL = "ok", "retry", "fail"
RETRY_EXIT_CODES = {4: "transient failures outlasted the retry budget",
                    5: "another run holds the lock, or the DuckDB file is busy",
                    6: "source problem",
                    130: "interrupted"}
FAIL_EXIT_CODES = {1: "internal error", 2: "configuration or input error",
                   3: "the destination refused permanently"}


def outcome(exit_code: int) -> str:
    """OK, RETRY or FAIL for an exit code of `capi-sync run` (an unknown code fails)."""
    if exit_code == 0:
        return OK
    return RETRY if exit_code in RETRY_EXIT_CODES else FAIL


class StepFailed(Exception):
    """A step exited non-zero; `retry` says whether running it again may succeed."""

    def __init__(self, step: str, exit_code: int, retry: bool, reason: str):
        self.step, self.exit_code, self.retry = step, exit_code, retry
        super().__init__(f"{step} exited with code {exit_code} ({reason}); "
                         + ("will be retried" if retry else "not retried: fix and rerun"))


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class JobSettings:
    """Where the job runs and what it runs; each from an environment variable (the same names
    as deploy/job.sh) or its default."""

    working_dir: str = field(default_factory=lambda: _env("CAPI_SYNC_WORKDIR", "."))
    sync_config: str = field(default_factory=lambda: _env("CAPI_SYNC_CONFIG", "config/sync.yml"))
    dbt_project_dir: str = field(default_factory=lambda: _env("DBT_PROJECT_DIR", "dbt_project"))
    dbt_profiles_dir: str = field(default_factory=lambda: _env("DBT_PROFILES_DIR", ""))
    dbt_target: str = field(default_factory=lambda: _env("DBT_TARGET", ""))
    # e.g. "daily" (dbt_project/selectors.yml) once a first build has run; "" builds everything
    dbt_selector: str = field(default_factory=lambda: _env("DBT_SELECTOR", ""))
    dbt_bin: str = field(default_factory=lambda: _env("DBT_BIN", "dbt"))
    capi_sync_bin: str = field(default_factory=lambda: _env("CAPI_SYNC_BIN", "capi-sync"))

    def dbt_build_command(self) -> list[str]:
        cmd = [self.dbt_bin, "build", "--project-dir", self.dbt_project_dir,
               "--profiles-dir", self.dbt_profiles_dir or self.dbt_project_dir]
        return (cmd + (["--target", self.dbt_target] if self.dbt_target else [])
                + (["--selector", self.dbt_selector] if self.dbt_selector else []))

    def capi_sync_command(self) -> list[str]:
        return [self.capi_sync_bin, "run", "--all", "--config", self.sync_config]


def run_dbt_build(settings: JobSettings, log: Callable[[str], None] = print) -> None:
    """`dbt build`; any failure fails the job without a retry (dbt retries BigQuery's own
    transient errors, `job_retries` in the profile); nothing is sent after it."""
    cmd = settings.dbt_build_command()
    log("running: " + " ".join(cmd))
    code = subprocess.run(cmd, cwd=settings.working_dir).returncode
    if code != 0:
        raise StepFailed("dbt build", code, retry=False, reason="models, tests or the warehouse")


def run_capi_sync(settings: JobSettings, log: Callable[[str], None] = print) -> int:
    """`capi-sync run --all`; returns 0 or raises StepFailed saying whether to retry."""
    cmd = settings.capi_sync_command()
    log("running: " + " ".join(cmd))
    code = subprocess.run(cmd, cwd=settings.working_dir).returncode
    result = outcome(code)
    if result == OK:
        return code
    reason = RETRY_EXIT_CODES.get(code) or FAIL_EXIT_CODES.get(code) or "unknown exit code"
    raise StepFailed("capi-sync run", code, retry=result == RETRY, reason=reason)
