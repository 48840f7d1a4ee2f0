"""The capi-sync process refuses pandas; DuckDB and pyarrow still work without it."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_duckdb_and_pyarrow_work_without_pandas_once_it_is_refused():
    code = textwrap.dedent("""
        import sys
        from sync.runtime_tuning import refuse_pandas
        refuse_pandas()
        import duckdb, pyarrow as pa
        con = duckdb.connect()
        batch = pa.table({"id": pa.array(["a", "b"], pa.string()), "n": pa.array([1, 2], pa.int64())})
        print(con.execute("SELECT ? || id, n + ? FROM batch ORDER BY id", ["x", 10]).fetchall())
        print("pandas" in sys.modules)
        try:
            import pandas
        except ModuleNotFoundError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[('xa', 11), ('xb', 12)]", "False",
        "No module named 'pandas' (refused by capi-sync: not needed)"]


def test_importing_the_cli_does_not_import_pandas():
    """`capi-sync` refuses pandas in main(); nothing imported before that may load it (an
    Arrow array made from a Python list at import time would: 0.2-0.3 s and 40 MiB a run)."""
    code = "import sys, sync.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]"]
