"""The capi-sync command tunes its own process (allocator settings, imports it never needs
refused; DuckDB, pyarrow and httpx work without them); the library leaves the interpreter as it
found it, and CAPI_SYNC_PROCESS_TUNING=0 turns the command's tuning off."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from sync.__main__ import allocator_environment

ROOT = Path(__file__).resolve().parents[2]
# The modules a refused import would have brought in.
_LOADED = ("sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'rich', 'click', 'pygments') "
           "or m.startswith(('pyarrow.dataset', 'pyarrow._dataset', 'pyarrow.substrait', 'httpx._main')))")


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    return result


def _python(code: str) -> list[str]:
    return _run(code).stdout.splitlines()


def test_duckdb_and_pyarrow_work_without_the_refused_imports():
    """Query parameters, and Arrow tables registered and scanned with a projection and
    filters (the state store's ledger commits), take their paths without pandas or
    pyarrow.dataset."""
    assert _python(f"""
        import sys
        from sync.__main__ import tune_process
        tune_process()
        import duckdb, pyarrow as pa
        con = duckdb.connect()
        batch = pa.table({{"id": pa.array(["a", "b", "c"], pa.string()), "n": pa.array([1, 2, 3], pa.int64()),
                          "s": pa.array(["x", "y", "z"], pa.string())}})
        print(con.execute("SELECT ? || id, n + ? FROM batch ORDER BY id", ["x", 10]).fetchall())
        con.execute("CREATE TABLE ledger (event_id VARCHAR, n BIGINT)")
        con.register("ledger_batch", batch)
        con.execute("INSERT INTO ledger SELECT id, n FROM ledger_batch WHERE n > 1 AND s <> 'z'")
        con.execute("DELETE FROM ledger WHERE event_id IN (SELECT id FROM ledger_batch WHERE s = 'y')")
        con.execute("INSERT INTO ledger SELECT id, n FROM ledger_batch WHERE id IN ('a', 'c')")
        con.unregister("ledger_batch")
        print(con.execute("SELECT * FROM ledger ORDER BY event_id").fetchall())
        print({_LOADED})
        for name in ("pandas", "pyarrow.dataset"):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                print(exc)
    """) == [
        "[('xa', 11), ('xb', 12), ('xc', 13)]",
        "[('a', 1), ('c', 3)]",
        "[]",
        "No module named 'pandas' (refused by capi-sync: not needed)",
        "No module named 'pyarrow.dataset' (refused by capi-sync: not needed)"]


def test_the_command_refuses_them_before_importing_the_cli():
    """`capi-sync` is sync.__main__:main, which refuses first: httpx's command line is
    imported by `import httpx` itself, before sync.cli's main() could refuse it."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"capi-sync": "sync.__main__:main"}
    assert _python(f"""
        import sys
        from sync.__main__ import main
        code = main(["status", "--config", "no-such-config.yml"])
        import httpx, sync.runner
        print(code, {_LOADED})
    """) == ["2 []"]


def test_the_library_run_in_process_leaves_every_import_working():
    """`sync.cli.main` inside another program (Airflow, Dagster, a notebook) installs nothing
    process-wide: pandas and pyarrow.dataset import afterwards, the allocator settings are unset."""
    assert _python("""
        import os, sys
        import sync.cli
        print(sync.cli.main(["status", "--config", "no-such-config.yml"]))
        import pandas, pyarrow.dataset
        print(type(pandas.DataFrame({"a": [1]})).__name__, [f for f in sys.meta_path if "capi" in repr(type(f))],
              os.environ.get("MIMALLOC_PURGE_DELAY"))
    """) == ["2", "DataFrame [] None"]


def test_the_command_tuning_is_off_with_the_variable():
    assert _run("""
        import os
        from sync.__main__ import main
        code = main(["status", "--config", "no-such-config.yml"])
        import pandas
        print(code, os.environ.get("MIMALLOC_PURGE_DELAY"))
    """, env=_clean_environment(CAPI_SYNC_PROCESS_TUNING="0")).stdout.splitlines() == ["2 None"]


def test_importing_the_cli_does_not_import_pandas():
    """Nothing imported before main() may load pandas (an Arrow array made from a Python list
    at import time would: 0.2-0.3 s and 40 MiB a run)."""
    assert _python("import sys, sync.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas'))") \
        == ["[]"]


_ALLOCATOR_VARIABLES = ("MIMALLOC_", "ARROW_DEFAULT_MEMORY_POOL", "JE_ARROW_MALLOC_CONF", "DUCKDB_JE_MALLOC_CONF")


def _clean_environment(**environment: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(_ALLOCATOR_VARIABLES)}, **environment}


