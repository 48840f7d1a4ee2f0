"""A real headless Chromium (Debian's `chromium`) for the pages a person looks at: installed
with apt-get when it is missing (CI is a fresh Debian machine, as root)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def chromium_binary() -> str:
    """The chromium executable, installing Debian's package first when there is none."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("chromium is not installed and the tests are not root: apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"], check=True, env=env,
                   capture_output=True, timeout=900)
    return shutil.which("chromium") or "/usr/bin/chromium"


def _flags(profile: Path) -> list[str]:
    # Every host name resolves to nothing: the page must render without the network.
    return ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--virtual-time-budget=10000"]


def dump_dom(binary: str, page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran."""
    done = subprocess.run([binary, *_flags(profile), "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(binary: str, page: Path, out: Path, profile: Path, size: str = "1280,2400") -> None:
    done = subprocess.run([binary, *_flags(profile), f"--window-size={size}", f"--screenshot={out}",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
