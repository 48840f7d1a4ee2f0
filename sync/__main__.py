"""The `capi-sync` command (and `python -m sync`): tunes its own process (docs/sync.md: How the
DuckDB source reads; Memory), then runs sync/cli.py. The library changes nothing process-wide."""
from __future__ import annotations

import importlib.abc
import os
import platform
import sys

TUNING_VARIABLE = "CAPI_SYNC_PROCESS_TUNING"
REFUSED = ("pandas", "pyarrow.dataset", "httpx._main")
ALLOCATOR_ENVIRONMENT = {"MIMALLOC_PURGE_DELAY": "10"}
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


def allocator_environment(system: str = sys.platform, machine: str | None = None) -> dict[str, str]:
    """The allocator settings of the command on this platform (`sys.platform`, `platform.machine()`)."""
    if not system.startswith("linux"):
        return dict(ALLOCATOR_ENVIRONMENT)
    machine = platform.machine() if machine is None else machine
    pool = X86_64_LINUX_ALLOCATOR_ENVIRONMENT if machine == "x86_64" else {}
    return {**ALLOCATOR_ENVIRONMENT, **pool, **LINUX_ALLOCATOR_ENVIRONMENT}


def tune_process() -> None:
    """Before pyarrow, DuckDB or httpx is imported: allocators that give freed memory back after 10 ms
    (a variable already set is kept) and unused imports refused; unless CAPI_SYNC_PROCESS_TUNING=0."""
    if os.environ.get(TUNING_VARIABLE, "1").strip() == "0":
        return
    for name, value in allocator_environment().items():
        os.environ.setdefault(name, value)
    names = tuple(name for name in REFUSED if name not in sys.modules)
    if names and not any(isinstance(f, _RefuseUnused) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefuseUnused(names))


def main(argv: list[str] | None = None) -> int:
    tune_process()
    from sync.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
