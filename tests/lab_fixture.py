"""A running demo lab for tests, shared by the whole session, always torn down.

Use the ``demo_lab`` fixture (registered in conftest.py) in tests marked
``@pytest.mark.netns``; it yields an :class:`auditor.lab.runner.LabState` with a
random tag. Run independent clients inside the scanner namespace with
:func:`scanner_run` (a subprocess under ``ip netns exec``) or, in-process,
``with enter_netns(lab.scanner_ns):`` (this thread only).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import pytest

from auditor.lab.runner import LabState, lab_down, lab_up, scanner_argv


def _netns_ok() -> tuple[bool, str]:
    from conftest import netns_available

    return netns_available()


@pytest.fixture(scope="session")
def demo_lab() -> Iterator[LabState]:
    """The shipped demo fleet, up in its own namespaces for the test session."""
    ok, reason = _netns_ok()
    if not ok:
        pytest.skip(reason)
    tag = "t" + secrets.token_hex(4)
    # `timeout pytest ...` sends SIGTERM, which would skip every finally: turn it into
    # KeyboardInterrupt so pytest unwinds and this fixture still removes the lab.
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        state = lab_up(tag)
        yield state
    finally:
        try:
            lab_down(tag)
        finally:
            if signal.getsignal(signal.SIGTERM) is _sigterm_to_interrupt:
                signal.signal(signal.SIGTERM, previous)


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def process_cmdlines() -> set[str]:
    """Every process command line on the machine now (a secret must never appear in one)."""
    seen: set[str] = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                seen.add(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return seen


def scanner_run(lab: LabState, argv: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the lab's scanner namespace; capture text output."""
    return subprocess.run(scanner_argv(lab.tag, argv), capture_output=True, text=True, timeout=timeout)


def scanner_python(lab: LabState, code: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet (this interpreter, so the venv's packages) inside the scanner namespace."""
    return scanner_run(lab, [sys.executable, "-c", code, *args], timeout=timeout)
