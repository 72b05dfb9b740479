"""Errors the library raises; the CLI maps them to exit codes (2 for all of these)."""

from __future__ import annotations

import re

MAX_MESSAGE = 400
"""An error is one line a person reads in a cron mail: longer text is cut (it is echoed input)."""

_BREAKS = re.compile(r"\s*[\r\n]+\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as one printable line: line breaks become '; ', control characters are
    escaped (a NUL shows as ``\\x00``), and anything past ``limit`` characters is cut."""
    flat = _BREAKS.sub("; ", text.strip())
    flat = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shown(value: object, limit: int = 60) -> str:
    """``repr`` of a value the operator wrote, cut to ``limit`` characters for an error message
    (a 5,000-digit number or a pasted megabyte is named, never echoed whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 200:
        return f"<a number of about {int(abs(value).bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OperatorError(Exception):
    """Bad operator input: a rules file, config, target list or credentials file.

    ``str()`` is the one-line message the CLI prints: ``path:line: what is wrong``
    (always one line, whatever the message held).
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return one_line(f"{where}{self.message}")


class ScanError(Exception):
    """The scan could not run (interface missing, no permission for raw sockets, ...)."""


class LabError(Exception):
    """The simulated facility (``auditor.lab``) could not be built, reached or removed.

    Not a ``ScanError``: a broken lab says nothing about a scan of a real network.
    Defined here, not in the lab, so the CLI can map it to exit 2 without importing the lab.
    """


class StoreLockedError(Exception):
    """Another camaudit process holds the database lock."""


class Interrupted(BaseException):
    """The run was stopped: SIGINT/SIGTERM, or the audit's deadline ran out after probing.

    A ``BaseException`` (like ``KeyboardInterrupt``): no ``except Exception`` on the way
    up may swallow it. What was already stored stays; a scan in progress is recorded as
    interrupted, and the CLI exits 2 with one line.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StoreError(OperatorError):
    """The database file cannot be used as it is: damaged, not camaudit's, newer, read-only,
    or its disk is full. One line naming the file (``auditor.store.opening.store_error``)."""