def _purge_delay(environment: dict[str, str]) -> list[str]:
    """mimalloc's purge_delay line as the capi-sync process starts it (MIMALLOC_VERBOSE
    makes mimalloc print its options when pyarrow first allocates)."""
    result = _run("""
        import sys
        from sync.__main__ import main
        main(["status", "--config", "no-such-config.yml"])
        import pyarrow as pa
        assert pa.default_memory_pool().backend_name == "mimalloc"
        pa.allocate_buffer(1)
    """, env=_clean_environment(MIMALLOC_VERBOSE="1", **environment))
    return [line.strip() for line in result.stderr.splitlines() if "option 'purge_delay'" in line]


def test_mimalloc_returns_freed_memory_after_10_ms_where_it_is_pyarrows_pool():
    assert _purge_delay({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}) == ["option 'purge_delay': 10"]


def test_an_allocator_setting_from_the_environment_is_kept():
    assert _purge_delay({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc", "MIMALLOC_PURGE_DELAY": "250"}) \
        == ["option 'purge_delay': 250"]


def test_jemalloc_settings_on_linux_and_pyarrows_pool_on_x86_64_only():
    jemalloc = {"JE_ARROW_MALLOC_CONF": "dirty_decay_ms:10,muzzy_decay_ms:0",
                "DUCKDB_JE_MALLOC_CONF": "dirty_decay_ms:10,muzzy_decay_ms:0"}
    assert allocator_environment("darwin", "arm64") == {"MIMALLOC_PURGE_DELAY": "10"}
    assert allocator_environment("win32", "AMD64") == {"MIMALLOC_PURGE_DELAY": "10"}
    assert allocator_environment("linux", "x86_64") == {
        "MIMALLOC_PURGE_DELAY": "10", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc", **jemalloc}
    assert allocator_environment("linux", "aarch64") == {"MIMALLOC_PURGE_DELAY": "10", **jemalloc}


def _jemalloc_settings(environment: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """pyarrow's pool, and the settings pyarrow's and DuckDB's jemalloc read from the
    environment after `tune_process` (sync.__main__ runs it first): jemalloc's `confirm_conf`,
    put in front of what it set, prints every setting it reads."""
    result = _run("""
        import os
        from sync.__main__ import tune_process
        tune_process()
        for name in ("JE_ARROW_MALLOC_CONF", "DUCKDB_JE_MALLOC_CONF"):
            os.environ[name] = "confirm_conf:true," + os.environ[name]
        import duckdb, pyarrow as pa
        pa.allocate_buffer(1)
        duckdb.connect().execute("SELECT 1").fetchall()
        print(pa.default_memory_pool().backend_name)
    """, env=_clean_environment(**environment))
    settings = [line.split("(", 1)[-1] for line in result.stderr.splitlines()
                if line.startswith("<jemalloc>: malloc_conf #4")]
    return result.stdout.strip(), settings, result.stderr.splitlines()


_X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() == "x86_64"


@pytest.mark.skipif(not _X86_64_LINUX, reason="pyarrow's jemalloc pool: chosen on x86-64 Linux")
def test_pyarrow_and_duckdb_allocate_from_jemalloc_that_returns_freed_pages_after_10_ms():
    """Both jemallocs read the environment variable last, after their compiled-in settings
    (which it overrides key by key): each prints it as its malloc_conf #4."""
    pool, settings, stderr = _jemalloc_settings({})
    assert pool == "jemalloc"
    assert settings == ['value of the environment variable MALLOC_CONF): '
                        '"confirm_conf:true,dirty_decay_ms:10,muzzy_decay_ms:0"'] * 2, stderr


@pytest.mark.skipif(not _X86_64_LINUX, reason="pyarrow's jemalloc pool: chosen on x86-64 Linux")
def test_a_pool_chosen_in_the_environment_is_kept():
    pool, _, _ = _jemalloc_settings({"ARROW_DEFAULT_MEMORY_POOL": "system"})
    assert pool == "system"


def test_a_module_already_imported_is_not_refused():
    """sync.cli.main run in a process that has imported pandas (a notebook, a test run)
    leaves pandas and its submodules importable (pandas imports some at first use); the
    other refusals still hold."""
    assert _python("""
        import sys, pandas
        from sync.__main__ import tune_process
        tune_process()
        import pandas.io.formats.style, httpx
        print("pandas.io.formats.style" in sys.modules, "httpx._main" in sys.modules)
    """) == ["True False"]
