"""Process-level tuning of the `capi-sync` command, applied by sync/__main__.py before anything
else is imported (not when the package is imported as a library; `sync.cli.main` run
in-process still refuses the imports below, but the allocator settings only take effect
before pyarrow and DuckDB are loaded).

The allocators return freed memory to the system within about 10 ms (each setting applies
unless the environment already has it; bench/findings.md, sessions 8 and 12). A run frees
the pages of every chunk and request body soon after it allocates them, and the allocators'
defaults keep freed pages for a second:
- pyarrow allocates from its jemalloc pool on x86-64 Linux (`ARROW_DEFAULT_MEMORY_POOL`;
  its default there is mimalloc), with `dirty_decay_ms:10,muzzy_decay_ms:0`
  (`JE_ARROW_MALLOC_CONF`; Arrow's own setting is 1,000 ms, with a background thread that
  purges). Alternating `capi-sync run` processes at 1M orders, three pairs each: jemalloc
  as Arrow configures it 271-276 against mimalloc's (at 10 ms) 279-286 MiB peak RSS; with
  10 ms, 262-269 against 270-276 MiB; the same speed within the noise.
- mimalloc, where it stays pyarrow's pool (anywhere but x86-64 Linux, or chosen in the
  environment), gives freed memory back after 10 ms instead of 1,000
  (`MIMALLOC_PURGE_DELAY`): about 40 MiB less at any time (session 8).
- DuckDB's own jemalloc (Linux builds) decays freed pages after 10 ms, not 1,000
  (`DUCKDB_JE_MALLOC_CONF`, read once when DuckDB first allocates; DuckDB's other settings
  of it are kept): 255-259 against 266-269 MiB at 1M orders, at the same speed. 0 ms was
  20% slower (session 8).

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
import platform
import sys

REFUSED = ("pandas", "pyarrow.dataset", "httpx._main")
# Read by the allocators when pyarrow and DuckDB first allocate: set before either is imported.
ALLOCATOR_ENVIRONMENT = {"MIMALLOC_PURGE_DELAY": "10"}
# DuckDB's Linux builds carry jemalloc (the variable is ignored where one does not), and so
# does pyarrow's x86-64 Linux wheel (where it is measured). A pyarrow without jemalloc would
# print a warning for ARROW_DEFAULT_MEMORY_POOL at every run (and keep mimalloc), so the pool
# is only chosen on x86-64; choosing it after import instead (`pa.set_memory_pool`) measured
# 3-5 MiB more at 1M orders (bench/findings.md, session 12).
LINUX_ALLOCATOR_ENVIRONMENT = {
    "JE_ARROW_MALLOC_CONF": "dirty_decay_ms:10,muzzy_decay_ms:0",
    "DUCKDB_JE_MALLOC_CONF": "dirty_decay_ms:10,muzzy_decay_ms:0",
}
X86_64_LINUX_ALLOCATOR_ENVIRONMENT = {"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}


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


def allocator_environment(system: str = sys.platform, machine: str | None = None) -> dict[str, str]:
    """The allocator settings `tune_process` sets on this platform (`sys.platform`,
    `platform.machine()`)."""
    if not system.startswith("linux"):
        return dict(ALLOCATOR_ENVIRONMENT)
    machine = platform.machine() if machine is None else machine
    pool = X86_64_LINUX_ALLOCATOR_ENVIRONMENT if machine == "x86_64" else {}
    return {**ALLOCATOR_ENVIRONMENT, **pool, **LINUX_ALLOCATOR_ENVIRONMENT}


def tune_process() -> None:
    """The capi-sync process's tuning, before anything imports pyarrow, DuckDB or httpx: the
    allocators' settings (a value already in the environment is kept) and the refused imports."""
    for name, value in allocator_environment().items():
        os.environ.setdefault(name, value)
    refuse_unused_imports()
