"""dbt_project/profiles.yml: the BigQuery targets are valid dbt-bigquery credentials (rendered with
env_var as dbt renders them), with the documented authentication methods. Needs no emulator."""
from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml
from dbt.adapters.bigquery.credentials import BigQueryCredentials

PROFILES = Path(__file__).resolve().parents[2] / "dbt_project" / "profiles.yml"


def render(target: dict, env: dict) -> dict:
    def env_var(name, default=None):
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(name)
        return default

    out = {}
    for key, value in target.items():
        if isinstance(value, str):
            value = jinja2.Template(value).render(env_var=env_var)
            if key in ("threads", "job_execution_timeout_seconds", "job_retries"):
                value = int(value)
        out[key] = value
    return out


@pytest.fixture(scope="module")
def outputs() -> dict:
    return yaml.safe_load(PROFILES.read_text())["capi_offline_events"]["outputs"]


def credentials(target: dict, env: dict) -> BigQueryCredentials:
    data = render(target, env)
    data.pop("type"), data.pop("threads")
    data["database"], data["schema"] = data.pop("project"), data.pop("dataset")
    BigQueryCredentials.validate(data)
    return BigQueryCredentials.from_dict(data)


def test_emulator_target_uses_a_token_and_the_endpoint_from_the_environment(outputs):
    creds = credentials(outputs["bigquery"], {"BIGQUERY_API_ENDPOINT": "http://127.0.0.1:9050"})
    assert (creds.method, creds.token, creds.database, creds.schema, creds.api_endpoint) == (
        "oauth-secrets", "unused", "local-project", "analytics", "http://127.0.0.1:9050")


def test_production_targets_use_adc_or_a_service_account_key(outputs):
    adc = credentials(outputs["bigquery_adc"], {"BIGQUERY_PROJECT": "shop-prod"})
    assert (adc.method, adc.database, adc.location, adc.token, adc.keyfile, adc.api_endpoint) == (
        "oauth", "shop-prod", "US", None, None, None)
    sa = credentials(outputs["bigquery_service_account"],
                     {"BIGQUERY_PROJECT": "shop-prod", "BIGQUERY_KEYFILE": "/secrets/dbt.json",
                      "BIGQUERY_DATASET": "marketing", "BIGQUERY_LOCATION": "EU"})
    assert (sa.method, sa.keyfile, sa.database, sa.schema, sa.location) == (
        "service-account", "/secrets/dbt.json", "shop-prod", "marketing", "EU")
    with pytest.raises(KeyError, match="BIGQUERY_PROJECT"):   # no silent default project in production
        credentials(outputs["bigquery_adc"], {})
