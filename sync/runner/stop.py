"""A graceful stop (`SyncRun.request_stop`, called on SIGTERM/SIGINT by sync/stop_signals.py): no new batch
is sent, batches in flight may finish until `destination.timeout.stop`, then are cancelled; the run is `interrupted`."""
from __future__ import annotations

from typing import NamedTuple


class StopRequest(NamedTuple):
    reason: str        # e.g. "SIGTERM", for the run's error text
    exit_code: int     # what the command exits with (143 for SIGTERM, 130 for SIGINT)
    deadline: float    # time.monotonic() after which the batches in flight are cancelled


def stop_message(request: StopRequest, cancelled: int, timeout: float) -> str:
    """The run's error text: what was sent, what was cancelled, what comes next."""
    in_flight = ("the batches in flight finished" if not cancelled else
                 f"{cancelled} batch{'es' if cancelled > 1 else ''} in flight {'were' if cancelled > 1 else 'was'} "
                 f"cancelled after destination.timeout.stop ({timeout:g} s) and will be sent again")
    return (f"interrupted by {request.reason}: no new batch was sent, {in_flight}; what the API accepted is "
            "committed, the next run sends the rest")
