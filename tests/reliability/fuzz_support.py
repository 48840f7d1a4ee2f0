"""Running the `capi-sync` command line inside the test process, for the fuzz suite: the same
`sync.cli.main` the command runs (config, logging, signal handlers, summary, exit code),
without a process start (0.4-0.8 s) per generated case."""
from __future__ import annotations

import contextlib
import io
import os
from typing import NamedTuple

from sync.cli import main

# Every exit code docs/sync.md documents for a user's mistake or a finished run.
DOCUMENTED_EXIT_CODES = {0, 2, 3, 4, 5, 6, 7}
CASES_RUN = {"config": 0, "rows": 0}   # examples run per fuzz test, printed at the end (docs/reliability.md)


class Outcome(NamedTuple):
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """`capi-sync ARGS` in this process with `env` added to the environment; its umask and
    environment are restored afterwards."""
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    umask = os.umask(0o022)
    os.umask(umask)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.umask(umask)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_clean(outcome: Outcome, secrets: tuple[str, ...] = ()) -> None:
    """A documented exit code; no traceback, no internal error; a failure is one error line;
    no secret in the output."""
    text = outcome.stdout + outcome.stderr
    assert outcome.code in DOCUMENTED_EXIT_CODES, text
    assert "Traceback" not in text and "internal error" not in text, text
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("capi-sync: error:")]
    if outcome.code != 0:
        assert len(errors) == 1, text
    for secret in secrets:
        if len(secret) >= 8:
            assert secret not in text, "a secret in the output"
