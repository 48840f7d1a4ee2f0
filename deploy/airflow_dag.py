"""Airflow: `dbt build`, then `capi-sync run`, as one DAG on an hourly schedule (docs/deploy.md).

Copy this file and deploy/capi_sync_job.py into the dags folder; the workers need `dbt` and
`capi-sync` (pip install 'capi-sync[dbt]') and the repository's dbt project and config
(CAPI_SYNC_WORKDIR, CAPI_SYNC_CONFIG, DBT_* as in deploy/job.sh). Airflow 2.x or 3.x.

capi-sync's exit codes 4, 5, 6 (and 130) raise AirflowException, which the task's retries
retry; 1, 2, 3 and a failed dbt build raise AirflowFailException: failed at once, no retry.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from airflow.exceptions import AirflowException, AirflowFailException

try:                                   # Airflow 3
    from airflow.sdk import dag, task
except ImportError:                    # Airflow 2
    from airflow.decorators import dag, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capi_sync_job import JobSettings, StepFailed, run_capi_sync, run_dbt_build  # noqa: E402


def _raise_for(failed: StepFailed) -> None:
    raise (AirflowException if failed.retry else AirflowFailException)(str(failed)) from failed


@dag(dag_id="capi_sync", schedule="15 * * * *", start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
     catchup=False, max_active_runs=1, tags=["capi-sync"],
     default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=1), "retry_exponential_backoff": True})
def capi_sync():
    @task(retries=0)
    def dbt_build() -> None:
        try:
            run_dbt_build(JobSettings())
        except StepFailed as failed:
            _raise_for(failed)

    @task
    def capi_sync_run() -> None:
        try:
            run_capi_sync(JobSettings())
        except StepFailed as failed:
            _raise_for(failed)

    dbt_build() >> capi_sync_run()


capi_sync()
