"""The writer lock: one camaudit process records into a database at a time.

``fcntl.flock`` on ``<db>.lock``: the kernel drops it when the holder exits, however
it exits (SIGKILL included), so a stale lock can never block the next run. The holder
writes its pid into the file so a waiting run can name it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from ..errors import OperatorError, StoreLockedError

_POLL_S = 0.05


class WriterLock:
    """Exclusive, non-reentrant lock on ``path``; ``acquire`` waits up to ``timeout`` seconds."""

    def __init__(self, path: Path, db_label: str, timeout: float) -> None:
        self.path = path
        self.db_label = db_label
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free right now; False if another process holds it."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OperatorError(f"cannot create the lock file: {exc.strerror}", path=str(self.path)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def is_free(self) -> bool:
        """True when no process holds the lock right now; creates and writes nothing (a reader's
        question: a missing lock file means no writer ever ran here)."""
        if self._fd is not None:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return False
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return True

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout``; raise StoreLockedError after that."""
        deadline = time.monotonic() + max(0.0, self.timeout)
        while not self.try_acquire():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self.holder_pid()
                who = f"pid {holder}" if holder is not None else "pid unknown"
                raise StoreLockedError(
                    f"database {self.db_label} is in use by another camaudit run ({who}); "
                    "try again later or use --db")
            time.sleep(min(_POLL_S, remaining))

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None
