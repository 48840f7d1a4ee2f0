"""An independent Python implementation of issue 2's rules for the offline_events view.

Written from the issue text (not from the SQL) so tests can compare the two on data
neither has seen: eligibility, grouping by order, and the normalization + SHA-256 of
every customer identifier. Reference libraries: phonenumbers (libphonenumber) for
phone numbers, pycountry for ISO 3166 country and subdivision names.
"""
from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import phonenumbers
import pycountry

# Common ways to write a country that ISO 3166 does not list (issue: USA, U.S., UK, Great
# Britain, ...), keyed by the folded form (see _fold).
COUNTRY_ALIASES = {
    "usa": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "holland": "NL", "deutschland": "DE", "schweiz": "CH", "suisse": "CH",
    "brasil": "BR", "mexico": "MX", "espana": "ES", "italia": "IT", "south korea": "KR", "korea": "KR",
    "russia": "RU", "vietnam": "VN", "turkey": "TR", "czech republic": "CZ", "日本": "JP", "대한민국": "KR",
}

# Associated Press abbreviations of US states, and two Canadian extras.
_AP = {"ala": "AL", "ariz": "AZ", "ark": "AR", "calif": "CA", "colo": "CO", "conn": "CT", "del": "DE",
       "fla": "FL", "ga": "GA", "ill": "IL", "ind": "IN", "kan": "KS", "ky": "KY", "la": "LA", "md": "MD",
       "mass": "MA", "mich": "MI", "minn": "MN", "miss": "MS", "mo": "MO", "mont": "MT", "neb": "NE",
       "nev": "NV", "nh": "NH", "nj": "NJ", "nm": "NM", "ny": "NY", "nc": "NC", "nd": "ND", "okla": "OK",
       "ore": "OR", "pa": "PA", "ri": "RI", "sc": "SC", "sd": "SD", "tenn": "TN", "tex": "TX", "vt": "VT",
       "va": "VA", "wash": "WA", "wva": "WV", "wis": "WI", "wyo": "WY", "washington dc": "DC"}
STATE_ALIASES = {**{("US", k): v for k, v in _AP.items()}, ("CA", "pq"): "QC"}


