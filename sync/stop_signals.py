"""SIGTERM and SIGINT for the `capi-sync` command: the first asks the run to stop gracefully, a
second ends the process at once; the library never installs handlers (docs/sync.md, Stopping a run)."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_code_of(signum: int) -> int:
    """The shell's convention: 128 + the signal number (SIGINT 130, SIGTERM 143)."""
    return 128 + int(signum)


@contextmanager
def graceful_stop(request_stop: Callable[[str, int], None]) -> Iterator[None]:
    """While inside: the first SIGTERM/SIGINT calls `request_stop(signal name, exit code)`, a second
    exits with that code at once. Outside the main thread (no handlers possible) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, frame) -> None:
        name = signal.Signals(signum).name
        if received:
            os.write(2, f"capi-sync: {name} again: exiting now, without waiting for the batches in flight "
                        "(what was committed stays; the next run sends the rest)\n".encode())
            os._exit(exit_code_of(signum))
        received.append(signum)
        os.write(2, f"capi-sync: {name}: stopping: no new batch is sent, the batches in flight may finish; "
                    "a second signal exits at once\n".encode())
        request_stop(name, exit_code_of(signum))

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
