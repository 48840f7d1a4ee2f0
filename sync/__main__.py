"""The `capi-sync` command (and `python -m sync`): the process is tuned first
(sync/runtime_tuning.py: imports it never needs are refused before anything imports them),
then the command line runs (sync/cli.py)."""
from __future__ import annotations

import sys

from sync.runtime_tuning import refuse_unused_imports


def main(argv: list[str] | None = None) -> int:
    refuse_unused_imports()
    from sync.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
