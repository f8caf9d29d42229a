"""One log object per file: an exclusive flock on "<path>.lock", which the kernel drops when a process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..log import EventLogOpenError


class FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path  # the log's file; the lock is beside it
        self._fd: int | None = None

    def take(self) -> None:
        """Fails clearly if another log object, in this or another process, holds it."""
        lock_path = f"{self._path}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise EventLogOpenError(f"event log {self._path}: cannot create lock file {lock_path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EventLogOpenError(
                f"event log {self._path} is already open (by this or another process)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
