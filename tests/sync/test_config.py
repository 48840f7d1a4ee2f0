"""Config: rendering, validation, and one-line errors naming file and key."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync.config import load_config, parse_config, parse_duration
from sync.errors import ConfigError

FILE = "config/sync.yml"
ROOT = Path(__file__).resolve().parents[2]
TOKEN_LINE = "  access_token: \"{{ env_var('META_ACCESS_TOKEN') }}\"\n"


def cfg(body: str = "", destination: str = "") -> str:
    return textwrap.dedent(body) + "destination:\n  dataset_id: '123'\n" + TOKEN_LINE + textwrap.indent(
        textwrap.dedent(destination), "  ")


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", "tok-SECRET-config-test")
    monkeypatch.delenv("DUCKDB_PATH", raising=False)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, FILE)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults():
    config = parse_config(cfg(), FILE)
    assert config.name == "offline_events"
    assert config.source.type == "duckdb"
    assert config.source.path == "data/warehouse.duckdb"
    assert config.source.relation == "analytics.offline_events"
    assert config.cursor.column == "event_time" and config.cursor.lookback == 3 * 86400
    assert config.state.schema_ == "capi_sync"
    d = config.destination
    assert d.endpoint == "https://graph.facebook.com" and d.api_version == "v26.0"
    assert d.batch_size == 1000 and d.concurrency == 4
    assert d.events_url == "https://graph.facebook.com/v26.0/123/events"
    assert config.checkpoint_every_batches == 8


def test_duckdb_path_from_environment(monkeypatch):
    monkeypatch.setenv("DUCKDB_PATH", "/tmp/x.duckdb")
    assert parse_config(cfg(), FILE).source.path == "/tmp/x.duckdb"


def test_shipped_config_works_without_variables(monkeypatch):
    for name in ("META_ACCESS_TOKEN", "CAPI_ENDPOINT", "META_DATASET_ID"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(ROOT / "config/sync.yml")
    assert config.destination.endpoint == "http://127.0.0.1:8716"
    assert config.destination.access_token.get_secret_value() == "local-emulator-token"


def test_bigquery_example_parses(monkeypatch):
    monkeypatch.setenv("META_APP_SECRET", "app-secret-value")
    monkeypatch.setenv("META_DATASET_ID", "998877")
    monkeypatch.setenv("GCP_PROJECT", "my-project")
    config = load_config(ROOT / "config/sync.bigquery.example.yml")
    assert config.source.type == "bigquery" and config.source.project == "my-project"
    assert config.destination.endpoint == "https://graph.facebook.com"
    assert config.destination.app_secret.get_secret_value() == "app-secret-value"


def test_secret_never_in_repr_or_str():
    config = parse_config(cfg(), FILE)
    assert "tok-SECRET-config-test" not in repr(config)
    assert "tok-SECRET-config-test" not in str(config.destination)
    assert config.destination.access_token.get_secret_value() == "tok-SECRET-config-test"
    assert repr(config.destination.access_token) == "Secret('**********')"
    assert str(config.destination.access_token) == "**********"
    assert config.secrets() == ["tok-SECRET-config-test"]


@pytest.mark.parametrize("body, destination, expected", [
    ("", "batch_size: 1001\n", "config/sync.yml: destination.batch_size: must be at most 1000 (got 1001)"),
    ("", "batch_size: 5000\n", "config/sync.yml: destination.batch_size: must be at most 1000 (got 5000)"),
    ("", "batch_size: 0\n", "config/sync.yml: destination.batch_size: must be at least 1 (got 0)"),
    ("", "concurrency: many\n", "config/sync.yml: destination.concurrency: must be a whole number (got 'many')"),
    ("", "batch_sise: 10\n", "config/sync.yml: destination.batch_sise: unknown key (did you mean 'batch_size'?)"),
    ("source:\n  type: duckdb\n  relaton: a.b\n", "",
     "config/sync.yml: source.relaton: unknown key (did you mean 'relation'?)"),
    ("source:\n  type: oracle\n", "",
     "config/sync.yml: source: must be one of 'duckdb', 'bigquery' (got 'oracle')"),
    ("source:\n  type: duckdb\n  relation: \"x; DROP TABLE y\"\n", "",
     "config/sync.yml: source.relation: must be `schema.name` made of letters, digits and underscores "
     "(got 'x; DROP TABLE y')"),
    ("cursor:\n  column: \"event_time OR 1=1\"\n", "",
     "config/sync.yml: cursor.column: must be a column name of letters, digits and underscores "
     "(got 'event_time OR 1=1')"),
    ("cursor:\n  lookback: 3 days\n", "",
     "config/sync.yml: cursor.lookback: must be a duration like 3d, 6h, 90m or seconds (got '3 days')"),
    ("cursor:\n  lookback: .inf\n", "",
     "config/sync.yml: cursor.lookback: must be a duration like 3d, 6h, 90m or seconds (got inf)"),
    ("cursor:\n  lookback: .nan\n", "",
     "config/sync.yml: cursor.lookback: must be a duration like 3d, 6h, 90m or seconds (got nan)"),
    ("cursor:\n  lookback: 36501d\n", "", "config/sync.yml: cursor.lookback: must be at most 36500d (got '36501d')"),
    ("cursor:\n  lookback: 1.0e+30\n", "", "config/sync.yml: cursor.lookback: must be at most 36500d (got 1e+30)"),
    ("cursor:\n  lookback: 1" + "0" * 400 + "\n", "",
     "config/sync.yml: cursor.lookback: must be at most 36500d (got 1" + "0" * 400 + ")"),
    ("state:\n  schema: \"a-b\"\n", "",
     "config/sync.yml: state.schema: must be made of letters, digits and underscores (got 'a-b')"),
    ("", "endpoint: http://graph.facebook.com\n",
     "config/sync.yml: destination.endpoint: plain http is only allowed for a loopback host; use https "
     "(got 'http://graph.facebook.com')"),
    ("", "api_version: '24'\n", "config/sync.yml: destination.api_version: must look like v24.0 (got '24')"),
    ("", "data_processing_options: {options: [LDU], country: 2}\n",
     "config/sync.yml: destination.data_processing_options.country: must be one of 0 or 1 (got 2)"),
    ("surprise: 1\n", "", "config/sync.yml: surprise: unknown key (allowed: name, source, cursor, state, destination)"),
    # true/false is never a number, a fraction never a whole number, NaN and infinity never a
    # number, text never a mapping; nested keys are named by their path, and the first of
    # several problems is shown with their count.
    ("", "batch_size: true\n", "config/sync.yml: destination.batch_size: must be a whole number (got True)"),
    ("", "batch_size: 1.5\n", "config/sync.yml: destination.batch_size: must be a whole number (got 1.5)"),
    ("", "batch_size: '1e3'\n", "config/sync.yml: destination.batch_size: must be a whole number (got '1e3')"),
    ("", "batch_size: null\n", "config/sync.yml: destination.batch_size: must be a whole number (got None)"),
    ("", "timeout: {connect: false}\n", "config/sync.yml: destination.timeout.connect: must be a number (got False)"),
    ("", "timeout: {connect: 0}\n", "config/sync.yml: destination.timeout.connect: must be greater than 0.0 (got 0)"),
    ("", "timeout: {read: 3601}\n", "config/sync.yml: destination.timeout.read: must be at most 3600.0 (got 3601)"),
    ("", "timeout: {read: .nan}\n", "config/sync.yml: destination.timeout.read: must be a number (got nan)"),
    ("", "timeout: {read: 1" + "0" * 400 + "}\n",
     "config/sync.yml: destination.timeout.read: must be a number (got 1" + "0" * 400 + ")"),
    ("", "retry: {budget_seconds: 'inf'}\n",
     "config/sync.yml: destination.retry.budget_seconds: must be a number (got 'inf')"),
    ("", "timeout: 5\n", "config/sync.yml: destination.timeout: must be a mapping of keys (got 5)"),
    ("", "timeout: {conect: 1}\n", "config/sync.yml: destination.timeout.conect: unknown key (did you mean 'connect'?)"),
    ("", "data_processing_options: {country: true}\n",
     "config/sync.yml: destination.data_processing_options.country: must be one of 0 or 1 (got True)"),
    ("", "data_processing_options: {options: [ldu]}\n",
     "config/sync.yml: destination.data_processing_options.options.0: must be one of 'LDU' (got 'ldu')"),
    ("", "data_processing_options: {options: [LDU, LDU]}\n",
     "config/sync.yml: destination.data_processing_options.options: must have at most 1 entries (got ['LDU', 'LDU'])"),
    ("", "data_processing_options: {options: LDU}\n",
     "config/sync.yml: destination.data_processing_options.options: must be a list (got 'LDU')"),
    ("", "test_event_code: 12345\n", "config/sync.yml: destination.test_event_code: must be a text value (got 12345)"),
    ("source:\n  path: x.duckdb\n", "", "config/sync.yml: source: needs a `type` (duckdb or bigquery)"),
    ("source:\n  type: null\n", "", "config/sync.yml: source: must be one of 'duckdb', 'bigquery' (got 'None')"),
    ("source: x.duckdb\n", "", "config/sync.yml: source: must be a mapping of keys (got 'x.duckdb')"),
    ("source:\n  type: bigquery\n", "", "config/sync.yml: source.project: is required"),
    ("source:\n  type: duckdb\n  project: p\n", "", "config/sync.yml: source.project: unknown key "
     "(allowed: type, path, relation, memory_limit, chunk_size, external_id)"),
    ("source:\n  type: duckdb\n  chunk_size: 0\ncursor:\n  lookback: soon\nextra: 1\n", "batch_size: 0\n",
     "config/sync.yml: source.chunk_size: must be at least 1 (got 0) (and 3 more problems)"),
    ("name: ''\n", "", "config/sync.yml: name: must be 1-100 letters, digits, '_', '.' or '-' (got '')"),
    ("state:\n  checkpoint_every_batches: 0\n", "",
     "config/sync.yml: state.checkpoint_every_batches: must be at least 1 (got 0)"),
])
def test_one_line_errors(body, destination, expected):
    assert error_of(cfg(body, destination)) == expected


def test_dataset_id_must_be_digits():
    text = "destination:\n  dataset_id: abc\n" + TOKEN_LINE
    assert error_of(text) == ("config/sync.yml: destination.dataset_id: must be the dataset (pixel) id, "
                              "digits only (got 'abc')")


def test_missing_required_key():
    assert error_of("destination:\n" + TOKEN_LINE) == "config/sync.yml: destination.dataset_id: is required"


def test_missing_env_var_names_key(monkeypatch):
    monkeypatch.delenv("META_ACCESS_TOKEN")
    assert error_of(cfg()) == ("config/sync.yml: destination.access_token: environment variable "
                               "META_ACCESS_TOKEN is not set (set it, or give a default: "
                               "env_var('META_ACCESS_TOKEN', '...'))")


def test_env_var_default_and_types(monkeypatch):
    monkeypatch.setenv("BATCH", "250")
    config = parse_config(cfg("", "batch_size: \"{{ env_var('BATCH') }}\"\nconcurrency: \"{{ env_var('CONC', '2') }}\"\n"
                                  "data_processing_options: {country: \"{{ env_var('CONC', '1') }}\"}\n"), FILE)
    assert config.destination.batch_size == 250 and config.destination.concurrency == 2
    assert config.destination.data_processing_options.country == 1
    # as in dbt's profiles.yml, a value holding a template is quoted YAML text
    assert error_of(cfg("", "batch_size: {{ env_var('BATCH') }}\n")) == (
        "config/sync.yml: line 4: malformed YAML: found unhashable key "
        "(a value holding {{ ... }} must be quoted: key: \"{{ env_var('NAME') }}\")")


def test_literal_token_is_refused():
    text = "destination:\n  dataset_id: '1'\n  access_token: EAAB-literal-token\n"
    message = error_of(text)
    assert message == ("config/sync.yml: destination.access_token: must not be written in the file: secrets "
                       "come from the environment, e.g. \"{{ env_var('META_ACCESS_TOKEN') }}\"")
    assert "EAAB-literal-token" not in message


def test_literal_app_secret_is_refused():
    assert error_of(cfg("", "app_secret: shh-literal\n")).startswith(
        "config/sync.yml: destination.app_secret: must not be written in the file")


def test_malformed_yaml_names_line():
    text = cfg("", "batch_size: 10\n") + "  timeout: {connect: 1\n"
    assert error_of(text).startswith("config/sync.yml: line ")
    assert "malformed YAML" in error_of(text)


@pytest.mark.parametrize("value, tag", [("x", "!!bool"), ("x", "!!int"), ("0x", "!!int"), ("x", "!!float"),
                                        ("2020-13-45", "!!timestamp")])
def test_a_tagged_value_yaml_cannot_read_names_its_line(value, tag):
    """PyYAML raises KeyError, ValueError or AttributeError for these: one line, not a traceback."""
    assert error_of(cfg("", f"batch_size: {tag} {value}\n")) == (
        f"config/sync.yml: line 4: malformed YAML: '{value}' is not a valid {tag}")


def test_bad_template_names_key():
    assert error_of(cfg("name: \"{{ env_var('X' }}\"\n")) == (
        "config/sync.yml: name: template error: unexpected '}', expected ')'")


def test_missing_file():
    with pytest.raises(ConfigError, match=r"^nope\.yml: config file not found$"):
        load_config("nope.yml")


def test_state_dataset_only_for_bigquery():
    assert error_of(cfg("state:\n  dataset: x\n")) == (
        "config/sync.yml: state.dataset: is for a bigquery source; a duckdb source keeps its state "
        "in state.schema of the same file")


def test_loopback_http_allowed_and_appsecret_proof(monkeypatch):
    monkeypatch.setenv("META_APP_SECRET", "app-secret")
    config = parse_config(cfg("", "endpoint: http://127.0.0.1:8716/\n"
                                  "app_secret: \"{{ env_var('META_APP_SECRET') }}\"\n"), FILE)
    assert config.destination.endpoint == "http://127.0.0.1:8716"
    assert config.destination.is_loopback
    import hashlib
    import hmac
    assert config.destination.appsecret_proof() == hmac.new(
        b"app-secret", b"tok-SECRET-config-test", hashlib.sha256).hexdigest()


@pytest.mark.parametrize("value, seconds", [("3d", 259200), ("6h", 21600), ("90m", 5400), ("45s", 45),
                                            ("1d12h", 129600), (3600, 3600), ("120", 120), ("1w", 604800)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value, expected", [
    (None, 4_000_000), ("16384", 16_384), ("4MB", 4_000_000), ("1.5 MB", 1_500_000), ("512KiB", 524_288),
    ("64MiB", 67_108_864), ("'250000'", 250_000), ("20kb", 20_000),
    ("4.1MB", 4_100_000),   # 4.1 * 10**6 is 4099999.9999999995 in floating point
])
def test_max_request_bytes_default_and_sizes(value, expected):
    destination = "" if value is None else f"max_request_bytes: {value}\n"
    assert parse_config(cfg("", destination), FILE).destination.max_request_bytes == expected


@pytest.mark.parametrize("value, message", [
    ("16383", "must be at least 16384 (got 16383)"),
    ("10KB", "must be at least 16384 (got 10000)"),
    ("67108865", "must be at most 67108864 (got 67108865)"),
    ("1GB", "must be at most 67108864 (got 1000000000)"),
    ("lots", "must be a size in bytes like 4000000, 4MB or 512KiB (got 'lots')"),
    ("4 TB", "must be a size in bytes like 4000000, 4MB or 512KiB (got '4 TB')"),
    ("true", "must be a size in bytes like 4000000, 4MB or 512KiB (got True)"),
    ("'20000.5'", "must be a whole number of bytes (got '20000.5')"),
    ("20000.5", "must be a whole number (got 20000.5)"),
    ("[1]", "must be a whole number (got [1])"),
    ("1" * 400, f"must be at most 67108864 (got {'1' * 400})"),   # was an OverflowError
])
def test_max_request_bytes_is_validated(value, message):
    assert error_of(cfg("", f"max_request_bytes: {value}\n")) == (
        f"config/sync.yml: destination.max_request_bytes: {message}")


def test_numbers_may_be_written_as_text():
    """env_var() renders text: a whole number or a number written as text is accepted."""
    config = parse_config(cfg("state:\n  checkpoint_every_batches: '12'\n",
                              "batch_size: '250'\nconcurrency: ' 2.0 '\ntimeout: {connect: '1.5', read: 7}\n"
                              "data_processing_options: {options: [LDU], country: 1, state: 1000}\n"), FILE)
    assert config.destination.batch_size == 250 and config.destination.concurrency == 2
    assert config.destination.timeout.connect == 1.5 and config.destination.timeout.read == 7.0
    assert isinstance(config.destination.timeout.read, float)
    assert config.state.checkpoint_every_batches == 12 and config.checkpoint_every_batches == 12
    dpo = config.destination.data_processing_options
    assert (dpo.options, dpo.country, dpo.state) == (["LDU"], 1, 1000)


def test_config_is_frozen():
    import dataclasses
    config = parse_config(cfg(), FILE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.destination.batch_size = 5   # type: ignore[misc]


def test_the_command_line_loads_no_validation_library():
    """pydantic cost every capi-sync process 8.4 MiB and about 0.1 s (bench/findings.md)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, sync.cli; print(sorted(m for m in sys.modules "
                          "if m.split('.')[0] in ('pydantic', 'pydantic_core')))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["C:\\data\\new\\warehouse.duckdb", 'a "quoted" path.duckdb',
                                   "x.duckdb\ndestination: {test_event_code: TEST1}", "{{ 7 * 7 }}.duckdb",
                                   "  spaced.duckdb  ", "null", "'single'"])
