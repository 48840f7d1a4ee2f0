"""Process-level tuning of the `capi-sync` command, applied by sync/__main__.py before anything
else is imported (not when the package is imported as a library; `sync.cli.main` run
in-process still refuses the imports below, but the allocator setting only takes effect
before pyarrow is loaded).

pyarrow's allocator (mimalloc) returns freed memory to the system 10 ms after it is freed
instead of its default 1,000 ms (`MIMALLOC_PURGE_DELAY`, unless set in the environment): a
run frees the pages of every chunk and request body soon after it allocates them, and with
a second's delay about 40 MiB of them stayed resident at any time (bench/findings.md,
session 8; no slower in alternating runs).

Imports the sync never needs are refused, so that the libraries importing them take their
paths without them:
- pandas: DuckDB and pyarrow import it, when it is installed, only to check whether a value
  is a DataFrame (any query parameter, any `pa.array` from a list). About 40 MiB of resident
  memory and 0.3 s a run.
- pyarrow.dataset: DuckDB imports it (with pyarrow's file systems, Parquet and Substrait) to
  check whether an Arrow object it scans is a dataset, the first time the state store hands
  it the ledger rows of a commit. About 9 MiB and 15 ms, on the state writer's thread.
- httpx._main: httpx's own command line (click, rich, pygments: 120 modules), imported by
  `import httpx` when they are installed (dbt installs them). About 5 MiB and 0.1 s.
"""
from __future__ import annotations

import importlib.abc
import os
import sys

REFUSED = ("pandas", "pyarrow.dataset", "httpx._main")
# Read by mimalloc when pyarrow first allocates: set before pyarrow is imported.
ALLOCATOR_ENVIRONMENT = {"MIMALLOC_PURGE_DELAY": "10"}


class _RefuseUnused(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == name or fullname.startswith(name + ".") for name in self.names):
            raise ModuleNotFoundError(f"No module named {fullname!r} (refused by capi-sync: not needed)",
                                      name=fullname)
        return None


def refuse_unused_imports() -> None:
    """Make importing the REFUSED modules fail in this process. One already imported is left
    alone, with its submodules (a process that runs the command in-process, sync.cli.main,
    may use it)."""
    if any(isinstance(f, _RefuseUnused) for f in sys.meta_path):
        return
    names = tuple(name for name in REFUSED if name not in sys.modules)
    if names:
        sys.meta_path.insert(0, _RefuseUnused(names))


def tune_process() -> None:
    """The capi-sync process's tuning, before anything imports pyarrow, DuckDB or httpx: the
    allocator's settings (a value already in the environment is kept) and the refused imports."""
    for name, value in ALLOCATOR_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    refuse_unused_imports()
