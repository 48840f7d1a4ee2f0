"""Errors the sync reports to its user, each with its process exit code (docs/sync.md, Exit codes)."""
from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_DESTINATION_REFUSED = 3
EXIT_RETRIES_EXHAUSTED = 4
EXIT_LOCKED = 5
EXIT_SOURCE = 6
EXIT_REJECTED = 7          # the API rejected more than destination.max_rejected_share of the events
EXIT_SIGINT = 130          # stopped by SIGINT (Ctrl-C), 128 + 2
EXIT_SIGTERM = 143         # stopped by SIGTERM (Kubernetes, systemd, Airflow), 128 + 15


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (DuckDB and others add hints and context on further
    lines), or the error's type name when it has no text."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SyncError(Exception):
    """A problem the user can act on; its message is one line, safe to print."""

    exit_code = EXIT_INTERNAL


class ConfigError(SyncError):
    """Bad configuration: `file: key: what is wrong`."""

    exit_code = EXIT_CONFIG

    def __init__(self, file: str, key: str | None, message: str):
        self.file = file
        self.key = key
        self.detail = message
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


class InputError(SyncError):
    """A command-line mistake (an option that does not fit the others, a file that cannot be written)."""

    exit_code = EXIT_CONFIG


class SettingsConflictError(SyncError):
    """The config and the relation decide the same thing differently (one line naming both)."""

    exit_code = EXIT_CONFIG


class SourceError(SyncError):
    """The warehouse relation is missing, malformed, or unreadable."""

    exit_code = EXIT_SOURCE


class LockHeldError(SyncError):
    """Another run of the same sync (or another process) holds the lock."""

    exit_code = EXIT_LOCKED


class DestinationRefusedError(SyncError):
    """The Conversions API refused permanently (token, dataset, permissions)."""

    exit_code = EXIT_DESTINATION_REFUSED


class RetriesExhaustedError(SyncError):
    """Transient failures outlasted the retry budget."""

    exit_code = EXIT_RETRIES_EXHAUSTED
