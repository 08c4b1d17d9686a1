"""A busy machine on demand: one busy-loop process per CPU, started and ended by the caller.

The load scenario and the demo must give the same outcomes while another CPU-bound process runs
beside them; ``cpu_hog()`` is that process (one per CPU this process may use, by default).
Each hog is a child process killed by its own id when the block ends, whatever happened in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

BUSY_LOOP = "while True:\n    pass\n"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def cpu_hog(processes: int | None = None) -> Iterator[list[int]]:
    """Run ``processes`` busy loops (default: one per CPU) for the duration; yields their pids."""
    count = cpu_count() if processes is None else processes
    if count < 0:
        raise ValueError(f"processes must be 0 or more, got {count}")
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            hogs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield [hog.pid for hog in hogs]
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=10)
