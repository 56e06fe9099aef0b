"""librosa's numba kernels are compiled by one process at a time (numba issue #10128)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference.numba_lock import numba_first_use

HOLD = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(2)
"""


def test_a_first_use_waits_for_another_process_compiling_and_later_uses_do_not():
    lock = Path(tempfile.gettempdir()) / "varietysound-numba.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with numba_first_use("test-path"):
            waited = time.monotonic() - started
        assert waited > 1.0, "the first use waited for the other process's lock"
    finally:
        holder.wait(timeout=10)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with numba_first_use("test-path"):
            assert time.monotonic() - started < 0.5, "a path that has run takes no lock"
    finally:
        holder.wait(timeout=10)
