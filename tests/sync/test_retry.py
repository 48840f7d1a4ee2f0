"""Backoff with full jitter; the retry budget."""
from __future__ import annotations

import random

from sync.retry import RetryBudget, RetryPolicy


class Ceiling(random.Random):
    """uniform() returns its upper bound: shows the ceiling of each backoff."""

    def uniform(self, a, b):
        return b


def test_exponential_ceiling_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, throttle_base_delay=5.0)
    assert [policy.backoff(a, rng=Ceiling()) for a in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_throttling_backs_off_longer():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, throttle_base_delay=5.0)
    assert [policy.backoff(a, True, Ceiling()) for a in range(1, 5)] == [5.0, 10.0, 20.0, 30.0]
    assert policy.backoff(1, True, Ceiling()) > policy.backoff(1, False, Ceiling())


def test_full_jitter_range():
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    rng = random.Random(1)
    draws = [policy.backoff(3, rng=rng) for _ in range(2000)]
    assert min(draws) >= 0.0 and max(draws) <= 4.0
    assert min(draws) < 0.1 and max(draws) > 3.9   # spread over the whole range


def test_budget():
    budget = RetryBudget(1.0)
    assert budget.take(0.6) is True
    assert budget.take(0.5) is False
    assert budget.take(0.4) is True
    assert budget.spent == 1.0
