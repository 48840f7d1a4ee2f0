"""What the run needs from a warehouse source: `ReadyChunk`s of at most chunk_size rows in
(cursor, event_id) order, NULL cursors last, and the page query both warehouses run."""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple, Protocol

from sync.contract import (ACTION_SOURCES, CUSTOM_DATA_JSON, EVENT_KEYS, LDU_KEYS, MAX_FUTURE_SKEW, SKIP_REASONS,
                           USER_DATA_JSON, oldest_allowed)
from sync.errors import SettingsConflictError, SourceError
from sync.events import REQUIRED_COLUMNS, EventSettings, ReadyChunk
from sync.identifiers import sql_literal

CURSOR_KEY = "_cursor"


class Source(Protocol):
    description: str   # e.g. "analytics.offline_events in data/warehouse.duckdb", for messages

    def check_columns(self) -> None:
        """Raise SourceError naming the relation and column when a required column is missing."""

    def read_ready(self, lower_bound: int | None, exclude_sent: bool, settings: EventSettings) -> Iterator[ReadyChunk]:
        """Rows with cursor >= lower_bound (all when None) or a NULL cursor; when exclude_sent,
        minus the event ids in this sync's ledger and its unresolved dead letters."""

    def read_event_ids_ready(self, event_ids: list[str], settings: EventSettings) -> Iterator[ReadyChunk]:
        """The rows with these event ids (for a dead-letter retry), same ordering."""

    def close(self) -> None: ...


class ColumnChecks:
    """`check_columns` of a source with `relation`, `cursor_column`, `CURSOR_TYPES`, `_config_ldu`,
    `columns()` (which fills `_types`) and `_events_set_ldu()` (an event sets LDU itself)."""

    def check_columns(self) -> None:
        """Raise SourceError naming the relation and the first required column it lacks, or the
        cursor column's type when it is not an integer (unix seconds); refuse two LDU settings."""
        present = set(self.columns())
        for column in (*REQUIRED_COLUMNS, self.cursor_column):
            if column not in present:
                raise SourceError(f"source.relation: {self.relation} has no column {column!r} "
                                  f"(has: {', '.join(sorted(present))})")
        type_name = self._types[self.cursor_column]
        if type_name.upper() not in self.CURSOR_TYPES:
            raise SourceError(f"cursor.column: column {self.cursor_column!r} of {self.relation} is "
                              f"{type_name}; the cursor must be an integer column of unix seconds, like "
                              "event_time; nothing was sent")
        if self._config_ldu and self._event_ldu() and self._events_set_ldu():
            raise SettingsConflictError(f"destination.data_processing_options: {self.relation} sets Limited Data "
                                        "Use per event (column data_processing_options, from the warehouse's "
                                        "limited_data_use vars); remove the sync-wide key or the warehouse's vars, "
                                        "not both; nothing was sent")

    def _event_ldu(self) -> bool:
        """The relation has the per-event Limited Data Use columns (all three; a part of them is a
        SourceError naming the first missing one)."""
        if not self._types:
            self.columns()
        found = [key for key in LDU_KEYS if key in self._types]
        if found and len(found) < len(LDU_KEYS):
            missing = next(key for key in LDU_KEYS if key not in self._types)
            raise SourceError(f"source.relation: {self.relation} has {found[0]!r} but no column {missing!r}: "
                              f"per-event Limited Data Use needs all of {', '.join(LDU_KEYS)}; nothing was sent")
        return bool(found)


def row_checks(settings: EventSettings, c: dict[str, str], contents: str) -> list[tuple[str, str]]:
    """(skip reason, the SQL condition a row must meet) of the contract's checks in order, but
    duplicates and the hash check (ready.py); c: column -> its SQL; `contents`: it has contents."""
    now = int(settings.now)
    sources = ", ".join(sql_literal(s) for s in sorted(ACTION_SOURCES))
    conditions = {
        "missing_event_id": f"coalesce({c['event_id']}, '') <> ''",
        "missing_event_name": f"coalesce({c['event_name']}, '') <> ''",
        "invalid_action_source": f"{c['action_source']} IN ({sources})",
        "missing_event_time": f"{c['event_time']} IS NOT NULL",
        "event_time_in_future": f"{c['event_time']} <= {now + MAX_FUTURE_SKEW}",
        "event_time_too_old": f"{c['event_time']} >= CASE WHEN {c['action_source']} = 'physical_store' "
                              f"THEN {oldest_allowed(now, 'physical_store')} ELSE {oldest_allowed(now, None)} END",
        "no_customer_identifier": f"{c[USER_DATA_JSON]} IS NOT NULL",
        "missing_currency": f"coalesce({c['currency']}, '') <> ''",
        "missing_value": f"{c['value']} IS NOT NULL",
        "non_positive_value": f"{c['value']} > 0",
        "empty_contents": contents,
        "missing_custom_data": f"{c[CUSTOM_DATA_JSON]} IS NOT NULL",
    }
    return [(reason, conditions[reason]) for reason in SKIP_REASONS if reason in conditions]


