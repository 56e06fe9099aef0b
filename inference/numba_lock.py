"""Serialise the first numba compilations of librosa's kernels across processes.

librosa compiles its kernels with numba and `cache=True`, so the compiled code is written beside the
package and shared by every process. Two processes compiling the same generalised ufunc at the same
time can leave a cache whose index and data disagree; from then on every process that loads it dies
with a segmentation fault (numba issue #10128, open). Two metric workers starting together hit it
here. So the first call of each librosa path in a process takes an exclusive file lock: at most one
process at a time compiles or loads a kernel, and once a path has run in a process its kernels are
in memory and later calls take no lock.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Paths that have run in this process (a forked child inherits them with the compiled code).
_WARM: set[str] = set()


@contextmanager
def numba_first_use(path: str) -> Iterator[None]:
    if path in _WARM:
        yield
        return
    lock = Path(tempfile.gettempdir()) / "varietysound-numba.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    _WARM.add(path)
