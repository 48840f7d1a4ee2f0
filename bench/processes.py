"""Child processes of the benchmark: the counting sink, the emulator, timed commands with peak RSS."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


@dataclass
class Server:
    """A loopback server child (the counting sink or the emulator)."""

    process: subprocess.Popen
    url: str

    def get(self, path: str) -> dict:
        return httpx.get(self.url + path, timeout=10, trust_env=False).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _start(cmd: list[str], pattern: str, what: str, timeout: float = 30.0) -> Server:
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            # Keep draining stdout so the child never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return Server(process, f"http://127.0.0.1:{m.group(1)}")
    process.kill()
    raise BenchError(f"{what} did not start (last output: {line.strip()!r})")


def start_sink(latency_ms: float = 0.0) -> Server:
    """`python -m bench.sink`: counts events without parsing JSON."""
    return _start([sys.executable, "-m", "bench.sink", "--port", "0", "--latency-ms", str(latency_ms)],
                  r"listening (\d+)", "the counting sink")


def start_emulator(*extra: str) -> Server:
    """`capi-sync emulator --port 0 ...` (the project's Conversions API emulator)."""
    return _start([str(BIN / "capi-sync"), "emulator", "--port", "0", "--quiet", *extra],
                  r"listening on http://127\.0\.0\.1:(\d+)", "the Conversions API emulator")


@dataclass
class Timed:
    """A finished child: exit code, wall seconds, peak RSS (MiB, VmHWM polled every 20 ms), output."""

    returncode: int
    seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str


def run_timed(cmd: list[str], *, timeout: float, env: dict | None = None, what: str = "command",
              cwd: Path = ROOT) -> Timed:
    """Run `cmd` to completion, timing it and tracking its peak RSS."""
    out_path = ROOT / "data" / "bench" / f".out-{os.getpid()}"
    err_path = ROOT / "data" / "bench" / f".err-{os.getpid()}"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        peak = _HighWaterMark(process.pid)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            peak.stop()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    if process.returncode == -signal.SIGKILL and seconds >= timeout:
        raise BenchError(f"{what} did not finish within {timeout:.0f} s")
    return Timed(process.returncode, seconds, peak.kib / 1024.0, stdout, stderr)


class _HighWaterMark:
    """Polls the child's VmHWM (peak resident set of its own address space) until it exits.

    Not ru_maxrss from wait4: Linux carries the parent's RSS at fork into the child's
    ru_maxrss across exec, so a big benchmark parent would inflate every child.
    """

    def __init__(self, pid: int, every: float = 0.02):
        self.path = f"/proc/{pid}/status"
        self.kib = 0
        self._done = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with open(self.path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.kib = max(self.kib, int(line.split()[1]))
                        return
        except (OSError, ValueError):
            pass

    def _poll(self) -> None:
        while not self._done.is_set():
            self._read()
            self._done.wait(self._every)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
