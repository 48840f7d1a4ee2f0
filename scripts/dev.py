#!/usr/bin/env python3
"""Set up, run the main job end to end, and run the tests, on a machine with only Python.

    python3 scripts/dev.py demo    # set up, sample data -> dbt build -> emulator -> sync (twice)
    python3 scripts/dev.py test    # set up (incl. the BigQuery emulator's own venv), run pytest
    python3 scripts/dev.py setup   # only create/refresh the virtual environments

Runs with the system Python and the standard library only; everything else is
installed into `.venv/` (the project) and `.venv-crucible/` (the BigQuery emulator,
which pins its own duckdb and sqlglot and so lives apart).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
CRUCIBLE_VENV = ROOT / ".venv-crucible"
CRUCIBLE_REQUIREMENT = "crucible-emulator[server]>=0.1.0a2,<0.2"
BIN = "Scripts" if os.name == "nt" else "bin"


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(cmd: list[str | os.PathLike], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _stamp_ok(env_dir: Path, key: str) -> bool:
    stamp = env_dir / ".installed"
    return stamp.exists() and stamp.read_text() == key


def _ensure_venv(env_dir: Path, requirements: list[str], key_files: list[Path]) -> Path:
    """Create env_dir if needed and install requirements; skip when nothing changed."""
    digest = hashlib.sha256(" ".join(requirements).encode())
    for f in key_files:
        digest.update(f.read_bytes())
    key = digest.hexdigest()
    python = env_dir / BIN / "python"
    if python.exists() and _stamp_ok(env_dir, key):
        return python
    if not python.exists():
        log(f"creating {env_dir.name}/")
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    log(f"installing into {env_dir.name}/: {' '.join(requirements)}")
    run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([python, "-m", "pip", "install", "--quiet", *requirements], cwd=ROOT)
    (env_dir / ".installed").write_text(key)
    return python


def setup(with_bigquery_emulator: bool) -> Path:
    python = _ensure_venv(VENV, ["-e", ".[dbt,test,bench,report,otlp,deploy]"], [ROOT / "pyproject.toml"])
    if with_bigquery_emulator:
        _ensure_venv(CRUCIBLE_VENV, [CRUCIBLE_REQUIREMENT], [])
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Conversions API emulator exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the Conversions API emulator did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def demo(args: argparse.Namespace) -> int:
    python = setup(with_bigquery_emulator=False)
    bindir = python.parent
    env = dict(os.environ)
    data_dir = ROOT / "data"
    data_dir.mkdir(exist_ok=True)
    duckdb_path = Path(env.get("DUCKDB_PATH", data_dir / "warehouse.duckdb"))
    env["DUCKDB_PATH"] = str(duckdb_path)
    port = int(env.get("CAPI_EMULATOR_PORT") or _free_port())
    endpoint = f"http://127.0.0.1:{port}"
    env["CAPI_ENDPOINT"] = endpoint
    received = data_dir / "emulator-received.jsonl"
    report = data_dir / "capi-sync-report.html"

    log(f"generating sample data into {duckdb_path} "
        f"({args.customers} customers, {args.orders} orders, {args.days} days)")
    if duckdb_path.exists() and not args.keep:
        duckdb_path.unlink()
        for side in (duckdb_path.with_name(duckdb_path.name + ".wal"),):
            side.unlink(missing_ok=True)
    run([python, "-m", "sample_data", "--duckdb-path", duckdb_path, "--customers", args.customers,
         "--orders", args.orders, "--days", args.days], env=env, cwd=ROOT)

    log("dbt build (DuckDB)")
    # --full-refresh: the sample data was just (re)written, so no event built before stands
    run([bindir / "dbt", "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project", "--full-refresh"],
        env=env, cwd=ROOT)

    log(f"starting the local Conversions API emulator on {endpoint}")
    received.unlink(missing_ok=True)
    emulator = subprocess.Popen(
        [str(bindir / "capi-sync"), "emulator", "--port", str(port), "--record", str(received)],
        env=env, cwd=ROOT)
    try:
        _wait_for_port(port, emulator)
        log("capi-sync run (first run: sends everything eligible)")
        run([bindir / "capi-sync", "run", "--config", "config/sync.yml"], env=env, cwd=ROOT)
        log("capi-sync run (second run: nothing new, sends nothing)")
        run([bindir / "capi-sync", "run", "--config", "config/sync.yml"], env=env, cwd=ROOT)
        log("capi-sync status")
        run([bindir / "capi-sync", "status", "--config", "config/sync.yml"], env=env, cwd=ROOT)
        log("capi-sync quality (the emulator's Dataset Quality API)")
        run([bindir / "capi-sync", "quality", "--config", "config/sync.yml"], env=env, cwd=ROOT)
        log("capi-sync report")
        run([bindir / "capi-sync", "report", "--config", "config/sync.yml", "--output", report], env=env, cwd=ROOT)
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    if received.exists():
        lines = sum(1 for _ in received.open())
        log(f"the emulator accepted {lines} events; they are in {received.relative_to(ROOT)}")
    log(f"the report (open it in a browser; it works offline): {report}")
    return 0


def test(args: argparse.Namespace) -> int:
    python = setup(with_bigquery_emulator=not args.no_bigquery)
    env = dict(os.environ)
    if not args.no_bigquery:
        env["CRUCIBLE_BIN"] = str(CRUCIBLE_VENV / BIN / "crucible")
    cmd = [str(python), "-m", "pytest", *args.pytest_args]
    log(" ".join(["pytest", *args.pytest_args]))
    return subprocess.call(cmd, env=env, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="create/refresh the virtual environments")
    p_setup.add_argument("--no-bigquery", action="store_true", help="skip the BigQuery emulator's venv")
    p_demo = sub.add_parser("demo", help="run the main job end to end on local defaults")
    p_demo.add_argument("--customers", type=int, default=2_000)
    p_demo.add_argument("--orders", type=int, default=6_000)
    p_demo.add_argument("--days", type=int, default=60)
    p_demo.add_argument("--keep", action="store_true", help="keep the existing DuckDB file and its sync state")
    p_test = sub.add_parser("test", help="run the test suite")
    p_test.add_argument("--no-bigquery", action="store_true", help="skip the BigQuery emulator tests")
    p_test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    args = parser.parse_args()
    if args.command == "setup":
        setup(with_bigquery_emulator=not args.no_bigquery)
        return 0
    if args.command == "demo":
        return demo(args)
    return test(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"error: step failed with exit code {exc.returncode}: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        sys.exit(exc.returncode or 1)
