"""Keep secrets out of everything the sync prints or stores."""
from __future__ import annotations

import logging

MASK = "**********"


class Redactor:
    """Replaces every known secret (access token, app secret) with a mask."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()):
        # Longest first, so a secret containing another is masked whole; ignore trivially short ones.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message of every record."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redactor(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True
