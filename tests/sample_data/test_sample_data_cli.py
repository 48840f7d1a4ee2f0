"""python -m sample_data as a user runs it: summary line, one-line errors with exit code 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sample_data.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env_path: str | None = None) -> subprocess.CompletedProcess:
    env = None if env_path is None else dict(os.environ, DUCKDB_PATH=env_path)
    return subprocess.run([sys.executable, "-m", "sample_data", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_writes_the_tables_and_prints_one_summary_line(tmp_path):
    path = tmp_path / "sub" / "w.duckdb"
    result = run("--duckdb-path", str(path), "--customers", "40", "--orders", "25", "--days", "5",
                 "--seed", "3", "--as-of", "2025-06-01T00:00:00Z", "--schema", "cdp")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with duckdb.connect(str(path), read_only=True) as con:
        lines = con.execute("SELECT count(*) FROM cdp.unified_itemized_transactions").fetchone()[0]
        assert con.execute("SELECT count(*) FROM cdp.customer_360").fetchone()[0] == 40
        assert con.execute("SELECT count(DISTINCT order_id) FROM cdp.unified_itemized_transactions").fetchone()[0] == 25
    out = result.stdout.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"sample_data: wrote 40 customer_360 rows and {lines} unified_itemized_transactions "
                             f"rows (25 orders, as of 2025-06-01T00:00:00Z) to cdp in {path} in ")
    assert out[0].endswith(" s")


def test_append_from_the_command_line(tmp_path):
    path = str(tmp_path / "a.duckdb")
    common = ("--duckdb-path", path, "--days", "3", "--as-of", "2025-06-01T00:00:00Z")
    assert run(*common, "--customers", "10", "--orders", "10").returncode == 0
    appended = run(*common, "--customers", "0", "--orders", "5", "--append")
    assert appended.returncode == 0, appended.stderr
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM amperity.customer_360").fetchone()[0] == 10
        assert con.execute("SELECT max(order_id), count(DISTINCT order_id) FROM amperity.unified_itemized_transactions"
                           ).fetchone() == ("ORD-00000015", 15)


def test_duckdb_path_defaults_to_the_environment(tmp_path):
    path = tmp_path / "env.duckdb"
    result = run("--customers", "2", "--orders", "1", "--days", "1", env_path=str(path))
    assert result.returncode == 0, result.stderr
    assert path.exists()


@pytest.mark.parametrize("args, message", [
    ((), "the following arguments are required: --customers, --orders, --days"),
    (("--customers", "x", "--orders", "1", "--days", "1"), "argument --customers: must be a whole number, got 'x'"),
    (("--customers", "1", "--orders", "-4", "--days", "1"), "argument --orders: must not be negative, got -4"),
    (("--customers", "1", "--orders", "1", "--days", "0"), "days must be at least 1, got 0"),
    (("--customers", "0", "--orders", "1", "--days", "1"), "orders need customers"),
    (("--customers", "1", "--orders", "1", "--days", "1", "--as-of", "last week"),
     "argument --as-of: not an ISO-8601 date-time: 'last week'"),
    (("--customers", "1", "--orders", "1", "--days", "1", "--schema", "x;drop"),
     "argument --schema: not a plain identifier: 'x;drop'"),
    (("--customers", "1", "--orders", "1", "--days", "1", "--colour", "red"), "unrecognized arguments: --colour red"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    path = tmp_path / "never.duckdb"
    assert main(["--duckdb-path", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("python -m sample_data: error: ")
    assert message in err
    assert not path.exists()


def test_bad_arguments_in_a_real_process_exit_2_without_traceback(tmp_path):
    result = run("--duckdb-path", str(tmp_path / "x.duckdb"), "--customers", "1", "--orders", "1", "--days", "-1")
    assert result.returncode == 2
    assert result.stderr == "python -m sample_data: error: argument --days: must not be negative, got -1\n"


def test_a_file_that_is_not_a_duckdb_database_gives_one_line_and_exit_1(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    result = run("--duckdb-path", str(path), "--customers", "1", "--orders", "1", "--days", "1")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"python -m sample_data: error: {path}: ")
