"""Exponential backoff with full jitter, and the run's retry budget (attempts and seconds)."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass

# The sync's own generator: drawing jitter leaves an embedding program's `random` stream as it was.
_JITTER = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    throttle_base_delay: float = 5.0
    budget_seconds: float = 300.0

    def backoff(self, attempt: int, throttled: bool = False, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 = first retry): full jitter,
        uniform in [0, min(max_delay, base * 2**(attempt-1))]; throttling starts higher."""
        base = self.throttle_base_delay if throttled else self.base_delay
        ceiling = min(max(self.max_delay, base if throttled else 0.0), base * (2 ** (attempt - 1)))
        return (rng or _JITTER).uniform(0.0, ceiling)


class RetryBudget:
    """Seconds of backoff the whole run may spend (`spent` so far); shared by all sending threads."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.spent = 0.0
        self._lock = threading.Lock()

    def take(self, delay: float) -> bool:
        """Reserve `delay` seconds; False when that would exceed the budget."""
        with self._lock:
            if self.spent + delay > self.seconds:
                return False
            self.spent += delay
            return True
