"""The runner's batching of ready events (runs appended at once) gives exactly the batches
of the one-event-at-a-time rule: at most batch_size events, at most max_request_bytes of
body, skipped rows and their cursors with the batch they fall in, too-large events
dead-lettered."""
from __future__ import annotations

import random

import pytest
from offline_events_fixture import write_config

from sync.config import load_config
from sync.destination import body_tail, request_body
from sync.events import ReadyChunk
from sync.runner import SyncRun

CAP = 16_384


def one_at_a_time(chunks, size, max_bytes, empty_bytes):
    """The rule, event by event (the runner's code before runs were appended at once)."""
    batches, batch, batch_bytes = [], {"events": [], "letters": [], "cursor": None}, empty_bytes
    for chunk in chunks:
        for i, encoded in enumerate(chunk.encoded):
            if encoded is None:
                batch["letters"].append((chunk.event_ids[i], chunk.skips[i][0]))
            else:
                grown = batch_bytes + len(encoded) + (1 if batch["events"] else 0)
                if grown > max_bytes and empty_bytes + len(encoded) > max_bytes:
                    batch["letters"].append((chunk.event_ids[i], "event_too_large"))
                else:
                    if grown > max_bytes:
                        batches.append(batch)
                        batch, grown = {"events": [], "letters": [], "cursor": None}, empty_bytes + len(encoded)
                    batch["events"].append(encoded)
                    batch_bytes = grown
            if chunk.cursors[i] is not None:
                batch["cursor"] = chunk.cursors[i]
            if len(batch["events"]) == size:
                batches.append(batch)
                batch, batch_bytes = {"events": [], "letters": [], "cursor": None}, empty_bytes
    if batch["events"] or batch["letters"]:
        batches.append(batch)
    return batches


def random_chunks(rng: random.Random, n_chunks: int, big: bool):
    chunks, row, cursor = [], 0, 1000
    for c in range(n_chunks):
        n = rng.randint(0, 40)
        ids, encoded, cursors, skips = [], [], [], {}
        for i in range(n):
            ids.append(f"e{row}")
            if rng.random() < 0.1:
                encoded.append(None)
                skips[i] = ("missing_currency", "currency is NULL")
            else:
                length = rng.choice([200, 900, 3000, 9000, 17000] if big else [50, 120, 400])
                encoded.append(b"x" * length)
            cursor += rng.randint(0, 2)
            cursors.append(None if c == n_chunks - 1 and i > n // 2 else cursor)
            row += 1
        chunks.append(ReadyChunk(ids, [None] * n, cursors[:], cursors, encoded, skips))
    return chunks


@pytest.mark.parametrize("seed", range(12))
def test_batches_equal_the_one_event_at_a_time_rule(tmp_path, monkeypatch, seed):
    monkeypatch.setenv("META_ACCESS_TOKEN", "t")
    rng = random.Random(seed)
    size = rng.choice([1, 3, 10, 1000])
    config = load_config(write_config(tmp_path, tmp_path / "w.duckdb", "http://127.0.0.1:9",
                                      extra_destination=f"batch_size: {size}\nmax_request_bytes: {CAP}\n"))
    chunks = random_chunks(rng, rng.randint(1, 8), big=seed % 2 == 0)
    empty_bytes = len(request_body([], body_tail(config.destination)))
    expected = one_at_a_time(chunks, size, CAP, empty_bytes)
    run = SyncRun(config)
    got = [{"events": b.encoded, "letters": [(d["event_id"], d["reason"]) for d in b.dead_letters],
            "cursor": b.max_cursor} for b in run._batches(chunks)]
    assert got == expected
    by_id = {i: (e, t) for c in chunks for i, e, t in zip(c.event_ids, c.encoded, c.event_times)}
    for b in run._batches(chunks):
        assert len(b.encoded) <= size and len(request_body(b.encoded, body_tail(config.destination))) <= CAP
        assert [by_id[i] for i in b.event_ids] == list(zip(b.encoded, b.event_times))


@pytest.mark.parametrize("slack", [-1, 0, 1])
def test_a_batch_ends_exactly_at_the_cap(tmp_path, monkeypatch, slack):
    """Events of one length where k+1 events would make a body of CAP + slack bytes."""
    monkeypatch.setenv("META_ACCESS_TOKEN", "t")
    config = load_config(write_config(tmp_path, tmp_path / "w.duckdb", "http://127.0.0.1:9",
                                      extra_destination=f"batch_size: 1000\nmax_request_bytes: {CAP}\n"))
    empty_bytes = len(request_body([], body_tail(config.destination)))
    # a body of m events of length L: empty_bytes + m * (L + 1) - 1
    length = next(n for n in range(300, 8000) if (CAP + 1 - slack - empty_bytes) % (n + 1) == 0)
    m = (CAP + 1 - slack - empty_bytes) // (length + 1)     # m events make CAP - slack bytes
    n = 3 * m + 1
    chunk = ReadyChunk([f"e{i}" for i in range(n)], [None] * n, list(range(n)), list(range(n)),
                       [b"y" * length] * n, {})
    sizes = [len(b.encoded) for b in SyncRun(config)._batches([chunk])]
    per = m if slack >= 0 else m - 1
    assert sizes == [per] * (n // per) + [n % per] * bool(n % per)
    assert sizes == [len(b["events"]) for b in one_at_a_time([chunk], 1000, CAP, empty_bytes)]
