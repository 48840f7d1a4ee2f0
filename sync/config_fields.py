"""The typed fields of the configuration: each key's parser (it returns the value held or raises
ValueError, shown as `key: <message>`), kept in its dataclass field's metadata by `parsed_by(...)`.
`model(cls)` parses a mapping into `cls`, reporting every problem with its key path (`Problems`).
A (whole) number may be written as text (env_var() renders text), never as true/false.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import MISSING, dataclass, fields
from fractions import Fraction
from typing import Any

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw]?)")
_DURATION = re.compile(r"(?:\d+\s*[smhdw]? *)+")
# The longest duration a key takes: 100 years.
MAX_DURATION = 36_500 * 86_400
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\Z", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "kib": 1024, "mib": 1024 ** 2,
               "gib": 1024 ** 3}


def parse_size(value: Any) -> Any:
    """`4MB` (10^6), `512KiB` (2^10), `4000000` or an integer -> bytes (then range-checked)."""
    m = _SIZE.match(value.strip()) if isinstance(value, str) else None
    if isinstance(value, bool) or isinstance(value, str) and not m:
        raise ValueError(f"must be a size in bytes like 4000000, 4MB or 512KiB (got {value!r})")
    if m is None:
        return value
    size = Fraction(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]   # exact: 1.1KB is 1100
    if size.denominator != 1:
        raise ValueError(f"must be a whole number of bytes (got {value!r})")
    return int(size)


def parse_duration(value: Any) -> int:
    """`3d`, `6h`, `90m`, `1d12h`, `45s` or plain seconds -> seconds."""
    if isinstance(value, bool) or isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a duration like 3d, 6h, 90m or seconds (got {value!r})")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"must not be negative (got {value!r})")
        return _at_most_max_duration(int(value), value)
    text = str(value).strip().lower()
    if not _DURATION.fullmatch(text):
        shown = repr(value) if text else "an empty value"
        raise ValueError(f"must be a duration like 3d, 6h, 90m or seconds (got {shown})")
    seconds = sum(int(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART.findall(text))
    return _at_most_max_duration(seconds, value)


def _at_most_max_duration(seconds: int, value: Any) -> int:
    """A duration no longer than MAX_DURATION (a cursor bound stays far inside an int64)."""
    if seconds > MAX_DURATION:
        raise ValueError(f"must be at most {MAX_DURATION // 86400}d (got {got(value)})")
    return seconds


class Problems(Exception):
    """The problems found under a mapping: (key path below it, message) in key order."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        super().__init__(problems)
        self.problems = problems


def got(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _bounded(number: Any, value: Any, ge: Any = None, gt: Any = None, le: Any = None) -> Any:
    if ge is not None and number < ge:
        raise ValueError(f"must be at least {ge} (got {got(value)})")
    if gt is not None and number <= gt:
        raise ValueError(f"must be greater than {gt} (got {got(value)})")
    if le is not None and number > le:
        raise ValueError(f"must be at most {le} (got {got(value)})")
    return number


_WHOLE = re.compile(r"[+-]?\d+(?:\.0*)?\Z")


def whole(ge: int | None = None, le: int | None = None):
    """A whole number: an integer, a float without a fraction, or text of one (`"250"`)."""
    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _WHOLE.match(value.strip()):
            number = int(value.strip().partition(".")[0])   # what follows a "." is zeros
        else:
            raise ValueError(f"must be a whole number (got {got(value)})")
        return _bounded(number, value, ge=ge, le=le)
    return parse


def number(ge: float | None = None, gt: float | None = None, le: float | None = None):
    """A number (float): an integer, a float, or text of one (`"1.5"`)."""
    def parse(value: Any) -> float:
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            result = float(value)
            if not math.isfinite(result):
                raise ValueError
        except (ValueError, OverflowError):
            raise ValueError(f"must be a number (got {got(value)})") from None
        return _bounded(result, value, *(None if b is None else float(b) for b in (ge, gt, le)))
    return parse


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a text value (got {got(value)})")
    return value


def matching(is_valid, expected: str):
    """Text for which `is_valid(value)` is true; else `must <expected> (got 'value')`."""
    def parse(value: Any) -> str:
        if not is_valid(text(value)):
            raise ValueError(f"must {expected} (got {value!r})")
        return value
    return parse


def optional(parse):
    """None (`null`, or the key left out where its default is None), or what `parse` accepts."""
    return lambda value: None if value is None else parse(value)


def one_of(*choices: Any):
    """Exactly one of `choices` (of the same type: `true` is not 1; a whole number may be text)."""
    shown = [repr(c) for c in choices]
    expected = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]

    def parse(value: Any) -> Any:
        if isinstance(value, str) and _WHOLE.match(value.strip()) and all(type(c) is int for c in choices):
            value = int(value.strip().partition(".")[0])   # a whole number written as text (env_var())
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ValueError(f"must be one of {expected} (got {got(value)})")
        return value
    return parse


def list_of(parse_item, max_length: int):
    def parse(value: Any) -> list:
        if not isinstance(value, list):
            raise ValueError(f"must be a list (got {got(value)})")
        if len(value) > max_length:
            raise ValueError(f"must have at most {max_length} entries (got {got(value)})")
        items, problems = [], []
        for i, item in enumerate(value):
            try:
                items.append(parse_item(item))
            except ValueError as exc:
                problems.append(((i,), str(exc)))
        if problems:
            raise Problems(problems)
        return items
    return parse


def parsed_by(parse, yaml_key: str | None = None) -> dict:
    """Field metadata: the parser of the key's value, and the key's name in YAML when it is
    not the field's (`state.schema` is the field `schema_`, as the code has always named it)."""
    return {"parse": parse, "key": yaml_key}


def model(cls):
    """A mapping of `cls`'s keys -> an instance: every key parsed, required keys present, no
    other key (a close match is suggested)."""
    keyed = [(f.metadata.get("key") or f.name, f) for f in fields(cls)]
    allowed = [name for name, _ in keyed]

    def parse(value: Any):
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping of keys (got {got(value)})")
        values, problems = {}, []
        for name, f in keyed:
            if name in value:
                try:
                    values[f.name] = f.metadata["parse"](value[name])
                except Problems as nested:
                    problems += [((name, *loc), message) for loc, message in nested.problems]
                except ValueError as exc:
                    problems.append(((name,), str(exc)))
            elif f.default is MISSING and f.default_factory is MISSING:
                problems.append(((name,), "is required"))
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                problems.append(((name,), f"unknown key ({hint})"))
        if problems:
            raise Problems(problems)
        return cls(**values)
    return parse


@dataclass(frozen=True, repr=False)
class Secret:
    """A secret string: shown as `**********` by repr() and str(), so never in a log line or an
    error; `get_secret_value()` gives the value."""

    _value: str

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"
