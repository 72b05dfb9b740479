"""Room to record a failure: a little disk space held beside the database while a scan is written.

When the disk fills mid-scan, SQLite cannot append even the one page that marks the scan
failed. The writer therefore holds ``<db>.reserve`` (allocated, not sparse) from
``begin_scan`` to ``finish_scan``; on a full disk the store deletes it, and the space it
frees lets the scan end as ``failed`` instead of being left ``running``. A scan that cannot
get the reserve at its start would not have room to be recorded: it is refused before the
first packet.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..errors import StoreError

RESERVE_BYTES = 1024 * 1024
"""Enough for the final status update (a few WAL frames), with a wide margin."""


class SpaceReserve:
    def __init__(self, path: Path, label: str, size: int = RESERVE_BYTES) -> None:
        self.path, self.label, self.size = path, label, size
        self.held = False

    def hold(self) -> None:
        """Allocate the reserve (a left-over one from a killed run is reused)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._error(exc) from exc
        try:
            os.posix_fallocate(fd, 0, self.size)
        except OSError as exc:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise self._error(exc) from exc
        os.close(fd)
        self.held = True

    def release(self) -> bool:
        """Free the space; True if there was a reserve to free."""
        was = self.held or self.path.exists()
        self.held = False
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            return False
        return was

    def _error(self, exc: OSError) -> StoreError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreError(f"less than {self.size // (1024 * 1024)} MiB free beside the database: no room to "
                              "record a scan; free some space first", path=self.label)
        return StoreError(f"cannot reserve space beside the database ({self.path.name}): {exc.strerror}",
                          path=self.label)
