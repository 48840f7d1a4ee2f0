"""The watermark advances only over the contiguous prefix of finished batches."""
from __future__ import annotations

from sync.watermark import WatermarkTracker


def test_out_of_order_finish():
    t = WatermarkTracker(100)
    seqs = [t.register(c) for c in (110, 120, 130, 140)]
    t.finish(seqs[2])
    assert t.watermark == 100
    t.finish(seqs[0])
    assert t.watermark == 110
    t.finish(seqs[1])
    assert t.watermark == 130
    t.finish(seqs[3])
    assert t.watermark == 140 and t.pending == 0


def test_failure_stops_the_watermark():
    t = WatermarkTracker(None)
    a, b, c = (t.register(x) for x in (10, 20, 30))
    t.finish(a)
    t.fail(b)
    t.finish(c)
    assert t.watermark == 10


def test_never_moves_backwards_and_ignores_empty_cursor():
    t = WatermarkTracker(500)
    t.finish(t.register(400))   # a lookback re-read
    t.finish(t.register(None))
    assert t.watermark == 500