class Dialect(NamedTuple):
    """What the read query needs to know of a warehouse's SQL."""

    quote: Callable[[str], str]         # an identifier
    to_json: Callable[[str], str]       # a value's JSON text
    double: str                         # the type of a double
    array_length: str                   # the function giving an array's length


def event_ldu_sql(relation_sql: str) -> str:
    """A query giving a row when some event of the relation sets Limited Data Use itself."""
    return f"SELECT 1 FROM {relation_sql} WHERE data_processing_options_country IS NOT NULL LIMIT 1"


def ready_query(source: str, settings: EventSettings, dialect: Dialect, extra: tuple[str, ...] = (),
                ldu: bool = False) -> str:
    """A page's columns for sync/sources/ready.py from the query `source` (REQUIRED_COLUMNS, `_cursor`,
    `extra` passed on): `_skip`, `_user_data`, and for a passing row `_head`, `_custom_data` (`_ldu` if `ldu`)."""
    q = dialect.quote
    c = {name: f"s.{q(name)}" for name in (*REQUIRED_COLUMNS, *(LDU_KEYS if ldu else ()))}
    ldu_part = f", CASE WHEN s._skip IS NULL THEN {_ldu_sql(c, dialect)} END AS _ldu" if ldu else ""
    passed = ", ".join(f"s.{q(name)}" for name in ("event_id", "order_id", "event_time", CURSOR_KEY, *extra))
    return (f"SELECT {passed}, s._skip, s.{q('action_source')}, CAST(s.{q('value')} AS {dialect.double}) AS "
            f"{q('value')}, CASE WHEN s._skip IS NULL THEN {head_sql(c, dialect)} END AS _head, "
            f"{c[USER_DATA_JSON]} AS _user_data, CASE WHEN s._skip IS NULL THEN {c[CUSTOM_DATA_JSON]} END "
            f"AS _custom_data{ldu_part} "
            f"FROM (SELECT s.*, {skip_sql(settings, c, dialect)} AS _skip FROM ({source}) AS s) AS s")


def head_sql(c: dict[str, str], dialect: Dialect) -> str:
    """The event's first four keys as JSON text, without the closing brace (c: column -> its SQL)."""
    parts = (f"'{sep}\"{key}\":', {dialect.to_json(c[key])}" for sep, key in zip("{,,,", EVENT_KEYS[:4]))
    return f"CONCAT({', '.join(parts)})"


def _ldu_sql(c: dict[str, str], dialect: Dialect) -> str:
    """The event's LDU keys (`,"data_processing_options":["LDU"],...`), each of _country and
    _state when not NULL; '' when the list is empty or NULL (the event sets no LDU)."""
    options, country, state = (c[key] for key in LDU_KEYS)
    parts = [f"',\"{LDU_KEYS[0]}\":', {dialect.to_json(options)}"] + [
        f"CASE WHEN {c[key]} IS NOT NULL THEN CONCAT(',\"{key}\":', {dialect.to_json(c[key])}) ELSE '' END"
        for key in LDU_KEYS[1:]]
    return f"CASE WHEN COALESCE({dialect.array_length}({options}), 0) > 0 THEN CONCAT({', '.join(parts)}) ELSE '' END"


def skip_sql(settings: EventSettings, c: dict[str, str], dialect: Dialect) -> str:
    """The row's first failing check of `row_checks` (its reason), or NULL (c: column -> its SQL)."""
    checks = row_checks(settings, c, f"COALESCE({dialect.array_length}({c['contents']}), 0) > 0")
    return f"CASE {' '.join(f'WHEN NOT COALESCE({cond}, FALSE) THEN {chr(39)}{reason}{chr(39)}' for reason, cond in checks)} END"
