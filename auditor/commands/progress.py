"""A one-line progress display on a TTY (stderr); silent otherwise or with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._phase = ""
        self._last = 0.0
        self._started = time.monotonic()

    def phase(self, name: str) -> None:
        self._phase = name
        self._draw(f"{name}…", force=True)

    def hosts(self, done: int, total: int, found: int) -> None:
        self._draw(f"probing hosts {done}/{total} · {found} live", force=done == total)

    def plan(self, text: str) -> None:
        """The scan's size and estimate, before anything is sent: kept on screen (not overwritten)."""
        if self.enabled:
            self.stream.write("\r\x1b[2K" + text + "\n")
            self.stream.flush()

    def status(self, text: str) -> None:
        self._draw(text, force=True)

    def _draw(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.1):
            return
        self._last = now
        self.stream.write(f"\r\x1b[2K[{now - self._started:5.1f}s] {text}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
