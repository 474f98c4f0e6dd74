"""The writer lock: one process at a time writes an index folder.

An advisory `flock` on a file in the folder: the kernel drops it when the
holder dies, however it dies, so a killed indexer never leaves a stale lock.
The file's text names the holder, for the message a second writer gets.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from searchengine.errors import LockedError

LOCK_NAME = "writer.lock"
POLL_SECONDS = 0.05
PROBE_GRACE_SECONDS = 0.3


class WriterLock:
    """The exclusive right to write one index folder."""

    def __init__(self, index_dir: Path, purpose: str = "writing"):
        self.index_dir = index_dir
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds (math.inf: for as long as it takes).

        `on_wait` is told once, with who holds it, when this has to wait.
        """
        fd = os.open(self.index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        # even without waiting, try for a moment: a reader's writer_active() probe
        # holds a shared lock for microseconds and must not make a writer fail
        patience = max(wait, PROBE_GRACE_SECONDS)
        deadline = time.monotonic() + patience if math.isfinite(patience) else math.inf
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockedError(self.index_dir, holder) from None
                if wait and not told and on_wait is not None:
                    on_wait(f"waiting for {holder} to finish with {self.index_dir}")
                    told = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()} ({self.purpose}, since {stamp})".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def writer_active(index_dir: Path) -> bool:
    """Whether some process holds the writer lock of `index_dir` right now."""
    try:
        fd = os.open(index_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock taken just now
    return False


def _holder(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