def test_env_value_is_inserted_as_it_is(monkeypatch, value):
    """YAML is parsed before rendering: an environment value is never read as YAML or Jinja."""
    monkeypatch.setenv("DB", value)
    config = parse_config(cfg("source:\n  type: duckdb\n  path: \"{{ env_var('DB') }}\"\n"), FILE)
    assert config.source.path == value
    assert config.destination.test_event_code is None


@pytest.mark.parametrize("template, expected", [
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}",
     "template error: access to attribute '__init__' of 'StrictUndefined' object is unsafe (only env_var('NAME'[, 'default']) is available)"),
    ("{{ env_var.__globals__ }}",
     "template error: access to attribute '__globals__' of 'function' object is unsafe (only env_var('NAME'[, 'default']) is available)"),
    ("{{ ''.__class__.__mro__ }}",
     "template error: access to attribute '__class__' of 'str' object is unsafe (only env_var('NAME'[, 'default']) is available)"),
    ("{{ range(3) }}", "template error: 'range' is undefined (only env_var('NAME'[, 'default']) is available)"),
    ("{{ cycler }}", "template error: 'cycler' is undefined (only env_var('NAME'[, 'default']) is available)"),
    ("{{ 10 ** (10 ** 10) }}",
     "template error: exponent 10000000000 is too large (only env_var('NAME'[, 'default']) is available)"),
    ("{{ 'x' * 1000000 }}",
     "template error: the result would be longer than 100000 (only env_var('NAME'[, 'default']) is available)"),
    ("{{ 1 / 0 }}", "template error: ZeroDivisionError: division by zero"),
    ("{{ env_var(1) }}", "template error: env_var() takes the variable's name as text, e.g. env_var('NAME')"),
])
def test_template_sandbox(template, expected):
    assert error_of(cfg(f"name: \"{template}\"\n")) == f"config/sync.yml: name: {expected}"


