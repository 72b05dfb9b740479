"""Output paths (reports, JSON, the log file) are checked before the first packet.

A report that cannot be written should cost no scan: a directory where a file is
meant, a missing or read-only parent, a name longer than the file system takes, a
file where a directory is expected — each is one ``OperatorError`` naming the path,
raised before anything is probed. (A write can still fail at the end — the disk
fills up meanwhile — and that is one line too, with the scan kept: see
``pipeline.write_reports``.)
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import OperatorError


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


def check_directory(directory: Path, what: str, *, create: bool = False) -> None:
    """``directory`` exists (or, with ``create``, can be made) and a file can be created in it."""
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OperatorError(f"{what}: a file is in the way of this directory", str(directory)) from None
        except OSError as exc:
            raise OperatorError(f"{what}: cannot create this directory: {_reason(exc)}", str(directory)) from None
    try:
        if not directory.exists():
            raise OperatorError(f"{what}: the directory does not exist", str(directory))
        if not directory.is_dir():
            raise OperatorError(f"{what}: not a directory", str(directory))
        fd, probe = tempfile.mkstemp(prefix=".camaudit-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OperatorError(f"{what}: cannot write in this directory: {_reason(exc)}", str(directory)) from None
    os.close(fd)
    Path(probe).unlink(missing_ok=True)


def check_output_path(path: Path, what: str) -> None:
    """A file camaudit will write (by temporary file + rename) at ``path``; ``OperatorError`` if it cannot."""
    target = Path(path)
    if not target.name or target.name in (".", ".."):
        raise OperatorError(f"{what}: not a file name", str(path))
    parent = target.parent
    try:
        if target.is_dir():
            raise OperatorError(f"{what}: is a directory (name a file)", str(path))
        if parent.exists() and not parent.is_dir():
            raise OperatorError(f"{what}: {parent} is not a directory", str(path))
        if not parent.exists():
            raise OperatorError(f"{what}: the directory {parent} does not exist", str(path))
        if len(os.fsencode(target.name)) > _name_max(parent):
            raise OperatorError(f"{what}: the file name is longer than the file system allows "
                                f"({_name_max(parent)} bytes)", str(path))
        check_directory(parent, what)
    except OSError as exc:  # e.g. a path too long, a file used as a directory on the way
        raise OperatorError(f"{what}: cannot use this path: {_reason(exc)}", str(path)) from None
