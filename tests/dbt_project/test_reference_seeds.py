"""The committed reference seeds are exactly what scripts/generate_reference_seeds.py
produces from pycountry and phonenumbers, and they say what ISO 3166 / libphonenumber say."""
from __future__ import annotations

import csv
import importlib.util
import io
import re

import phonenumbers
import pycountry
import pytest
from dbt_runner import PROJECT_DIR, REPO

spec = importlib.util.spec_from_file_location("generate_reference_seeds", REPO / "scripts" / "generate_reference_seeds.py")
generator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generator)


def read(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((PROJECT_DIR / name).read_text(encoding="utf-8"))))


@pytest.mark.parametrize("name", sorted(generator.SEEDS))
def test_committed_seed_is_regenerated_identically(name):
    assert (PROJECT_DIR / name).read_text(encoding="utf-8") == generator.generate()[name], (
        f"{name} is stale: run python scripts/generate_reference_seeds.py")


def test_check_mode_reports_a_stale_seed(tmp_path, capsys):
    for name, text in generator.generate().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert generator.main(["--check", "--project-dir", str(tmp_path)]) == 0
    (tmp_path / "seeds/state_lookup.csv").write_text("country_alpha_2,lookup_key,state_code\n", encoding="utf-8")
    assert generator.main(["--check", "--project-dir", str(tmp_path)]) == 1
    assert "seeds/state_lookup.csv" in capsys.readouterr().err


def test_country_lookup_covers_every_iso_country_code_and_name():
    lookup = {r["lookup_key"]: r["alpha_2"] for r in read("seeds/country_lookup.csv")}
    for country in pycountry.countries:
        assert lookup[country.alpha_2.lower()] == country.alpha_2
        assert lookup[country.alpha_3.lower()] == country.alpha_2
        assert lookup[generator.lookup_key(country.name)] == country.alpha_2


@pytest.mark.parametrize(("written", "alpha_2"), [
    ("United States", "US"), ("USA", "US"), ("U.S.", "US"), ("U.S.A.", "US"), ("United States of America", "US"),
    ("United Kingdom", "GB"), ("UK", "GB"), ("Great Britain", "GB"), ("England", "GB"), ("Deutschland", "DE"),
    ("Korea, Republic of", "KR"), ("Republic of Korea", "KR"), ("South Korea", "KR"), ("Côte d'Ivoire", "CI"),
    ("Cote d'Ivoire", "CI"), ("Bolivia", "BO"), ("Viet Nam", "VN"), ("Vietnam", "VN"), ("Türkiye", "TR"),
])
def test_country_aliases(written, alpha_2):
    lookup = {r["lookup_key"]: r["alpha_2"] for r in read("seeds/country_lookup.csv")}
    assert lookup[generator.lookup_key(written)] == alpha_2


def test_garbage_is_not_a_country():
    lookup = {r["lookup_key"] for r in read("seeds/country_lookup.csv")}
    for garbage in ("N/A", "--", "Unknown", "Earth", "XX", "123", ""):
        assert generator.lookup_key(garbage) not in lookup


def test_state_lookup_has_every_us_state_and_canadian_province():
    rows = read("seeds/state_lookup.csv")
    lookup = {(r["country_alpha_2"], r["lookup_key"]): r["state_code"] for r in rows}
    for country in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-")[1]
            assert lookup[(country, code.lower())] == code
            assert lookup[(country, generator.lookup_key(sub.name))] == code
    assert lookup[("US", "california")] == "CA"
    assert lookup[("CA", "quebec")] == lookup[("CA", "québec")] == "QC"
    assert len({r["state_code"] for r in rows if r["country_alpha_2"] == "US"}) == 57  # 50 + DC + 6 outlying
    assert len({r["state_code"] for r in rows if r["country_alpha_2"] == "CA"}) == 13


def test_phone_plans_match_libphonenumber_metadata():
    rows = read("seeds/phone_numbering_plans.csv")
    by_region = {r["region"]: r for r in rows if r["region"] != "001"}
    assert set(by_region) == set(phonenumbers.SUPPORTED_REGIONS)
    for region, row in by_region.items():
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert int(row["calling_code"]) == metadata.country_code
        assert row["possible_lengths"].split("|") == [str(n) for n in sorted(metadata.general_desc.possible_length)]
        assert (row["is_main_region_for_code"] == "true") == (
            phonenumbers.region_code_for_country_code(metadata.country_code) == region)
    main_codes = [r["calling_code"] for r in rows if r["is_main_region_for_code"] == "true"]
    assert sorted(main_codes, key=int) == sorted({str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}, key=int)
    assert by_region["US"]["international_prefix"] == "011" and by_region["GB"]["national_prefix_pattern"].startswith("0")


def test_calling_codes_are_prefix_free():
    codes = {r["calling_code"] for r in read("seeds/phone_numbering_plans.csv")}
    assert not [(a, b) for a in codes for b in codes if a != b and b.startswith(a)]


def test_phone_patterns_have_no_capturing_groups():
    for row in read("seeds/phone_numbering_plans.csv"):
        for column in ("international_prefix", "national_prefix_pattern", "national_number_pattern"):
            assert re.compile(row[column]).groups == 0, (row["region"], column)
