#!/usr/bin/env bash
# One scheduled run: `dbt build` (refresh offline_events), then `capi-sync run --all`.
# Used by the cron line, the systemd service, the container image, the Kubernetes CronJob,
# the Cloud Run job and the GitHub Actions schedule in this folder (docs/deploy.md).
#
# Exit code: capi-sync's (docs/sync.md, Exit codes; with several syncs the worst of them),
# or 7 when dbt build failed (then nothing was sent). Retry on 4, 5 and 6; fail on the rest.
#
# Environment (all optional):
#   CAPI_SYNC_CONFIG   sync config file            (default config/sync.yml)
#   DBT_PROJECT_DIR    dbt project                 (default dbt_project)
#   DBT_PROFILES_DIR   dbt profiles                (default: the project directory)
#   DBT_TARGET         dbt target                  (default: the profile's default target)
#   DBT_SELECTOR       dbt selector, e.g. daily    (default none: the whole project, seeds and
#                      every test; set `daily` once a first build has run: README, step 2)
#   DBT_BIN, CAPI_SYNC_BIN  the executables        (default dbt, capi-sync on PATH)
#   CAPI_SYNC_SKIP_DBT=1    skip the dbt build (the models are built elsewhere)
set -uo pipefail

config="${CAPI_SYNC_CONFIG:-config/sync.yml}"
project="${DBT_PROJECT_DIR:-dbt_project}"
profiles="${DBT_PROFILES_DIR:-$project}"
dbt="${DBT_BIN:-dbt}"
capi_sync="${CAPI_SYNC_BIN:-capi-sync}"

if [ "${CAPI_SYNC_SKIP_DBT:-0}" != "1" ]; then
  target_args=()
  if [ -n "${DBT_TARGET:-}" ]; then target_args=(--target "$DBT_TARGET"); fi
  if [ -n "${DBT_SELECTOR:-}" ]; then target_args+=(--selector "$DBT_SELECTOR"); fi
  "$dbt" build --project-dir "$project" --profiles-dir "$profiles" "${target_args[@]}"
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "capi-sync job: dbt build failed with exit code $status; nothing was sent" >&2
    exit 7
  fi
fi
exec "$capi_sync" run --all --config "$config"
