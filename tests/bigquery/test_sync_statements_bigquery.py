"""How many statements a 100,000-event run issues on BigQuery (docs/bigquery.md quotes the
numbers): the real runner, the BigQuery source and state store against the emulator, the real
Conversions API emulator; every statement counted at google-cloud-bigquery's Client."""
from __future__ import annotations

import textwrap
import time
from collections import Counter

import pytest
from google.cloud._http import JSONConnection

from bench.bigquery_read import create_events
from sync.config import parse_config
from sync.emulator import ConversionsApiEmulator
from sync.runner import SyncRun

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

TOKEN = "statements-token"
EVENTS = 100_000


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """Each statement any BigQuery client sends (jobs.query or jobs.insert), by its first
    keyword (SELECT, INSERT, MERGE, ...)."""
    sent: list[str] = []
    api_request = JSONConnection.api_request

    def counting(self, method, path, *args, data=None, **kwargs):
        if method == "POST" and isinstance(data, dict):
            sql = data.get("query") or data.get("configuration", {}).get("query", {}).get("query")
            if sql:
                sent.append(sql.split(None, 1)[0].upper())
        return api_request(self, method, path, *args, data=data, **kwargs)

    monkeypatch.setattr(JSONConnection, "api_request", counting)
    return sent


def test_statements_of_a_100000_event_run(bigquery_emulator, statements, monkeypatch):
    dataset = bigquery_emulator.create_dataset("view100k")
    state_dataset = bigquery_emulator.create_dataset("state100k")
    now = int(time.time())
    create_events(bigquery_emulator, dataset, EVENTS, now)   # the benchmark's table of sendable events
    statements.clear()
    monkeypatch.setenv("CAPI_STATEMENTS_TOKEN", TOKEN)
    with ConversionsApiEmulator(access_token=TOKEN, validate=False) as emu:
        config = parse_config(textwrap.dedent(f"""\
            name: statements
            source: {{type: bigquery, project: {bigquery_emulator.project}, dataset: {dataset},
                      api_endpoint: "{bigquery_emulator.api_endpoint}"}}
            state: {{dataset: {state_dataset}}}
            destination:
              endpoint: "{emu.url}"
              dataset_id: "1"
              access_token: "{{{{ env_var('CAPI_STATEMENTS_TOKEN') }}}}"
            """))
        assert config.checkpoint_every_batches == 50 and config.destination.batch_size == 1000
        started = time.monotonic()
        first = SyncRun(config).run()
        seconds = time.monotonic() - started
        first_run = Counter(statements)
        statements.clear()
        second = SyncRun(config).run()
        assert len(emu.accepted_event_ids()) == EVENTS
    assert (first.status, first.events_sent, first.batches_sent) == ("succeeded", EVENTS, 100)
    assert (second.status, second.events_sent, second.rows_read) == ("succeeded", 0, 0)

    # The first run also creates the 7 state tables. Then: lock (read, MERGE, read back),
    # the runs to mark abandoned, the watermark, the run row, the source query, the checkpoints
    # (each: ledger INSERTs of <= ~10,000 events, one watermark MERGE), prune, run row, its
    # match-key counts, release.
    checkpoint_inserts = first_run["INSERT"] - 2
    checkpoint_merges = first_run["MERGE"] - 4        # lock, prune, finish_run, release
    print(f"\n100,000-event run: {sum(first_run.values())} statements {dict(first_run)} in {seconds:.1f}s; "
          f"checkpoints: {checkpoint_merges} ({checkpoint_inserts} ledger INSERTs); "
          f"next run: {len(statements)} {dict(Counter(statements))}")
    assert first_run["CREATE"] == 7
    assert first_run["SELECT"] == 5
    # at least one checkpoint per 50 batches (2), at most one per batch plus the final one;
    # every 5 s at the least, so a slow run makes more: ledger INSERTs <= checkpoints + 10
    assert 2 <= checkpoint_merges <= 101
    assert checkpoint_merges <= checkpoint_inserts <= checkpoint_merges + EVENTS // 8000
    assert sum(first_run.values()) == 7 + 5 + 2 + checkpoint_inserts + 4 + checkpoint_merges
    # a run with nothing new: lock 3, runs 1, watermark 1, run row 1, source 1, prune 1, run row 1, release 1
    assert Counter(statements) == {"SELECT": 5, "MERGE": 4, "INSERT": 1}
