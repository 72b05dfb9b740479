"""Stopping a run: SIGINT, SIGTERM and the audit's deadline become one exception.

:func:`raise_on_signals` (installed by the CLI around every command) turns SIGINT and
SIGTERM into :class:`~auditor.errors.Interrupted` in the main thread, in every phase:
loading rules, waiting for the database lock, identifying, storing, writing reports.
While the probes run, the scan engine's own asyncio handlers take over (they stop the
probes and keep what was seen); :func:`keep_handlers` puts ours back afterwards.
:func:`alarm` raises the same exception when a time budget runs out, and
:func:`shielded` holds signals back while a scan's final status is written, so a second
Ctrl-C cannot leave it ``running``.

Only the main thread can take signals; elsewhere these helpers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise(signum: int, frame: Any) -> None:
    raise Interrupted(f"stopped by {_NAMES.get(signal.Signals(signum), signal.Signals(signum).name)}")


@contextmanager
def raise_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` inside the block; the previous handlers come back after it."""
    if not _main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        _restore(previous)


def _restore(previous: dict[signal.Signals, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def keep_handlers() -> Iterator[None]:
    """Restore the Python-level SIGINT/SIGTERM handlers after the block.

    asyncio's ``remove_signal_handler`` resets a signal to its default (SIGTERM would
    then kill the process with -15, SIGINT raise KeyboardInterrupt), not to what was
    installed before the loop ran.
    """
    if not _main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def alarm(seconds: float, reason: str) -> Iterator[None]:
    """Raise ``Interrupted(reason)`` if the block is still running after ``seconds``."""
    if not _main_thread():
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise Interrupted(reason)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGALRM back during the block (they arrive right after it)."""
    if not _main_thread():
        yield
        return
    held = {*STOP_SIGNALS, signal.SIGALRM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
