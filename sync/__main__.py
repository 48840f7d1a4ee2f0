"""The `capi-sync` command (and `python -m sync`): the process is tuned first
(sync/runtime_tuning.py: pyarrow's allocator settings, and imports it never needs refused,
before anything imports them), then the command line runs (sync/cli.py)."""
from __future__ import annotations

import sys

from sync.runtime_tuning import tune_process


def main(argv: list[str] | None = None) -> int:
    tune_process()
    from sync.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
