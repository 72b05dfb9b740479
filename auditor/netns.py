"""Move the current thread into a named network namespace and back.

Python 3.11 has no ``os.setns``; libc's ``setns(2)`` does the job. ``setns`` with
``CLONE_NEWNET`` changes the namespace of the *calling thread* only, so sockets
created inside ``with enter_netns(name):`` belong to that namespace and keep
working after the thread returns to its original namespace. Other threads are
not affected. Named namespaces are the bind mounts ``ip netns add`` leaves in
``/run/netns/``.

Product code, not lab code: ``camaudit demo`` scans from inside the lab's scanner
namespace; the lab builds its namespaces with it too (and its emulator's threads join
them with :func:`enter_fd`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ScanError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc: ctypes.CDLL | None = None


class NetnsError(ScanError):
    """A network namespace could not be entered (missing, no permission, no setns)."""


def _setns_func() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = _libc.setns
    func.argtypes = (ctypes.c_int, ctypes.c_int)
    func.restype = ctypes.c_int
    return func


def netns_path(name: str) -> str:
    """Path of the bind mount ``ip netns`` keeps for namespace ``name``."""
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError(f"invalid namespace name {name!r}")
    return os.path.join(NETNS_RUN_DIR, name)


def netns_fd(name: str) -> int:
    """Open namespace ``name`` read-only and return the fd (the caller closes it)."""
    try:
        return os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetnsError(f"network namespace {name!r} not found: {exc.strerror}") from exc


def setns_fd(fd: int) -> None:
    """Move the calling thread into the network namespace referred to by ``fd``."""
    if _setns_func()(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)} (needs root / CAP_SYS_ADMIN)")


@contextmanager
def enter_fd(fd: int) -> Iterator[None]:
    """Like :func:`enter_netns` for an already-open namespace fd (not closed here)."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(fd)
        try:
            yield
        finally:
            setns_fd(original)
    finally:
        os.close(original)


@contextmanager
def enter_netns(name: str) -> Iterator[None]:
    """Run the body with the current thread inside network namespace ``name``.

    The thread's original namespace is restored on exit, also on exceptions.
    Sockets opened in the body stay in ``name``'s namespace for their lifetime.
    """
    fd = netns_fd(name)
    try:
        with enter_fd(fd):
            yield
    finally:
        os.close(fd)
