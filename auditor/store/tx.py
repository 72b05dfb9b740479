"""Explicit write transactions on a sqlite-utils Database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database


@contextmanager
def immediate(db: Database) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: takes SQLite's write lock up front.

    A deferred transaction that reads and then writes can fail with SQLITE_BUSY
    without waiting when another connection committed in between; an immediate one
    waits (busy_timeout) for the write lock before reading anything.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")
