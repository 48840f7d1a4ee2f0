"""The runner's batching: at most batch_size events and max_request_bytes of request body per
batch; an event too large for any request is dead-lettered, never sent. In process, against
a real DuckDB file and the real emulator over 127.0.0.1."""
from __future__ import annotations

import math
import time

import duckdb
import orjson
import pytest
from offline_events_fixture import TOKEN, create_offline_events, event_id, insert_rows, make_row, write_config

from sync.config import load_config
from sync.runner import SyncRun

MIN_CAP = 16_384


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)


def config_for(tmp_path, warehouse, emulator, batch_size=1000, max_request_bytes=None, name="config.yml",
               test_event_code=None):
    extra = f"max_request_bytes: {max_request_bytes}\n" if max_request_bytes is not None else ""
    if test_event_code:
        extra += f"test_event_code: {test_event_code}\n"
    path = write_config(tmp_path, warehouse, emulator.url, name=name, extra_destination=extra)
    path.write_text(path.read_text().replace("batch_size: 100", f"batch_size: {batch_size}")
                    .replace("concurrency: 4", "concurrency: 1"))
    return load_config(path)


def dry_bodies(config, tmp_path) -> list[bytes]:
    out = tmp_path / f"dry-{time.monotonic_ns()}.jsonl"
    SyncRun(config, dry_run=True, output=str(out)).run()
    return out.read_bytes().splitlines()


def same_size_rows(now, n):
    """Rows whose events all encode to the same number of bytes (4-digit order numbers)."""
    return [make_row(1000 + i, now - 3600 + i) for i in range(n)]


