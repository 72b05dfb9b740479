"""Errors the library raises; the CLI maps them to exit codes (2 for all of these)."""

from __future__ import annotations


class OperatorError(Exception):
    """Bad operator input: a rules file, config, target list or credentials file.

    ``str()`` is the one-line message the CLI prints: ``path:line: what is wrong``.
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
        return f"{where}{self.message}"


class ScanError(Exception):
    """The scan could not run (interface missing, no permission for raw sockets, ...)."""


class LabError(Exception):
    """The simulated facility (``auditor.lab``) could not be built, reached or removed.

    Not a ``ScanError``: a broken lab says nothing about a scan of a real network.
    Defined here, not in the lab, so the CLI can map it to exit 2 without importing the lab.
    """


class StoreLockedError(Exception):
    """Another camaudit process holds the database lock."""
