#!/usr/bin/env python3
"""Generate the dbt seeds of reference data used by the normalization models.

    python scripts/generate_reference_seeds.py           # (re)write dbt_project/seeds/*.csv
    python scripts/generate_reference_seeds.py --check   # exit 1 if the committed CSVs are stale

Sources: pycountry (ISO 3166-1 countries, ISO 3166-2 subdivisions) and phonenumbers
(libphonenumber's numbering-plan metadata). The seeds are committed so that `dbt build`
needs neither package; tests/dbt_project/test_reference_seeds.py regenerates and compares.

Seeds written:
- country_lookup.csv        lookup_key -> alpha_2 (codes, ISO names and common aliases)
- state_lookup.csv          country_alpha_2, lookup_key -> state_code (US states, CA provinces)
- phone_numbering_plans.csv one row per phone region: calling code, prefixes, patterns, lengths
and tests/fixtures/phone_numbering_plans__unit_test.csv, a few regions of the latter for
the dbt unit tests.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import unicodedata
from pathlib import Path

import phonenumbers
import pycountry
from phonenumbers import PhoneMetadata

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

# Names people write that ISO 3166 does not list. Key: alias, value: ISO 3166-1 alpha-2.
COUNTRY_ALIASES: dict[str, str] = {
    "America": "US", "U.S. of A.": "US", "United States of America": "US", "The United States": "US",
    "The United States of America": "US", "U.S.A.": "US", "U.S.": "US", "USA": "US", "Estados Unidos": "US",
    "UK": "GB", "U.K.": "GB", "The UK": "GB", "The United Kingdom": "GB", "Great Britain": "GB",
    "Britain": "GB", "England": "GB", "Scotland": "GB", "Wales": "GB", "Northern Ireland": "GB",
    "Holland": "NL", "The Netherlands": "NL", "Nederland": "NL",
    "Deutschland": "DE", "Allemagne": "DE", "España": "ES", "Italia": "IT", "Österreich": "AT",
    "Schweiz": "CH", "Suisse": "CH", "Svizzera": "CH", "Switzerland": "CH", "Belgique": "BE", "België": "BE",
    "México": "MX", "Brasil": "BR", "Nippon": "JP", "Nihon": "JP", "日本": "JP",
    "Korea": "KR", "Republic of Korea": "KR", "대한민국": "KR", "한국": "KR",
    "Russia": "RU", "Vietnam": "VN", "Czech Republic": "CZ", "Turkey": "TR", "Turkiye": "TR",
    "Ivory Coast": "CI", "Macedonia": "MK", "Vatican": "VA", "Vatican City": "VA", "Brunei": "BN",
    "Cape Verde": "CV", "Swaziland": "SZ", "Burma": "MM", "East Timor": "TL", "Palestine": "PS",
    "Micronesia": "FM", "Democratic Republic of the Congo": "CD", "DR Congo": "CD", "DRC": "CD",
    "Republic of the Congo": "CG", "UAE": "AE", "The Bahamas": "BS", "The Gambia": "GM",
    "Hong Kong SAR": "HK", "Macau": "MO", "Saint Martin": "MF", "St Lucia": "LC", "St. Lucia": "LC",
    "St Kitts and Nevis": "KN", "St Vincent and the Grenadines": "VC", "Falkland Islands": "FK",
    "Bosnia": "BA", "Trinidad": "TT", "Canadá": "CA",
}

# Abbreviations people write for US states / Canadian provinces beyond the ISO codes and names.
# AP-style abbreviations of US states ("Calif.", "Mass.") and a few older or informal names.
_AP_STATES = ("Ala.=AL Ariz.=AZ Ark.=AR Calif.=CA Colo.=CO Conn.=CT Del.=DE Fla.=FL Ga.=GA Ill.=IL Ind.=IN "
              "Kan.=KS Ky.=KY La.=LA Md.=MD Mass.=MA Mich.=MI Minn.=MN Miss.=MS Mo.=MO Mont.=MT Neb.=NE "
              "Nev.=NV N.H.=NH N.J.=NJ N.M.=NM N.Y.=NY N.C.=NC N.D.=ND Okla.=OK Ore.=OR Pa.=PA R.I.=RI "
              "S.C.=SC S.D.=SD Tenn.=TN Tex.=TX Vt.=VT Va.=VA Wash.=WA W.Va.=WV Wis.=WI Wyo.=WY")
STATE_ALIASES: dict[tuple[str, str], str] = {
    **{("US", a.split("=")[0]): a.split("=")[1] for a in _AP_STATES.split()},
    ("US", "Washington DC"): "DC", ("US", "Washington D.C."): "DC", ("US", "Calif"): "CA", ("US", "Penn."): "PA",
    ("CA", "Québec"): "QC", ("CA", "PQ"): "QC", ("CA", "Newfoundland"): "NL", ("CA", "NF"): "NL",
    ("CA", "Yukon Territory"): "YT", ("CA", "NWT"): "NT", ("CA", "PEI"): "PE",
}

_SPACES = re.compile(r"[\t\n\f\r ]+")


def lookup_key(value: str) -> str:
    """The key both the seeds and the SQL use to look a name up: NFC, lowercase,
    periods dropped, whitespace runs collapsed to one space, trimmed."""
    value = unicodedata.normalize("NFC", value).lower().replace(".", "")
    return _SPACES.sub(" ", value).strip(" ")


def _variants(name: str) -> set[str]:
    """A name, its punctuation-free form, its accent-free form, and 'B A' for 'A, B'."""
    forms = {name}
    if ", " in name:
        head, tail = name.split(", ", 1)
        forms.add(f"{tail} {head}")
    for form in list(forms):
        forms.add(re.sub(r"[^\w\s]", " ", form).replace("_", " "))
        forms.add(re.sub(r"[^\w\s]", "", form))
    for form in list(forms):
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", form) if not unicodedata.combining(ch))
        forms.add(folded)
    return {lookup_key(f) for f in forms if lookup_key(f)}


def _add(table: dict, key, value, what: str) -> None:
    if key in table and table[key] != value:
        raise SystemExit(f"generate_reference_seeds: {what} key {key!r} maps to both {table[key]} and {value}")
    table[key] = value


def country_lookup_rows() -> list[dict[str, str]]:
    by_key: dict[str, str] = {}
    explicit: dict[str, str] = {}
    for alias, alpha_2 in COUNTRY_ALIASES.items():
        if pycountry.countries.get(alpha_2=alpha_2) is None:
            raise SystemExit(f"generate_reference_seeds: alias {alias!r} names unknown country {alpha_2}")
        for key in _variants(alias):
            _add(explicit, key, alpha_2, "country alias")
    for country in pycountry.countries:
        codes = {lookup_key(country.alpha_2), lookup_key(country.alpha_3)}
        for key in codes:
            _add(by_key, key, country.alpha_2, "country code")
    for country in pycountry.countries:
        names = {getattr(country, attr, None) for attr in ("name", "official_name", "common_name")}
        for name in filter(None, names):
            for key in _variants(name):
                if key in by_key and by_key[key] != country.alpha_2:
                    continue  # never let a name shadow a code
                if key in explicit:
                    continue
                _add(by_key, key, country.alpha_2, "country name")
    for key, alpha_2 in explicit.items():
        if key in by_key and by_key[key] != alpha_2 and len(key) <= 3:
            raise SystemExit(f"generate_reference_seeds: alias {key!r} would shadow the code of {by_key[key]}")
        by_key[key] = alpha_2
    return [{"lookup_key": k, "alpha_2": v} for k, v in sorted(by_key.items())]


def state_lookup_rows() -> list[dict[str, str]]:
    table: dict[tuple[str, str], str] = {}
    for country in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-", 1)[1]
            _add(table, (country, lookup_key(code)), code, "state code")
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-", 1)[1]
            for key in _variants(sub.name):
                _add(table, (country, key), code, "state name")
    for (country, alias), code in STATE_ALIASES.items():
        for key in _variants(alias):
            _add(table, (country, key), code, "state alias")
    return [{"country_alpha_2": c, "lookup_key": k, "state_code": v} for (c, k), v in sorted(table.items())]


_CAPTURING_GROUP = re.compile(r"(?<!\\)\((?!\?)")


def non_capturing(pattern: str | None) -> str:
    """The same regex with every capturing group made non-capturing, so that
    BigQuery's REGEXP_EXTRACT (at most one group) and DuckDB's agree, and `\\d` spelled
    `[0-9]` (the same in RE2): dbt-bigquery renders unit-test fixture values as non-raw
    string literals, where BigQuery rejects `\\d`."""
    if not pattern:
        return ""
    if re.search(r"\[[^\]]*\\d", pattern):
        raise SystemExit(f"generate_reference_seeds: \\d inside a character class in {pattern!r}")
    converted = _CAPTURING_GROUP.sub("(?:", pattern).replace("\\d", "[0-9]")
    re.compile(converted)
    return converted


def _plan_row(region: str, metadata, is_main: bool) -> dict[str, str]:
    general = metadata.general_desc
    lengths = sorted(general.possible_length)
    return {
        "region": region,
        "calling_code": str(metadata.country_code),
        "is_main_region_for_code": "true" if is_main else "false",
        "international_prefix": non_capturing(metadata.international_prefix),
        "national_prefix_pattern": non_capturing(metadata.national_prefix_for_parsing),
        "national_number_pattern": non_capturing(general.national_number_pattern),
        "possible_lengths": "|".join(str(n) for n in lengths),
        "local_only_lengths": "|".join(str(n) for n in sorted(general.possible_length_local_only)),
        "min_length": str(lengths[0]),
        "max_length": str(lengths[-1]),
    }


def phone_numbering_plan_rows() -> list[dict[str, str]]:
    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = PhoneMetadata.metadata_for_region(region)
        is_main = phonenumbers.region_code_for_country_code(metadata.country_code) == region
        rows.append(_plan_row(region, metadata, is_main))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        rows.append(_plan_row("001", PhoneMetadata.metadata_for_nongeo_region(code), True))
    codes = [r["calling_code"] for r in rows if r["is_main_region_for_code"] == "true"]
    if len(codes) != len(set(codes)):
        raise SystemExit("generate_reference_seeds: a calling code has two main regions")
    return rows


UNIT_TEST_REGIONS = ("CA", "CH", "DE", "FR", "GB", "JP", "US")


def phone_numbering_plan_unit_test_rows() -> list[dict[str, str]]:
    """The plans of a few regions, as a dbt unit-test fixture (tests/fixtures)."""
    return [r for r in phone_numbering_plan_rows() if r["region"] in UNIT_TEST_REGIONS]


# Path relative to dbt_project/ -> builder.
SEEDS = {
    "seeds/country_lookup.csv": country_lookup_rows,
    "seeds/state_lookup.csv": state_lookup_rows,
    "seeds/phone_numbering_plans.csv": phone_numbering_plan_rows,
    "tests/fixtures/phone_numbering_plans__unit_test.csv": phone_numbering_plan_unit_test_rows,
}


def render(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def generate() -> dict[str, str]:
    """File name -> CSV text of every seed."""
    return {name: render(build()) for name, build in SEEDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed CSVs, write nothing")
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate().items():
        path = args.project_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale seeds (run scripts/generate_reference_seeds.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
