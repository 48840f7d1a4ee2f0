"""The runner's batching of ready events (runs appended at once) gives exactly the batches
of the one-event-at-a-time rule: at most batch_size events, at most max_request_bytes of
body, skipped rows and their cursors with the batch they fall in, too-large events
dead-lettered."""
from __future__ import annotations

import random

import pyarrow as pa
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
        event_ids, cursors = chunk.event_ids.to_pylist(), chunk.cursors.to_pylist()
        for i, encoded in enumerate(chunk.encoded.to_pylist()):
            if encoded is None:
                batch["letters"].append((event_ids[i], chunk.skips[i][0]))
            else:
                grown = batch_bytes + len(encoded) + (1 if batch["events"] else 0)
                if grown > max_bytes and empty_bytes + len(encoded) > max_bytes:
                    batch["letters"].append((event_ids[i], "event_too_large"))
                else:
                    if grown > max_bytes:
                        batches.append(batch)
                        batch, grown = {"events": [], "letters": [], "cursor": None}, empty_bytes + len(encoded)
                    batch["events"].append(encoded)
                    batch_bytes = grown
            if cursors[i] is not None:
                batch["cursor"] = cursors[i]
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
    got = [{"events": b.encoded.to_pylist(), "letters": [(d["event_id"], d["reason"]) for d in b.dead_letters],
            "cursor": b.max_cursor} for b in run._batches(chunks)]
    assert got == expected
    by_id = {i: (e, t) for c in chunks for i, e, t in
             zip(c.event_ids.to_pylist(), c.encoded.to_pylist(), c.event_times.to_pylist())}
    for b in run._batches(chunks):
        body = request_body(b.encoded, body_tail(config.destination))
        assert len(b.encoded) <= size and len(body) <= CAP
        assert body == request_body(b.encoded.to_pylist(), body_tail(config.destination))
        assert [by_id[i] for i in b.event_ids.to_pylist()] == list(zip(b.encoded.to_pylist(), b.event_times.to_pylist()))


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


def test_chunks_of_sliced_arrow_arrays_make_the_same_batches(tmp_path, monkeypatch):
    """A chunk's columns may be slices of larger Arrow arrays (offsets not starting at 0,
    NULL cursors): lengths and cursors are read at the slice's own offset."""
    monkeypatch.setenv("META_ACCESS_TOKEN", "t")
    config = load_config(write_config(tmp_path, tmp_path / "w.duckdb", "http://127.0.0.1:9",
                                      extra_destination=f"batch_size: 4\nmax_request_bytes: {CAP}\n"))
    n, pad = 11, 5
    ids = [f"e{i}" for i in range(n + pad)]
    encoded = [b"x" * (100 + i) if i % 4 else None for i in range(n + pad)]
    cursors = [10 + i if i % 3 else None for i in range(n + pad)]
    skips = {i - pad: ("missing_currency", "currency is NULL") for i in range(pad, n + pad) if encoded[i] is None}

    def sliced(values, type_):
        return pa.array(values, type_).slice(pad, n)

    arrow_chunk = ReadyChunk(sliced(ids, pa.string()), sliced([None] * (n + pad), pa.string()),
                             sliced(cursors, pa.int64()), sliced(cursors, pa.int64()), sliced(encoded, pa.binary()),
                             skips)
    list_chunk = ReadyChunk(ids[pad:], [None] * n, cursors[pad:], cursors[pad:], encoded[pad:], skips)

    def batches(chunk):
        return [(b.encoded.to_pylist(), b.event_ids.to_pylist(), [d["event_id"] for d in b.dead_letters], b.max_cursor)
                for b in SyncRun(config)._batches([chunk])]

    assert batches(arrow_chunk) == batches(list_chunk)
    # rows e5-e9: e8 is skipped, e6 and e9 have no cursor (the batch's cursor is e8's)
    assert batches(list_chunk)[0] == ([b"x" * 105, b"x" * 106, b"x" * 107, b"x" * 109], ["e5", "e6", "e7", "e9"],
                                      ["e8"], 18)


def test_a_chunk_row_is_either_an_event_or_a_skip():
    with pytest.raises(ValueError, match="1 rows without bytes but 0 skips"):
        ReadyChunk(["e0", "e1"], [None, None], [1, 2], [1, 2], [b"{}", None], {})
