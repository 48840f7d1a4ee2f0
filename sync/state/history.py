"""The state reads both stores make in one SQL: the report's (runs, match-key counts, dead letters
by reason, Dataset Quality answers: counts and scores, no identifier, no secret) and `StoreReads`."""
from __future__ import annotations

import datetime as dt
import json
from typing import Callable

from sync.match_keys import MATCH_KEYS
from sync.state.base import DEAD_LETTERS, MATCH_KEY_COUNTS, QUALITY, RUNS, WATERMARKS, RunRecord

MATCH_KEY_COLUMNS = ("sync_name", "run_id", "recorded_at", "events", *MATCH_KEYS)
QUALITY_COLUMNS = ("sync_name", "dataset_id", "fetched_at", "api_version", "agent_name", "event_name",
                   "composite_score", "match_key_score", "frequency_score", "freshness_score",
                   "email_coverage", "phone_coverage", "recommendations")
_QUALITY_FLOATS = QUALITY_COLUMNS[6:12]
RUN_COLUMNS = ("run_id", "sync_name", "started_at", "ended_at", "status", "dry_run", "full_refresh", "rows_read",
               "events_sent", "batches_sent", "skipped", "failed", "dead_lettered", "fbtrace_ids",
               "watermark_before", "watermark_after", "error")


def ddl(types: dict[str, str]) -> dict[str, str]:
    """The two tables' columns in a dialect (types: STRING/INT/TIMESTAMP/FLOAT -> its names)."""
    s, i, t, f = types["STRING"], types["INT"], types["TIMESTAMP"], types["FLOAT"]
    return {
        MATCH_KEY_COUNTS: f"sync_name {s} NOT NULL, run_id {s}, recorded_at {t}, events {i}, "
                          + ", ".join(f"{key} {i}" for key in MATCH_KEYS),
        QUALITY: f"sync_name {s} NOT NULL, dataset_id {s}, fetched_at {t}, api_version {s}, agent_name {s}, "
                 f"event_name {s}, " + ", ".join(f"{c} {f}" for c in _QUALITY_FLOATS) + f", recommendations {s}",
    }


class History:
    """Reads and the two inserts, given a store's way to run a query and to write a literal."""

    def __init__(self, sync_name: str, tables: dict[str, str], rows: Callable[[str], list[dict]],
                 literal: Callable[[object], str]):
        self.sync_name = sync_name
        self.q = tables
        self.rows = rows
        self.literal = literal

    def mine(self) -> str:
        """The condition on a row of this sync."""
        return f"sync_name = {self.literal(self.sync_name)}"

    def _since(self, column: str, since: dt.datetime | None) -> str:
        return self.mine() if since is None else f"{self.mine()} AND {column} >= {self.literal(since)}"

    # --- writes ----------------------------------------------------------------------------

    def insert_match_keys(self, run: RunRecord) -> str | None:
        """The statement recording a finished run's counts (None when it sent nothing)."""
        if not run.events_sent:
            return None
        values = [run.sync_name, run.run_id, run.ended_at or run.started_at, int(run.events_sent),
                  *(int(run.match_keys.get(key, 0)) for key in MATCH_KEYS)]
        return (f"INSERT INTO {self.q[MATCH_KEY_COUNTS]} ({', '.join(MATCH_KEY_COLUMNS)}) VALUES "
                f"({', '.join(self.literal(v) for v in values)})")

    def insert_quality(self, rows: list[dict]) -> str | None:
        """The statement recording one answer of the Dataset Quality API (one row per event name)."""
        if not rows:
            return None
        tuples = []
        for row in rows:
            values = [self.sync_name, *(row.get(c) for c in QUALITY_COLUMNS[1:])]
            values[-1] = json.dumps(values[-1] or {}, sort_keys=True)
            tuples.append("(" + ", ".join(self.literal(v) for v in values) + ")")
        return f"INSERT INTO {self.q[QUALITY]} ({', '.join(QUALITY_COLUMNS)}) VALUES {', '.join(tuples)}"

    # --- reads -----------------------------------------------------------------------------

    def runs(self, since: dt.datetime | None) -> list[dict]:
        """Finished and unfinished runs started since `since`, oldest first (dry runs are never recorded)."""
        runs = self.rows(
            f"SELECT run_id, started_at, ended_at, status, full_refresh, rows_read, events_sent, batches_sent, "
            f"skipped, failed, dead_lettered, error FROM {self.q[RUNS]} WHERE {self._since('started_at', since)} "
            "ORDER BY started_at, run_id")
        for run in runs:
            run["skipped"] = json.loads(run["skipped"]) if run["skipped"] else {}
        return runs

    def match_key_counts(self, since: dt.datetime | None) -> list[dict]:
        return self.rows(f"SELECT run_id, recorded_at, events, {', '.join(MATCH_KEYS)} FROM {self.q[MATCH_KEY_COUNTS]} "
                         f"WHERE {self._since('recorded_at', since)} ORDER BY recorded_at, run_id")

    def dead_letter_counts(self, since: dt.datetime | None) -> list[dict]:
        """Dead letters recorded since `since` (resolved ones too), by stage, reason and Graph code."""
        return self.rows(
            f"SELECT stage, reason, code, error_subcode, COUNT(*) AS n FROM {self.q[DEAD_LETTERS]} "
            f"WHERE {self._since('recorded_at', since)} GROUP BY stage, reason, code, error_subcode "
            "ORDER BY n DESC, stage, reason")

    def quality(self, since: dt.datetime | None) -> list[dict]:
        rows = self.rows(f"SELECT {', '.join(QUALITY_COLUMNS[1:])} FROM {self.q[QUALITY]} "
                         f"WHERE {self._since('fetched_at', since)} ORDER BY fetched_at, event_name")
        for row in rows:
            row["recommendations"] = json.loads(row["recommendations"]) if row["recommendations"] else {}
        return rows


