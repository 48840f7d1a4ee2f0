"""The event contract (sync/contract.py) is the one place the event is declared: the dbt macros
that write its JSON in the warehouse, the sync's SQL checks, the emulator's rules and the docs
agree with it."""
from __future__ import annotations

import re
from pathlib import Path

from sync import contract
from sync.emulator import validation
from sync.events import EventSettings
from sync.sources import base

ROOT = Path(__file__).resolve().parents[2]
MACROS = ROOT / "dbt_project" / "macros" / "conversions_api"


def _jinja_list(text: str, name: str) -> list[str]:
    (items,) = re.findall(r"set " + name + r" = \[([^\]]*)\]", text)
    return re.findall(r"'([^']+)'", items)


def test_the_user_data_macro_writes_the_contracts_keys_in_order_with_its_arrays():
    text = (MACROS / "user_data_json.sql").read_text()
    assert _jinja_list(text, "keys") == list(contract.USER_DATA_KEYS)
    assert set(_jinja_list(text, "array_keys")) == contract.ARRAY_USER_DATA_KEYS


def test_the_custom_data_macro_writes_the_contracts_keys_in_order():
    text = (MACROS / "custom_data_json.sql").read_text()
    for dialect in ("duckdb", "bigquery"):
        body = text[text.index(f"macro {dialect}__custom_data_text"):]
        body = body[:body.index("endmacro")]
        assert re.findall(r'"(\w+)":', body) == list(contract.CUSTOM_DATA_KEYS), dialect


def test_the_macros_leave_out_the_contracts_optional_contents_keys_and_write_its_doubles():
    """The product fields a NULL of which is left out of a contents item, and the keys
    BigQuery's macro writes as doubles (`12.0`), are the contract's."""
    fields = (ROOT / "dbt_project" / "macros" / "contents" / "product_fields.sql").read_text()
    assert re.findall(r"'(\w+)'", re.search(r"for field in \[([^\]]*)\]", fields).group(1)) == list(
        contract.CONTENTS_OPTIONAL_KEYS)
    text = (MACROS / "custom_data_json.sql").read_text()
    (keys,) = re.findall(r"\(\?:([\w|]+)\)", text)
    assert set(keys.split("|")) == contract.DOUBLE_KEYS


def test_the_sql_checks_follow_the_contracts_order():
    """Every check the SQL makes is the contract's, in its order (duplicates and the 64-hex
    check are made on the read's Arrow arrays)."""
    columns = dict.fromkeys(contract.REQUIRED_COLUMNS, "x")
    reasons = [reason for reason, _ in base.row_checks(EventSettings(now=0), columns, "c")]
    assert reasons == [r for r in contract.SKIP_REASONS if r not in ("duplicate_event_id", "invalid_hash")]


def test_the_emulator_takes_what_the_contract_sends():
    """The emulator stands for Meta: every user_data key the sync sends is customer
    information there, every key it requires hashed is hashed here, the action sources and
    time windows are the same."""
    assert set(contract.USER_DATA_KEYS) <= validation.CUSTOMER_INFORMATION_KEYS
    assert set(validation.HASHED_KEYS) <= set(contract.USER_DATA_KEYS)
    assert contract.ACTION_SOURCES == validation.ACTION_SOURCES
    assert (contract.MAX_AGE_OTHER, contract.MAX_AGE_PHYSICAL_STORE, contract.MAX_FUTURE_SKEW) == (
        validation.MAX_AGE_SECONDS, validation.MAX_AGE_SECONDS_PHYSICAL_STORE, validation.MAX_FUTURE_SECONDS)


def test_the_docs_list_the_skip_reasons_in_the_contracts_order():
    text = (ROOT / "docs" / "sync.md").read_text()
    section = text[text.index("### Checks before sending"):]
    section = section[:section.index("`event_too_large`")]
    named = [word for word in re.findall(r"`(\w+)`", section.split("(stage `check`):")[1]) if word != "physical_store"]
    assert named == list(contract.SKIP_REASONS)