def sha256(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()


def _fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: 'U.S.' -> 'u s', 'Québec' -> 'quebec'."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace(".", "").replace("'", "")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(_fold(value), country.alpha_2)
        if "," in country.name:
            head, tail = country.name.split(",", 1)
            index.setdefault(_fold(f"{tail} {head}"), country.alpha_2)
    for alias, alpha_2 in COUNTRY_ALIASES.items():
        index[_fold(alias)] = alpha_2
    return index


_COUNTRIES = _country_index()


def normalize_country(raw: str | None) -> str | None:
    """ISO 3166-1 alpha-2 (upper case) from a code, name or alias; None when unknown."""
    if raw is None:
        return None
    return _COUNTRIES.get(_fold(raw))


def _state_index() -> dict[tuple[str, str], str]:
    index: dict[tuple[str, str], str] = {}
    for country in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-")[1]
            index[(country, _fold(code))] = code
            index[(country, _fold(sub.name))] = code
    for key, code in STATE_ALIASES.items():
        index[(key[0], _fold(key[1]))] = code
    return index


_STATES = _state_index()


def letters_only(raw: str | None) -> str | None:
    """NFC, lowercase, letters (and their combining marks) of any script only."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).lower()
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] in ("L", "M"))
    return kept or None


def normalize_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    email = raw.strip().lower()
    return email if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else None


def normalize_state(raw: str | None, country: str) -> str | None:
    if country in ("US", "CA"):
        if raw is None or not raw.strip():
            return None
        code = _STATES.get((country, _fold(raw)))
        return code.lower() if code else None
    return letters_only(raw)


def normalize_zip(raw: str | None, country: str) -> str | None:
    if raw is None:
        return None
    text = re.sub(r"[\s\-]", "", raw.lower())
    if country == "US":
        return text[:5] if re.match(r"\d{5}", text) else None
    return text or None


def normalize_birthdate(value: date | None, as_of: datetime) -> str | None:
    if value is None or not (1900 <= value.year <= as_of.year):
        return None
    return value.strftime("%Y%m%d")


def normalize_gender(raw: str | None) -> str | None:
    if raw is None:
        return None
    return {"f": "f", "female": "f", "m": "m", "male": "m"}.get(raw.strip().lower())


def normalize_phone(raw: str | None, region: str) -> str | None:
    """E.164 digits without '+' per libphonenumber with `region` as the default region,
    except that a leading '00' always introduces a calling code (the issue's rule);
    None unless 9 to 15 digits."""
    if raw is None:
        return None
    start = re.search(r"[+0-9]", raw)
    if not start:
        return None
    text = raw[start.start():]
    if not text.startswith("+"):
        digits = re.sub(r"\D", "", text)
        if digits.startswith("00") and digits[2:3] not in ("", "0"):
            # drop the two zeros wherever the formatting put them
            zeros = 0
            for i, ch in enumerate(text):
                if ch == "0":
                    zeros += 1
                    if zeros == 2:
                        text = "+" + text[i + 1:]
                        break
    try:
        number = phonenumbers.parse(text, region if region in phonenumbers.SUPPORTED_REGIONS else None)
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    return e164 if 9 <= len(e164) <= 15 else None


@dataclass
class Customer:
    amperity_id: str | None
    email: str | None = None
    phone: str | None = None
    given_name: str | None = None
    surname: str | None = None
    birthdate: date | None = None
    gender: str | None = None
    city: str | None = None
    state: str | None = None
    postal: str | None = None
    country: str | None = None


def customer_identifiers(c: Customer, as_of: datetime, default_country: str = "US") -> dict[str, str | None]:
    """Normalized (not hashed) em, ph, fn, ln, db, ge, ct, st, zp, country, external_id."""
    country = normalize_country(c.country)
    effective = country or default_country.upper()
    external = c.amperity_id.strip().lower() if c.amperity_id is not None else None
    return {
        "em": normalize_email(c.email),
        "ph": normalize_phone(c.phone, effective),
        "fn": letters_only(c.given_name),
        "ln": letters_only(c.surname),
        "db": normalize_birthdate(c.birthdate, as_of),
        "ge": normalize_gender(c.gender),
        "ct": letters_only(c.city),
        "st": normalize_state(c.state, effective),
        "zp": normalize_zip(c.postal, effective),
        "country": country.lower() if country else None,
        "external_id": external or None,
    }


@dataclass
class Settings:
    as_of: datetime
    event_name: str = "Purchase"
    action_source: str = "physical_store"
    default_currency: str = "USD"
    default_country: str = "US"
    lookback_days: int = 62
    purchase_channels: list[str] = field(default_factory=list)
    purchase_brands: list[str] = field(default_factory=list)


def _line_currency(raw: str | None, default: str) -> str | None:
    if raw is None or not raw.strip():
        return default.upper()
    raw = raw.strip()
    return raw.upper() if re.fullmatch(r"[A-Za-z]{3}", raw) else None


def offline_events(customers: list[Customer], lines: list[dict], settings: Settings) -> dict[str, dict]:
    """order_id -> the event row the view must hold (hashes included), for eligible orders."""
    by_id = {c.amperity_id: c for c in customers}
    start = settings.as_of - timedelta(days=settings.lookback_days)
    channels = {c.strip().lower() for c in settings.purchase_channels}
    brands = {b.strip().lower() for b in settings.purchase_brands}
    orders: dict[str, list[dict]] = {}
    for line in lines:
        if line["item_quantity"] is None or line["item_quantity"] <= 0:
            continue
        if line["is_return"] or line["is_cancellation"]:
            continue
        if not (start < line["order_datetime"] <= settings.as_of):
            continue
        if channels and (line["purchase_channel"] or "").strip().lower() not in channels:
            continue
        if brands and (line["purchase_brand"] or "").strip().lower() not in brands:
            continue
        orders.setdefault(line["order_id"], []).append(line)

    events = {}
    for order_id, order_lines in orders.items():
        value = sum((Decimal(l["item_revenue"]) for l in order_lines), Decimal("0"))
        ids = [l["amperity_id"] for l in order_lines if l["amperity_id"] is not None]
        customer = by_id.get(max(ids)) if ids else None
        if customer is None:
            continue
        ident = customer_identifiers(customer, settings.as_of, settings.default_country)
        if ident["em"] is None and ident["ph"] is None:
            continue
        currencies = [_line_currency(l["currency"], settings.default_currency) for l in order_lines]
        currency = currencies[0] if None not in currencies and len(set(currencies)) == 1 else None
        products: dict[str, list] = {}
        for l in order_lines:
            entry = products.setdefault(l["product_id"], [0, Decimal("0")])
            entry[0] += l["item_quantity"]
            entry[1] += Decimal(l["item_revenue"])
        stores = [l["store_id"] for l in order_lines if l["store_id"] is not None]
        first = min(l["order_datetime"] for l in order_lines)
        events[order_id] = {
            "event_id": sha256(f"{settings.event_name}:{order_id}"),
            "event_name": settings.event_name,
            "event_time": calendar.timegm(first.utctimetuple()),
            "action_source": settings.action_source,
            "order_id": order_id,
            "currency": currency,
            "value": value,
            "num_items": sum(l["item_quantity"] for l in order_lines),
            "contents": [{"id": pid, "quantity": q, "item_price": float(r) / q}
                         for pid, (q, r) in sorted(products.items())],
            "store_id": max(stores) if stores else None,
            "delivery_category": "in_store" if settings.action_source == "physical_store" else None,
            **{key: sha256(val) for key, val in ident.items()},
        }
    return events