class StoreReads:
    """The StateStore methods both stores run in the same SQL, through the store's `history`."""

    q: dict[str, str]
    history: History

    def read_watermark(self) -> int | None:
        rows = self.history.rows(f"SELECT MAX(watermark) AS watermark FROM {self.q[WATERMARKS]} "
                                 f"WHERE {self.history.mine()}")
        return rows[0]["watermark"] if rows else None

    def last_runs(self, limit: int = 10) -> list[dict]:
        runs = self.history.rows(f"SELECT {', '.join(RUN_COLUMNS)} FROM {self.q[RUNS]} "
                                 f"WHERE {self.history.mine()} "
                                 f"ORDER BY started_at DESC LIMIT {self.history.literal(int(limit))}")
        for run in runs:
            run["skipped"] = json.loads(run["skipped"]) if run["skipped"] else {}
            run["fbtrace_ids"] = json.loads(run["fbtrace_ids"]) if run["fbtrace_ids"] else []
        return runs

    def dead_letters(self, event_ids: list[str] | None = None, include_resolved: bool = False,
                     limit: int | None = None) -> list[dict]:
        literal = self.history.literal
        sql = f"SELECT * FROM {self.q[DEAD_LETTERS]} WHERE {self.history.mine()}"
        if not include_resolved:
            sql += " AND resolved_at IS NULL"
        if event_ids is not None:
            if not event_ids:
                return []
            sql += f" AND event_id IN ({', '.join(literal(i) for i in sorted(set(event_ids)))})"
        sql += " ORDER BY recorded_at NULLS LAST, event_time NULLS LAST, event_id NULLS LAST"
        if limit is not None:
            sql += f" LIMIT {literal(int(limit))}"
        return self.history.rows(sql)

    def record_quality(self, rows: list[dict]) -> None:
        """One answer of the Dataset Quality API, a row per event name (history: never replaced)."""
        statement = self.history.insert_quality(rows)
        if statement:
            self.history.rows(statement)

    def dead_letter_count(self) -> int:
        return self.history.rows(f"SELECT COUNT(*) AS n FROM {self.q[DEAD_LETTERS]} "
                                 f"WHERE {self.history.mine()} AND resolved_at IS NULL")[0]["n"]
