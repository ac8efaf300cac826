"""Debian programs some end-to-end tests need — Chromium and its driver for the console test, poppler's
``pdftoppm`` for the report pictures — installed by the test run itself on a fresh machine (as root, with apt).

A test declares what it needs with ``@pytest.mark.debian_packages("chromium", ...)``. Once the session has
collected its tests, the install of whatever is missing starts in the background (``tests/conftest.py``), so
apt's minute runs beside the unit tests instead of in front of the first test that needs it; that test waits
for the install (``require``) and skips, saying why, when the programs are still missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

MARKER = "debian_packages"
#: a program a test runs -> the Debian package that has it
PACKAGES = {"chromium": "chromium", "chromedriver": "chromium-driver", "pdftoppm": "poppler-utils"}
LOG = Path(tempfile.gettempdir()) / "billecta-sync-test-apt.log"

_lock = threading.Lock()
_install: subprocess.Popen[bytes] | None = None


def missing(programs: Iterable[str]) -> list[str]:
    return sorted(p for p in set(programs) if shutil.which(p) is None)


def start(programs: Iterable[str]) -> None:
    """Start installing the packages of the programs that are missing (once per session; only as root)."""
    global _install
    absent = missing(programs)
    with _lock:
        if _install is not None or not absent or os.geteuid() != 0 or shutil.which("apt-get") is None:
            return
        packages = " ".join(sorted({PACKAGES[p] for p in absent}))
        with open(LOG, "wb") as log:
            _install = subprocess.Popen(["sh", "-c", f"apt-get update -qq && apt-get install -y -qq {packages}"],
                                        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def require(*programs: str) -> None:
    """Wait for the install; skip the calling test, saying why, when a program is still missing."""
    start(programs)  # a test run on its own, or a session that did not see the marker
    with _lock:
        install = _install
    if install is not None:
        install.wait(timeout=900)
    absent = missing(programs)
    if not absent:
        return
    packages = " ".join(sorted({PACKAGES[p] for p in absent}))
    if os.geteuid() != 0:
        pytest.skip(f"{', '.join(absent)} missing and only root can install them (apt-get install {packages})")
    pytest.skip(f"{', '.join(absent)} missing: installing {packages} failed (see {LOG})")
