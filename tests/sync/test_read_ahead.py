"""ReadAhead: a generator consumed on its own thread, a bounded number of items ahead."""
from __future__ import annotations

import threading
import time

import pytest

from sync.read_ahead import ReadAhead


def test_items_arrive_in_order_and_the_generator_runs_on_its_own_thread():
    threads = []

    def chunks():
        for i in range(5):
            threads.append(threading.current_thread().name)
            yield i
    assert list(ReadAhead(chunks())) == [0, 1, 2, 3, 4]
    assert set(threads) == {"capi-read"}


def test_at_most_depth_items_are_read_ahead():
    produced = []

    def chunks():
        for i in range(100):
            produced.append(i)
            yield i
    reader = ReadAhead(chunks(), depth=2)
    assert next(reader) == 0
    time.sleep(0.3)
    assert len(produced) == 4   # 1 taken, 2 waiting in the queue, 1 waiting to be put
    reader.close()


def test_an_exception_of_the_source_is_raised_where_its_item_would_be():
    def chunks():
        yield 1
        raise ValueError("page 2 failed")
    reader = ReadAhead(chunks())
    assert next(reader) == 1
    with pytest.raises(ValueError, match="page 2 failed"):
        next(reader)
    with pytest.raises(StopIteration):
        next(reader)


def test_close_stops_reading_and_runs_the_generators_finally_on_its_thread():
    closed_on = []

    def chunks():
        try:
            for i in range(1000):
                yield i
        finally:
            closed_on.append(threading.current_thread().name)
    reader = ReadAhead(chunks(), depth=1)
    assert next(reader) == 0
    reader.close()
    assert closed_on == ["capi-read"]
    with pytest.raises(StopIteration):
        next(reader)
