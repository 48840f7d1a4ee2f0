"""Process-level lock: an OS lock file (fcntl.flock, released by the kernel when its holder
dies) next to the DuckDB file; the `sync_locks` state row adds the holder and heartbeat."""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket

from sync.errors import LockHeldError, SourceError


def holder_id() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_alive(holder: str | None) -> bool | None:
    """True/False when the holder runs on this host, None when that cannot be told."""
    if not holder or ":" not in holder:
        return None
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FileLock:
    """An exclusive, non-blocking flock on `path` (created 0600)."""

    def __init__(self, path: str, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "FileLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SourceError(self._cannot_create(exc)) from None
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise LockHeldError(f"another run of {self.what} is in progress (held by {holder}, "
                                f"lock file {self.path}); nothing was sent") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder_id().encode(), 0)
        self._fd = fd
        return self

    def _cannot_create(self, exc: OSError) -> str:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            return (f"source.path: the folder {folder} does not exist, so neither does the DuckDB file "
                    "(create it with `dbt build`, or set DUCKDB_PATH); nothing was sent")
        return (f"cannot create the lock file {self.path} ({exc.strerror}): the folder of the DuckDB file must "
                "be writable by the sync (its lock and DuckDB's write-ahead log live there); nothing was sent")

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