def test_duplicate_key_names_both_lines():
    text = cfg("cursor:\n  column: event_time\n  lookback: 3d\n  column: other\n")
    assert error_of(text) == "config/sync.yml: line 4: duplicate key 'column' (first written at line 2); write each key once"
    # a YAML merge key is not a duplicate
    merged = cfg("x: &base {column: event_time}\ncursor:\n  <<: *base\n  lookback: 1d\n")
    assert error_of(merged) == "config/sync.yml: x: unknown key (allowed: name, source, cursor, state, destination)"


def test_recursive_alias():
    assert error_of(cfg("cursor: &a {column: [*a]}\n")) == (
        "config/sync.yml: cursor.column.0: a YAML alias refers to a value that contains it")


@pytest.mark.parametrize("value, shown", [("tok en", "a space at character 4"),
                                          ("tok\tX", "a control character at character 4"),
                                          ("tok\u00e9", "a character that is not ASCII at character 4")])
def test_token_that_cannot_be_a_header(monkeypatch, value, shown):
    monkeypatch.setenv("META_ACCESS_TOKEN", value)
    message = error_of(cfg())
    assert message == (f"config/sync.yml: destination.access_token: the value of environment variable "
                       f"META_ACCESS_TOKEN has {shown}; an access token is sent in the Authorization header and "
                       "may only hold visible ASCII characters; nothing was sent")
    assert value not in message


def test_secret_whitespace_is_stripped(monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", "  tok-from-a-mounted-file\n")
    monkeypatch.setenv("S", "app-secret\r\n")
    config = parse_config(cfg("", "app_secret: \"{{ env_var('S') }}\"\n"), FILE)
    assert config.destination.access_token.get_secret_value() == "tok-from-a-mounted-file"
    assert config.destination.app_secret.get_secret_value() == "app-secret"
    monkeypatch.setenv("META_ACCESS_TOKEN", "\n")
    assert error_of(cfg()) == "config/sync.yml: destination.access_token: is empty; set it through env_var('META_ACCESS_TOKEN')"
    # a literal, even made by a template, is not from the environment
    assert error_of(cfg("", "app_secret: \"{{ 'lit' ~ 'eral' }}\"\n")).startswith(
        "config/sync.yml: destination.app_secret: must not be written in the file")


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yml"
    path.write_bytes(cfg("name: caf\xe9\n").encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: line 1: is not UTF-8 text (byte 0xe9); save the file as UTF-8"
