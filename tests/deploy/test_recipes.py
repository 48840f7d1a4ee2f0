"""The scheduler recipes in deploy/ (docs/deploy.md): each file parses as what it is, names
files that exist, and maps capi-sync's exit codes the way docs/sync.md documents them; the
Dagster job runs here on DuckDB (dbt build, then the sync to the emulator) when dagster is
installed (the `deploy` extra, which `scripts/dev.py` installs)."""
from __future__ import annotations

import configparser
import importlib.util
import json
import os
import py_compile
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from sync import errors

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
sys.path.insert(0, str(DEPLOY))

import capi_sync_job  # noqa: E402

DBT_FAILED = 7          # deploy/job.sh: dbt build failed, nothing was sent
RETRIED = {errors.EXIT_RETRIES_EXHAUSTED, errors.EXIT_LOCKED, errors.EXIT_SOURCE, 130}
FAILED = {errors.EXIT_INTERNAL, errors.EXIT_CONFIG, errors.EXIT_DESTINATION_REFUSED}


def test_exit_code_policy_matches_the_documented_codes():
    assert set(capi_sync_job.RETRY_EXIT_CODES) == RETRIED
    assert set(capi_sync_job.FAIL_EXIT_CODES) == FAILED
    assert [capi_sync_job.outcome(code) for code in (0, 1, 2, 3, 4, 5, 6, 7, 130, 99)] == [
        "ok", "fail", "fail", "fail", "retry", "retry", "retry", "fail", "retry", "fail"]


def test_job_script_is_valid_bash_and_runs_dbt_then_the_sync():
    script = DEPLOY / "job.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    body = script.read_text()
    assert body.index('"$dbt" build') < body.index('exec "$capi_sync" run')
    assert "exit 7" in body


def test_dbt_selector_picks_readmes_daily_build(tmp_path, monkeypatch):
    """DBT_SELECTOR=daily adds `--selector daily` (README's daily command) in job.sh and in
    the Airflow/Dagster settings; unset, the job builds the whole project."""
    args = tmp_path / "dbt-args"
    dbt = tmp_path / "dbt"
    dbt.write_text(f'#!/bin/sh\necho "$@" > {args}\n')
    dbt.chmod(0o755)
    env = dict(os.environ, DBT_BIN=str(dbt), CAPI_SYNC_BIN="true", DBT_SELECTOR="daily")
    subprocess.run(["bash", str(DEPLOY / "job.sh")], cwd=REPO, env=env, check=True)
    assert args.read_text().split() == ["build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
                                        "--selector", "daily"]
    monkeypatch.setenv("DBT_SELECTOR", "daily")
    assert capi_sync_job.JobSettings().dbt_build_command()[-2:] == ["--selector", "daily"]
    monkeypatch.delenv("DBT_SELECTOR")
    assert "--selector" not in capi_sync_job.JobSettings().dbt_build_command()


def test_cron_line():
    lines = [line for line in (DEPLOY / "capi-sync.cron").read_text().splitlines()
             if line.strip() and not line.startswith("#") and not re.match(r"[A-Z_]+=", line)]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["15", "*", "*", "*", "*"]
    assert "deploy/job.sh" in shlex.split(fields[5])


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def test_systemd_units():
    service = _unit(DEPLOY / "systemd" / "capi-sync.service")
    timer = _unit(DEPLOY / "systemd" / "capi-sync.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == "/opt/capi-sync/deploy/job.sh"
    assert service["Service"]["UMask"] == "0077"
    assert timer["Timer"]["Unit"] == "capi-sync.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        calendar = subprocess.run(["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]],
                                  capture_output=True, text=True)
        assert calendar.returncode == 0, calendar.stderr
        assert "Normalized form: *-*-* *:15:00" in calendar.stdout


def test_kubernetes_cronjob_fails_at_once_on_what_a_person_must_fix():
    cron = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"          # podFailurePolicy requires it
    (container,) = pod["containers"]
    rules = {r["action"]: r for r in job["podFailurePolicy"]["rules"]}
    assert set(rules["FailJob"]["onExitCodes"]["values"]) == FAILED | {DBT_FAILED}
    assert set(rules["Count"]["onExitCodes"]["values"]) == RETRIED
    assert rules["FailJob"]["onExitCodes"]["containerName"] == container["name"]
    token = next(e for e in container["env"] if e["name"] == "META_ACCESS_TOKEN")
    assert "value" not in token and token["valueFrom"]["secretKeyRef"]["key"] == "META_ACCESS_TOKEN"


def test_cloud_run_job():
    job = yaml.safe_load((DEPLOY / "cloud-run" / "job.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("run.googleapis.com/v1", "Job")
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    assert task["maxRetries"] == 3
    (container,) = task["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["META_ACCESS_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "meta-access-token", "key": "latest"}
    assert env["DBT_TARGET"]["value"] == "bigquery_adc"


def test_github_actions_schedule():
    workflow = yaml.safe_load((DEPLOY / "github-actions" / "capi-sync.yml").read_text())
    triggers = workflow[True]       # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "15 * * * *"}]
    assert workflow["concurrency"] == {"group": "capi-sync", "cancel-in-progress": False}
    steps = workflow["jobs"]["sync"]["steps"]
    run = next(s for s in steps if "deploy/job.sh" in s.get("run", ""))
    assert run["env"]["META_ACCESS_TOKEN"] == "${{ secrets.META_ACCESS_TOKEN }}"
    subprocess.run(["bash", "-n", "-c", run["run"]], check=True)


def test_containerfile():
    instructions = [line.split(None, 1) for line in (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
                    .splitlines() if line.strip() and not line.startswith("#")]
    assert {i[0] for i in instructions} <= {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "ENTRYPOINT"}
    for _, args in (i for i in instructions if i[0] == "COPY"):
        *sources, _ = args.split()
        assert all((REPO / s).exists() for s in sources), args
    entrypoint = json.loads(next(args for op, args in instructions if op == "ENTRYPOINT"))
    assert entrypoint == ["/app/deploy/job.sh"]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "RUN pip install '.[dbt]'" in (DEPLOY / "Containerfile").read_text() and "dbt" in extras


def test_airflow_dag():
    py_compile.compile(str(DEPLOY / "airflow_dag.py"), doraise=True)
    if importlib.util.find_spec("airflow") is None:
        return          # Airflow is not installed here: compiled only
    from airflow.models import DagBag
    bag = DagBag(str(DEPLOY / "airflow_dag.py"), include_examples=False)
    assert not bag.import_errors
    assert [t.task_id for t in bag.dags["capi_sync"].topological_sort()] == ["dbt_build", "capi_sync_run"]
