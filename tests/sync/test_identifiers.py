"""SQL identifiers and literals of the sync's own making."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from sync.identifiers import quote, quote_relation, sql_literal


def test_literals_round_trip_through_duckdb():
    values = ["plain", "it's", "", "é€😀", 0, -5, 2**62, True, False, None,
              dt.datetime(2026, 11, 22, 10, 30, 1, 123456), dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)]
    (row,) = duckdb.sql("SELECT " + ", ".join(sql_literal(v) for v in values)).fetchall()
    assert list(row) == values[:-1] + [dt.datetime(2026, 1, 2)]


def test_no_literal_for_other_types():
    with pytest.raises(TypeError, match="no SQL literal for float"):
        sql_literal(1.5)


def test_identifiers_are_checked_and_quoted():
    assert quote_relation("analytics.offline_events") == '"analytics"."offline_events"'
    with pytest.raises(ValueError, match="not a valid identifier"):
        quote('x"; DROP TABLE y; --')
