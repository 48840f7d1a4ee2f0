"""Dagster: `dbt build`, then `capi-sync run`, as one job on an hourly schedule (docs/deploy.md).

    pip install 'capi-sync[dbt,deploy]'          # dagster
    dagster dev -f deploy/dagster_job.py         # from the repository root; or load it in a code location

Settings come from the environment (deploy/capi_sync_job.py, the same names as deploy/job.sh).
capi-sync's exit codes 4, 5, 6 (and 130) are retried by the op's RetryPolicy; 1, 2, 3 and a
failed dbt build fail the run at once (`Failure(allow_retries=False)`).
"""

import sys
from pathlib import Path

from dagster import (Backoff, Definitions, Failure, In, Jitter, Nothing, OpExecutionContext,
                     RetryPolicy, ScheduleDefinition, job, op)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capi_sync_job import JobSettings, StepFailed, run_capi_sync, run_dbt_build  # noqa: E402

# A lock held by an overlapping run, or a busy DuckDB file, passes in minutes; so do most
# transient failures. Four tries over about 15 minutes, then the run fails.
SYNC_RETRY_POLICY = RetryPolicy(max_retries=3, delay=60, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def _raise_for(failed: StepFailed) -> None:
    if failed.retry:
        raise failed                  # an ordinary error: the op's RetryPolicy retries it
    raise Failure(description=str(failed), metadata={"exit_code": failed.exit_code},
                  allow_retries=False) from failed


@op(description="dbt build: refresh offline_events (models, unit and data tests)")
def dbt_build(context: OpExecutionContext) -> None:
    try:
        run_dbt_build(JobSettings(), log=context.log.info)
    except StepFailed as failed:
        _raise_for(failed)


@op(ins={"after_dbt_build": In(Nothing)}, retry_policy=SYNC_RETRY_POLICY,
    description="capi-sync run: send the new events to the Conversions API")
def capi_sync_run(context: OpExecutionContext) -> None:
    try:
        run_capi_sync(JobSettings(), log=context.log.info)
    except StepFailed as failed:
        _raise_for(failed)


@job(description="Offline purchases to Meta's Conversions API: dbt build, then capi-sync run")
def capi_sync_job():
    capi_sync_run(after_dbt_build=dbt_build())


# Hourly, 15 minutes past: after the CDP's refresh. Overlapping runs are harmless (the second
# exits 5 and is retried), but the schedule keeps them rare.
capi_sync_schedule = ScheduleDefinition(job=capi_sync_job, cron_schedule="15 * * * *",
                                        execution_timezone="UTC")

defs = Definitions(jobs=[capi_sync_job], schedules=[capi_sync_schedule])
