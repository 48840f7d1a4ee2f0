"""A graceful stop: asked for by `SyncRun.request_stop` (the command line calls it on SIGTERM or
SIGINT, sync/stop_signals.py; a program embedding the sync calls it itself). No new batch is
sent; the batches in flight may finish until the deadline (`destination.timeout.stop` after
the request), then they are cancelled; what the API accepted is committed; the run is
recorded `interrupted`."""
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
