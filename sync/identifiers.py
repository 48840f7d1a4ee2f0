"""Validate and quote SQL identifiers taken from the configuration (no SQL injection)."""
from __future__ import annotations

import datetime as dt
import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# BigQuery project ids may contain dashes (and a domain prefix with ':' and '.').
_PROJECT = re.compile(r"[a-z][a-z0-9.:-]{1,98}[a-z0-9]\Z")


def is_identifier(name: str) -> bool:
    return bool(isinstance(name, str) and _IDENTIFIER.match(name))


def is_project_id(name: str) -> bool:
    return bool(isinstance(name, str) and _PROJECT.match(name))


def quote(name: str) -> str:
    """Double-quote one identifier after checking it is a plain name."""
    if not is_identifier(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return f'"{name}"'


def quote_relation(relation: str) -> str:
    """Quote `schema.table` (or `table`), each part a plain identifier."""
    return ".".join(quote(part) for part in relation.split("."))


def quote_backtick(name: str) -> str:
    """BigQuery quoting for one identifier or project id."""
    if not (is_identifier(name) or is_project_id(name)):
        raise ValueError(f"not a valid identifier: {name!r}")
    return f"`{name}`"


def sql_literal(value) -> str:
    """A SQL literal for a value of the sync's own making (str, int, bool, datetime or None)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.replace(tzinfo=None).isoformat(sep=' ')}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")
