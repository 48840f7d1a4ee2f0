"""Phone numbers through the real SQL (int_customers__phone_normalized, built by the
session's dbt build) against libphonenumber: parse with the customer's country as the
region, format E.164, drop the '+'; 9 to 15 digits or NULL."""
from __future__ import annotations

import phonenumbers
import pytest
from phone_cases import ISSUE_RULE_CASES, PHONE_FORMATS, phone_customers


def libphonenumber_e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    return digits if 9 <= len(digits) <= 15 else None


@pytest.fixture(scope="module")
def sql_phones(fixture_db) -> dict[str, str | None]:
    rows = fixture_db.execute(
        "select amperity_id, ph from analytics.int_customers__phone_normalized where amperity_id like 'PH%'").fetchall()
    return dict(rows)


def test_every_case_was_normalized(sql_phones):
    assert sorted(sql_phones) == sorted(cid for cid, _, _, _ in phone_customers())


def test_sql_agrees_with_libphonenumber(sql_phones):
    cases = [c for c in phone_customers() if c[3] == "libphonenumber"]
    assert {region for _, region, _, _ in cases} >= {"US", "CA", "GB", "DE", "FR", "CH", "JP"}
    disagreements = [(region, raw, sql_phones[cid], libphonenumber_e164(raw, region))
                     for cid, region, raw, _ in cases if sql_phones[cid] != libphonenumber_e164(raw, region)]
    assert disagreements == []
    # the comparison is not vacuous: most cases are valid numbers, some are rejected
    valid = sum(1 for cid, _, _, _ in cases if sql_phones[cid] is not None)
    assert valid >= len(cases) * 0.8 and valid < len(cases)


def test_double_zero_introduces_a_calling_code_everywhere(sql_phones):
    """The issue's rule where it departs from libphonenumber (which only knows 011 in the US)."""
    got = {(region, raw): sql_phones[cid] for cid, region, raw, source in phone_customers() if source == "issue"}
    assert got == ISSUE_RULE_CASES


@pytest.mark.parametrize(("region", "raw", "expected"), [
    ("US", "(650)555-1212", "16505551212"),
    ("US", "+44 20 7183 8750", "442071838750"),
    ("US", "+1 (616) 954-78 88", "16169547888"),
    ("GB", "020 7183 8750", "442071838750"),
    ("US", "1-650-555-1212", "16505551212"),
    ("US", "650-555-1212 x123", "16505551212"),
    ("US", "555-1212", None),
    ("US", "1234567890123456789", None),
])
def test_issue_examples(sql_phones, region, raw, expected):
    ids = [cid for cid, r, x, _ in phone_customers() if (r, x) == (region, raw)]
    assert ids, f"{region} {raw!r} is not among the cases"
    assert sql_phones[ids[0]] == expected


def test_formats_per_region_are_many(sql_phones):
    assert all(len(formats) >= 9 for formats in PHONE_FORMATS.values())
