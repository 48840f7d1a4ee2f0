"""Fuzz: generated configuration files and environment values through the command line
(`sync.cli.main`, tests/reliability/fuzz_support.py). Whatever the file and the environment
hold, the outcome is a documented exit code with at most one error line, no traceback, no
internal error, no secret in the output; nothing is sent by a dry run and a config error
sends nothing at all. CAPI_FUZZ_EXAMPLES sets the number of cases (default 100)."""
from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reliability.fuzz_support import CASES_RUN, assert_clean, run_cli
from offline_events_fixture import TOKEN, create_offline_events, make_row

EXAMPLES = int(os.environ.get("CAPI_FUZZ_EXAMPLES", "100"))
FUZZ_VAR = "CAPI_FUZZ_VALUE"

junk = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=2),
                 st.dictionaries(st.sampled_from(["a", "type", "connect"]), st.integers(0, 3), max_size=2))
templates = st.sampled_from([
    "{{ env_var('%s') }}" % FUZZ_VAR, "{{ env_var('%s', 'x') }}" % FUZZ_VAR, "{{ env_var('CAPI_FUZZ_UNSET') }}",
    "{{ env_var('%s') ~ '.duckdb' }}" % FUZZ_VAR, "{{ env_var('%s') | int }}" % FUZZ_VAR, "{{ env_var( }}",
    "{{ cycler.__init__.__globals__ }}", "{{ 'x' * 999999999 }}", "{{ 10 ** 10 ** 10 }}", "{% if x %}", "{{ 1/0 }}",
    "{# comment #}", "{{ lipsum() }}", "{{ env_var }}", "{{ env_var('%s').__class__ }}" % FUZZ_VAR,
])
# env values: anything an environment can hold (no NUL), often something YAML or Jinja would read
env_values = st.one_of(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30),
                       st.sampled_from(["1234567890", "250", " 4 ", "C:\\new\\x.duckdb", 'a"b', "x\ny: 1", "{{ 7*7 }}",
                                        "null", "true", "-1", "1e3", "tok-" + "a" * 20 + "\n", "\t", "✓"]))

SECTIONS = {
    "name": st.sampled_from(["offline_events", "a.b-c", "x" * 101, ""]),
    "source": {"type": st.sampled_from(["duckdb", "bigquery", "oracle"]), "relation": st.sampled_from(
        ["analytics.offline_events", "analytics.missing", "a.b.c", "x;drop"]), "memory_limit": st.sampled_from(
        ["64MB", "1KB", "lots"]), "chunk_size": st.integers(-1, 2_000_000), "project": st.just("p")},
    "cursor": {"column": st.sampled_from(["event_time", "order_id", "value", "nope", "contents", "event_time OR 1"]),
               "lookback": st.sampled_from(["3d", "0", "1d12h", "-1", "3 days", 5, 1e300])},
    "state": {"schema": st.sampled_from(["capi_sync", "fuzz_state", "a-b"]),
              "checkpoint_every_batches": st.integers(-1, 200_000), "dataset": st.just("d")},
    "destination": {"dataset_id": st.sampled_from(["1234567890", "12a", 42]),
                    "batch_size": st.integers(-1, 2000), "max_request_bytes": st.sampled_from(["4MB", "1KB", "64MiB", 10 ** 9]),
                    "concurrency": st.integers(0, 70), "api_version": st.sampled_from(["v24.0", "24"]),
                    "endpoint": st.sampled_from(["http://127.0.0.1:9", "http://example.com", "https://[::1]:9", "ftp://x"]),
                    "max_rejected_share": st.floats(-1, 2), "test_event_code": st.sampled_from(["TEST1", 5]),
                    "data_processing_options": st.sampled_from([{"options": ["LDU"], "country": 1, "state": 1000},
                                                                {"options": "LDU"}, {"country": "1"}]),
                    "timeout": st.sampled_from([{"connect": 1, "read": 2, "stop": 0}, {"stop": -1}, 5]),
                    "retry": st.sampled_from([{"max_attempts": 1, "budget_seconds": 0}, {"base_delay": "x"}])},
}


@st.composite
def configs(draw, warehouse: str) -> tuple[bytes, str]:
    """(file bytes, env value): the valid base config, some keys replaced by generated values,
    templates or unknown keys, sometimes raw text appended or a non-UTF-8 byte."""
    doc = {"name": "offline_events", "source": {"type": "duckdb", "path": warehouse},
           "destination": {"endpoint": "http://127.0.0.1:9", "dataset_id": "1234567890",
                           "access_token": "{{ env_var('META_ACCESS_TOKEN') }}", "batch_size": 100}}
    tame = draw(st.booleans())   # only values of each key's own kind (these mostly run)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        choices = SECTIONS[section]
        if isinstance(choices, dict):
            key = draw(st.sampled_from(sorted(choices) + ([] if tame else ["unknown_key"])))
            valid = choices.get(key, junk)
            value = draw(valid if tame else st.one_of(valid, junk, templates))
            if not isinstance(doc.get(section), dict):
                doc[section] = {}
            doc[section][key] = value
        else:
            doc[section] = draw(choices if tame else st.one_of(choices, junk, templates))
    if not tame and draw(st.sampled_from([False] * 5 + [True])):
        doc["destination"]["access_token"] = draw(st.sampled_from(
            ["{{ env_var('%s') }}" % FUZZ_VAR, "literal-token-0000", None, ["x"]]))
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    tail = "" if tame else draw(st.sampled_from([""] * 12 + ["name: twice\n", "destination: {batch_size: {{ env_var('X') }}}\n", "\t- x\n",
                                 "cursor: &a [*a]\n"]))
    data = (text + tail).encode()
    if not tame and draw(st.sampled_from([False] * 19 + [True])):
        data += b"# caf\xe9\n"
    return data, draw(env_values)


def test_generated_configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-config")
    warehouse = folder / "warehouse.duckdb"
    create_offline_events(warehouse, [make_row(i, 1_700_000_000 + i) for i in range(3)])
    path, output = folder / "sync.yml", folder / "dry-run.jsonl"

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(configs(str(warehouse)))
    def case(generated):
        data, value = generated
        path.write_bytes(data)
        env = {"META_ACCESS_TOKEN": TOKEN, FUZZ_VAR: value}
        for args in (("run", "--dry-run", "--output", str(output)), ("status",)):
            outcome = run_cli(*args, "--config", str(path), env=env)
            assert_clean(outcome, secrets=(TOKEN,))
            if os.environ.get("CAPI_FUZZ_SHOW"):
                print(outcome.code, (outcome.stderr.strip().splitlines() or [""])[-1][:150])
        CASES_RUN["config"] += 1

    case()
    print(f"\nconfig fuzz: {CASES_RUN['config']} generated configurations, each through `run --dry-run` and `status`")
