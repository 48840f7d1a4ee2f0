"""The plan of a table read, streamed in batches (sync.sources.duckdb.PLAN_BATCH_ROWS): the
cursor-range pages and the duplicate ids come out the same whatever the batch size, and the
same as computed over the whole read at once."""
from __future__ import annotations

import random
from collections import Counter

import duckdb
import pytest

import sync.sources.duckdb as duckdb_source
from sync.config import parse_config
from sync.sources.duckdb import DuckDBSource, ReadFilter


def make_table(path, rows: list[tuple[str | None, int | None]]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA analytics")
        con.execute("CREATE TABLE analytics.offline_events (event_id VARCHAR, event_time BIGINT)")
        if rows:
            con.execute("INSERT INTO analytics.offline_events SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                        [[r[0] for r in rows], [r[1] for r in rows]])
    finally:
        con.close()


def source_for(path, chunk_size: int) -> DuckDBSource:
    config = parse_config(f"""
name: plan
source:
  type: duckdb
  path: "{path}"
  relation: analytics.offline_events
  chunk_size: {chunk_size}
destination:
  dataset_id: "1"
  access_token: "{{{{ env_var('PLAN_TEST_TOKEN', 'token') }}}}"
""")
    return DuckDBSource(config, read_only=True)


def expected_pages(rows, chunk_size: int) -> list[tuple[str, list]]:
    """The pages over the whole read at once: a page starts at the cursor value whose first
    row falls in a new multiple of chunk_size; NULL cursors last."""
    counts = Counter(t for _, t in rows if t is not None)
    pages, before, page = [], 0, -1
    for value in sorted(counts):
        if before // chunk_size != page:
            pages.append([value, value])
            page = before // chunk_size
        pages[-1][1] = value
        before += counts[value]
    out = [('v."event_time" BETWEEN ? AND ?', bounds) for bounds in pages]
    if any(t is None for _, t in rows):
        out.append(('v."event_time" IS NULL', []))
    return out


def sample_rows(seed: int) -> list[tuple[str | None, int | None]]:
    """2,000 rows: cursor values from a small range (many repeats, some long runs), NULL
    cursors, ids that occur once, twice or three times, and NULL ids."""
    rng = random.Random(seed)
    rows = []
    for i in range(2000):
        copies = rng.choices((1, 2, 3), (90, 8, 2))[0]
        event_id = None if rng.random() < 0.02 else f"e{i}"
        for _ in range(copies):
            t = None if rng.random() < 0.03 else rng.choice((rng.randrange(0, 300), 150, 151))
            rows.append((event_id, t))
    return rows[:2000]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 7, 5000])
@pytest.mark.parametrize("batch_rows", [1, 3, 65_536])
def test_the_plan_does_not_depend_on_the_batches(tmp_path, monkeypatch, seed, chunk_size, batch_rows):
    rows = sample_rows(seed)
    path = tmp_path / "w.duckdb"
    make_table(path, rows)
    monkeypatch.setattr(duckdb_source, "PLAN_BATCH_ROWS", batch_rows)
    source = source_for(path, chunk_size)
    try:
        pages = source._pages(source.connection, ReadFilter())
        duplicates = source._duplicates(source.connection, ReadFilter())
        lower = source._pages(source.connection, source._filter(200, False))
    finally:
        source.close()
    assert pages == expected_pages(rows, chunk_size)
    assert lower == expected_pages([r for r in rows if r[1] is None or r[1] >= 200], chunk_size)
    ids = Counter(event_id for event_id, _ in rows if event_id is not None)
    assert duplicates == {event_id: n for event_id, n in ids.items() if n > 1}
    assert len(duplicates) > 20   # the sample has duplicates to find


def test_a_read_with_no_rows_has_no_pages_and_no_duplicates(tmp_path):
    path = tmp_path / "w.duckdb"
    make_table(path, [])
    source = source_for(path, 10)
    try:
        assert source._pages(source.connection, ReadFilter()) == []
        assert source._duplicates(source.connection, ReadFilter()) == {}
    finally:
        source.close()


def test_only_null_cursors_make_one_page(tmp_path):
    path = tmp_path / "w.duckdb"
    make_table(path, [("a", None), ("b", None), ("a", None)])
    source = source_for(path, 1)
    try:
        assert source._pages(source.connection, ReadFilter()) == [('v."event_time" IS NULL', [])]
        assert source._duplicates(source.connection, ReadFilter()) == {"a": 2}
    finally:
        source.close()
