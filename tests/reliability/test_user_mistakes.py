"""A user's mistakes on the command line, in the file system and in the environment: each is
one line `capi-sync...: error: ...` with its documented exit code, no traceback, no internal
error, nothing sent. Real `capi-sync` processes against the emulator."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from tests.reliability.conftest import CAPI_SYNC, cli, sync_env
from offline_events_fixture import TOKEN, insert_rows, make_row, write_config


def one_line(result, code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def setup(tmp_path, warehouse, emulator, now):
    insert_rows(warehouse, [make_row(i, now - 600 + i) for i in range(3)])
    return tmp_path, write_config(tmp_path, warehouse, emulator.url), emulator


def test_command_line_mistakes(setup):
    tmp_path, config, emulator = setup
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder").mkdir()
    cases = [
        (("status", "--limit", "-1"), 2, "capi-sync status: error: argument --limit: must be 0 or more (got -1) "
                                         "(see capi-sync status --help)"),
        (("dead-letter", "list", "--limit", "x"), 2, "capi-sync dead-letter: error: argument --limit: must be a "
                                                     "whole number (got 'x') (see capi-sync dead-letter --help)"),
        (("run", "--output", str(tmp_path / "out.jsonl")), 2,
         "capi-sync: error: --output is the dry run's file; add --dry-run (a real run writes no file)"),
        (("run", "--dry-run", "--output", str(tmp_path / "a_folder")), 2,
         f"capi-sync: error: --output: {tmp_path / 'a_folder'} is a folder; name a file, e.g. "
         f"{tmp_path / 'a_folder' / 'dry-run.jsonl'}"),
        (("run", "--dry-run", "--output", str(tmp_path / "a_file" / "out.jsonl")), 2,
         f"capi-sync: error: --output: {tmp_path / 'a_file'} is not a folder"),
    ]
    for args, code, message in cases:
        result = cli(*args, "--config", str(config))
        assert one_line(result, code) == message
    assert emulator.requests == [] and not (tmp_path / "out.jsonl").exists()


def test_duckdb_file_in_a_missing_folder(tmp_path, emulator):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    config = write_config(tmp_path, missing, emulator.url)
    run = cli("run", "--config", str(config))
    assert one_line(run, 6) == (f"capi-sync: error: source.path: the folder {missing.parent} does not exist, so "
                                "neither does the DuckDB file (create it with `dbt build`, or set DUCKDB_PATH); "
                                "nothing was sent")
    for args in (("status",), ("run", "--dry-run")):
        assert one_line(cli(*args, "--config", str(config)), 6) == (
            f"capi-sync: error: source.path: DuckDB file {missing} does not exist (create it with the sample-data "
            "generator and `dbt build`, or set DUCKDB_PATH)")
    assert not missing.parent.exists() and emulator.requests == []


def test_read_only_folder(warehouse, emulator, now):
    """The sync runs as an unprivileged user (nobody, when the tests run as root) on a DuckDB
    file it may read in a folder it may not write: `run` cannot take its lock (exit 6),
    `status` and a dry run (writing elsewhere) work."""
    insert_rows(warehouse, [make_row(1, now - 60)])
    top = Path(tempfile.mkdtemp(prefix="capi-ro-"))
    try:
        folder = top / "ro"
        folder.mkdir()
        shutil.copy(warehouse, folder / "warehouse.duckdb")
        writable = top / "out"
        writable.mkdir()
        config = write_config(top, folder / "warehouse.duckdb", emulator.url)
        for path, mode in ((top, 0o755), (folder, 0o555), (folder / "warehouse.duckdb", 0o644), (config, 0o644),
                           (writable, 0o777)):
            os.chmod(path, mode)
        user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}

        def run(*args):
            import subprocess
            return subprocess.run([CAPI_SYNC, *args, "--config", str(config)], capture_output=True, text=True,
                                  env=sync_env(), cwd=top, timeout=60, **user)
        try:
            run("--help")
        except PermissionError:   # raised before capi-sync starts: its path is closed to the user
            pytest.skip(f"user nobody cannot reach {CAPI_SYNC} (a checkout in a folder of mode 700, such as "
                        "`mktemp -d`'s): clone into a folder others may enter to run this test")
        lock = folder / "warehouse.duckdb.capi-sync.lock"
        assert one_line(run("run"), 6) == (
            f"capi-sync: error: cannot create the lock file {lock} (Permission denied): the folder of the DuckDB "
            "file must be writable by the sync (its lock and DuckDB's write-ahead log live there); nothing was sent")
        status = run("status")
        assert status.returncode == 0 and "no runs yet" in status.stdout, status.stderr
        dry = run("run", "--dry-run", "--output", str(writable / "bodies.jsonl"))
        assert dry.returncode == 0, dry.stderr
        assert len((writable / "bodies.jsonl").read_text().splitlines()) == 1
        assert emulator.requests == []
    finally:
        os.chmod(top / "ro", 0o755)
        shutil.rmtree(top)


def test_cursor_column_of_text(tmp_path, warehouse, emulator, now):
    insert_rows(warehouse, [make_row(1, now - 60)])
    config = write_config(tmp_path, warehouse, emulator.url, extra="")
    config.write_text(config.read_text().replace("cursor:\n  lookback: 3d", "cursor:\n  column: order_id"))
    for args in (("run",), ("run", "--dry-run", "--output", str(tmp_path / "b.jsonl"))):
        assert one_line(cli(*args, "--config", str(config)), 6) == (
            f"capi-sync: error: cursor.column: column 'order_id' of analytics.offline_events is VARCHAR; the cursor "
            "must be an integer column of unix seconds, like event_time; nothing was sent")
    assert emulator.requests == []


def test_token_from_a_mounted_secret_file(setup):
    """A trailing newline (what a mounted secret file holds) is stripped; a token that cannot
    be sent in a header is exit 2 naming its environment variable, before any request."""
    tmp_path, config, emulator = setup
    bad = cli("run", "--config", str(config), env_extra={"META_ACCESS_TOKEN": "tok en"})
    assert one_line(bad, 2) == (f"capi-sync: error: {config}: destination.access_token: the value of environment "
                                "variable META_ACCESS_TOKEN has a space at character 4; an access token is sent in "
                                "the Authorization header and may only hold visible ASCII characters; nothing was sent")
    assert emulator.requests == []
    good = cli("run", "--config", str(config), env_extra={"META_ACCESS_TOKEN": TOKEN + "\n"})
    assert good.returncode == 0, good.stderr
    assert len(emulator.accepted_event_ids()) == 3


def test_config_mistakes(setup, monkeypatch):
    tmp_path, config, emulator = setup
    text = config.read_text()
    cases = {
        "latin1.yml": (text.replace("name: offline_events", "name: caf\xe9").encode("latin-1"),
                       "line 1: is not UTF-8 text (byte 0xe9); save the file as UTF-8"),
        "twice.yml": ((text + "name: again\n").encode(),
                      f"line {text.count(chr(10)) + 1}: duplicate key 'name' (first written at line 1); "
                      "write each key once"),
        "shell.yml": (text.replace("name: offline_events", "name: \"{{ cycler.__init__.__globals__.os.popen("
                                   "'touch " + str(tmp_path / "pwned") + "').read() }}\"").encode(),
                      "name: template error: access to attribute '__init__' of 'StrictUndefined' object is unsafe "
                      "(only env_var('NAME'[, 'default']) is available)"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert one_line(cli("run", "--config", str(path)), 2) == f"capi-sync: error: {path}: {message}"
    assert not (tmp_path / "pwned").exists() and emulator.requests == []
    # an env value that looks like YAML stays text: no key is added to the request
    injected = tmp_path / "inject.yml"
    injected.write_text(text.replace('dataset_id: "1234567890"', "dataset_id: \"{{ env_var('PIXEL') }}\""))
    result = cli("run", "--config", str(injected), env_extra={"PIXEL": "1234567890\n  test_event_code: TEST1"})
    assert one_line(result, 2) == (f"capi-sync: error: {injected}: destination.dataset_id: must be the dataset "
                                   "(pixel) id, digits only (got '1234567890\\n  test_event_code: TEST1')")
    assert emulator.requests == []


def test_a_watermark_stored_in_milliseconds(setup, now):
    """As an older version could store it: `status` shows it, `run` stops in one line, nothing sent."""
    import duckdb
    tmp_path, config, emulator = setup
    assert cli("run", "--config", str(config)).returncode == 0
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("UPDATE capi_sync.sync_watermarks SET watermark = ?", [now * 1000])
    con.close()
    emulator.reset()
    status = cli("status", "--config", str(config))
    assert status.returncode == 0 and f"watermark:    {now * 1000} (not a date in unix seconds)" in status.stdout
    line = one_line(cli("run", "--config", str(config)), 6)
    assert line.startswith(f"capi-sync: error: state: the watermark of sync 'offline_events' is {now * 1000}, ")
    assert line.endswith("s ahead of the clock (a cursor in milliseconds?); a run from it would read nothing. Set it "
                         "to unix seconds in the state table sync_watermarks; nothing was sent")
    assert emulator.requests == []