def test_batches_close_when_the_next_event_would_pass_the_byte_cap(tmp_path, warehouse, emulator, now):
    insert_rows(warehouse, same_size_rows(now, 1))
    [single] = dry_bodies(config_for(tmp_path, warehouse, emulator), tmp_path)
    size = len(single) - len(b'{"data":[]}')   # bytes of one encoded event
    k = math.ceil(MIN_CAP / (size + 1)) + 1     # events per full batch under the cap below
    create_offline_events(warehouse, same_size_rows(now, 3 * k + 2))
    # A body of k events: {"data":[ + k events + (k-1) commas + ]}
    cap = len(b'{"data":[]}') + k * size + (k - 1)
    bodies = dry_bodies(config_for(tmp_path, warehouse, emulator, max_request_bytes=cap), tmp_path)
    assert [len(orjson.loads(b)["data"]) for b in bodies] == [k, k, k, 2]
    assert [len(b) for b in bodies] == [cap, cap, cap, len(b'{"data":[]}') + 2 * size + 1]
    # One byte less: k - 1 per request.
    bodies = dry_bodies(config_for(tmp_path, warehouse, emulator, max_request_bytes=cap - 1), tmp_path)
    per = [len(orjson.loads(b)["data"]) for b in bodies]
    assert per == [k - 1] * ((3 * k + 2) // (k - 1)) + ([(3 * k + 2) % (k - 1)] if (3 * k + 2) % (k - 1) else [])
    assert max(len(b) for b in bodies) == cap - size - 1   # k - 1 events and k - 2 commas
    # The real run sends the same batches, in order, and every event once.
    summary = SyncRun(config_for(tmp_path, warehouse, emulator, max_request_bytes=cap - 1)).run()
    assert (summary.status, summary.events_sent, summary.batches_sent) == ("succeeded", 3 * k + 2, len(per))
    assert [r.n_events for r in emulator.requests] == per
    assert [e["event_id"] for e in emulator.accepted_events()] == [event_id(f"o{1000 + i}") for i in range(3 * k + 2)]


def test_the_tail_counts_and_bodies_stay_byte_identical(tmp_path, warehouse, emulator, now):
    """test_event_code is part of the body; bodies are exactly the events as orjson encodes them."""
    rows = same_size_rows(now, 40)
    insert_rows(warehouse, rows)
    default = config_for(tmp_path, warehouse, emulator, batch_size=15, test_event_code="TEST4242")
    assert default.destination.max_request_bytes == 4_000_000
    bodies = dry_bodies(default, tmp_path)
    assert [len(orjson.loads(b)["data"]) for b in bodies] == [15, 15, 10]   # by count, as before
    tail = b',"test_event_code":"TEST4242"'
    for body in bodies:
        events = orjson.loads(body)["data"]
        assert body == b'{"data":[' + b",".join(orjson.dumps(e) for e in events) + b"]" + tail + b"}"
    size = len(orjson.dumps(orjson.loads(bodies[0])["data"][0]))
    k = 20
    cap = len(b'{"data":[]}') + len(tail) + k * size + (k - 1)
    assert cap >= MIN_CAP
    capped = dry_bodies(config_for(tmp_path, warehouse, emulator, batch_size=1000, max_request_bytes=cap,
                                   test_event_code="TEST4242"), tmp_path)
    assert [len(b) for b in capped] == [cap, cap]
    assert b"".join(capped).count(tail) == 2
    assert [e for b in capped for e in orjson.loads(b)["data"]] == [e for b in bodies for e in orjson.loads(b)["data"]]


def test_an_event_larger_than_the_cap_is_dead_lettered_never_sent(tmp_path, warehouse, emulator, now):
    """An order with 3,000 contents lines (~120 KB of JSON) under a 64 KiB cap."""
    lines = [{"id": f"sku-{j:05d}", "quantity": 1, "item_price": 1.25} for j in range(3000)]
    big = make_row(2000, now - 3000, contents=lines, num_items=3000, value="3750.00")
    rows = [make_row(1000, now - 3600), big, make_row(1001, now - 2400), make_row(1002, now - 1200)]
    insert_rows(warehouse, rows)
    config = config_for(tmp_path, warehouse, emulator, max_request_bytes="64KiB")
    out = tmp_path / "dry.jsonl"
    dry = SyncRun(config, dry_run=True, output=str(out)).run()
    assert (dry.events_written, dry.skipped) == (3, {"event_too_large": 1})
    assert [[e["event_id"] for e in orjson.loads(b)["data"]] for b in out.read_bytes().splitlines()] == [
        [event_id("o1000"), event_id("o1001"), event_id("o1002")]]
    summary = SyncRun(config).run()
    assert (summary.status, summary.exit_code, summary.events_sent, summary.batches_sent) == ("succeeded", 0, 3, 1)
    assert summary.skipped == {"event_too_large": 1} and summary.dead_lettered == 1
    # The three others go together in one request: the big one does not split their batch.
    assert [r.n_events for r in emulator.requests] == [3]
    assert emulator.accepted_event_ids() == [event_id("o1000"), event_id("o1001"), event_id("o1002")]
    con = duckdb.connect(str(config.source.path), read_only=True)
    try:
        letters = con.execute("SELECT event_id, order_id, event_time, stage, reason, message, code "
                              "FROM capi_sync.dead_letters").fetchall()
        watermark = con.execute("SELECT watermark FROM capi_sync.sync_watermarks").fetchone()[0]
    finally:
        con.close()
    [(eid, order_id, t, stage, reason, message, code)] = letters
    assert (eid, order_id, t, stage, reason, code) == (event_id("o2000"), "o2000", now - 3000, "check",
                                                       "event_too_large", None)
    assert message.startswith("the event alone makes a request body of ")
    assert message.endswith(" bytes, more than destination.max_request_bytes (65536); it was not sent")
    alone = int(message.split("request body of ")[1].split(" bytes")[0])
    assert alone > 65536 and alone == len(b'{"data":[]}') + len(orjson.dumps(dry_event(tmp_path, warehouse,
                                                                                        emulator, "o2000")))
    assert watermark == now - 1200   # past the dead letter


def dry_event(tmp_path, warehouse, emulator, order_id):
    """The big event as the sync builds it, from a dry run with the largest cap."""
    copy = tmp_path / "copy.duckdb"
    con = duckdb.connect(str(copy))
    con.execute(f"ATTACH '{warehouse}' AS src (READ_ONLY)")
    con.execute("CREATE SCHEMA analytics")
    con.execute(f"CREATE TABLE analytics.offline_events AS SELECT * FROM src.analytics.offline_events "
                f"WHERE order_id = '{order_id}'")
    con.close()
    path = write_config(tmp_path, copy, emulator.url, name="copy.yml",
                        extra_destination="max_request_bytes: 64MiB\n")
    [body] = dry_bodies(load_config(path), tmp_path)
    [event] = orjson.loads(body)["data"]
    return event


def test_an_internal_error_is_never_recorded_succeeded(tmp_path, warehouse, emulator, now):
    """A bug while sending (here: a destination that raises) is re-raised, and the run is
    recorded `failed` with it; what was accepted before is committed."""
    insert_rows(warehouse, [make_row(i, now - 600 + i) for i in range(3)])
    config = config_for(tmp_path, warehouse, emulator, batch_size=1)

    class Broken:
        def __init__(self, *args, **kwargs):
            pass

        def deliver(self, encoded):
            raise RuntimeError("a bug")

        def close(self):
            pass

    with pytest.raises(RuntimeError, match="a bug"):
        SyncRun(config, destination_factory=Broken).run()
    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute("SELECT status, error FROM capi_sync.sync_runs").fetchall()
    con.close()
    assert runs == [("failed", "internal error: RuntimeError: a bug")]
