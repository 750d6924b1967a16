"""One CPU per worker process.

CPython's GIL lets one thread of a process run Python at a time. When the threads of
one runtime are spread over several cores, every GIL hand-off goes from one core to
another (a futex wake and a cache miss each), and measured on 2 cores that doubled
the CPU and the wall time of a drain (``docs/benchmarks.md``). A runtime that pins its
threads to one core hands the GIL on within that core; a second process (``tayori
worker -p 2``, or another worker on the machine) claims another core.

The claim is a lock file per CPU (``flock``, released when the process ends, even if
it is killed), so separate worker processes on one machine spread out without
knowing each other. With more workers than CPUs, they share.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and fcntl is not None


class CpuClaim:
    """A CPU this process runs its runtime threads on, held until ``release``."""

    def __init__(self, cpu: int, lock: IO[bytes] | None) -> None:
        self.cpu = cpu
        self._lock = lock

    def pin_this_thread(self) -> None:
        with contextlib.suppress(OSError):  # a container may forbid it: run unpinned
            os.sched_setaffinity(0, {self.cpu})

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing drops the flock
            self._lock = None


def claim_cpu(directory: str | None = None) -> CpuClaim | None:
    """The lowest CPU no other claiming process holds (shared when all are taken);
    None where pinning is not possible or there is only one CPU."""
    if not supported():
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    where = Path(directory or tempfile.gettempdir())
    for cpu in cpus:
        lock = _try_lock(where / f"tayori-cpu-{os.getuid()}-{cpu}.lock")
        if lock is not None:
            return CpuClaim(cpu, lock)
    return CpuClaim(cpus[os.getpid() % len(cpus)], None)


def _try_lock(path: Path) -> IO[bytes] | None:
    try:
        handle = open(path, "ab")  # noqa: SIM115 - held open for the claim's life
    except OSError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle
