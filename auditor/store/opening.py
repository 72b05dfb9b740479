"""Opening the database file without harming it, and naming what is wrong with it in one line.

Every open starts read-only. The file is checked first — a regular file, an SQLite file,
camaudit's own (``schema.identify_file``), not newer than this camaudit — so a file that
is not ours is refused byte-for-byte unchanged: no WAL switch, no journal, no lock file.
Readers stay on that read-only connection; on a read-only file system, where SQLite cannot
create the WAL index beside the file, they read it as immutable (nobody can be writing
there). Writers reopen the file read-write only after the check.

``store_error`` turns what SQLite (or the JSON columns) raise into one ``StoreError`` line:
damaged file (with the ``.recover`` command to salvage it), full disk, read-only file,
locked, I/O error.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"

_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_READ_ONLY = ("SQLITE_READONLY", "SQLITE_CANTOPEN")
_NO_SHM = ("SQLITE_IOERR_SHM", "SQLITE_FULL")
"""A reader could not create or size the WAL index (-shm): a full file system."""


def _uri(path: Path, **params: str | int) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.absolute()))}?{query}"


def file_state(path: Path, label: str) -> str:
    """``missing``, ``empty`` (zero bytes) or ``sqlite``; ``StoreError`` for anything else.

    Only ``stat`` and a 16-byte read: a FIFO or device is never opened for reading.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise StoreError(f"cannot read the database file: {exc.strerror}", path=label) from exc
    if not stat.S_ISREG(st.st_mode):
        raise StoreError("not a regular file; --db names a SQLite database file", path=label)
    if st.st_size == 0:
        return "empty"
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read the database file: {exc.strerror}", path=label) from exc
    if head != SQLITE_MAGIC:
        raise StoreError("not an SQLite database (no SQLite header); nothing was changed; use another --db",
                         path=label)
    return "sqlite"


def writable(path: Path) -> bool:
    """Whether this process may write the file and create its journal beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent if str(path.parent) else Path("."), os.W_OK)


def connect_read_only(path: Path, label: str, timeout: float) -> sqlite3.Connection:
    """A connection that cannot write; tried on the schema at once, so a bad file fails here."""
    conn = sqlite3.connect(_uri(path, mode="ro"), uri=True, timeout=timeout, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        conn.close()
        name = str(getattr(exc, "sqlite_errorname", ""))
        no_index = name.startswith(_NO_SHM) or (name.startswith(_READ_ONLY) and not writable(path))
        if not no_index:
            raise store_error(exc, label) from exc
    # A WAL database where SQLite cannot make its -shm index: a read-only file system or
    # directory, or a full disk. With no -wal data there is no writer (a writer in WAL mode
    # always has one, and none can start without room to reserve), so the file is read as
    # immutable; -wal data never merged would be silently ignored that way: refuse instead.
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(f"cannot be read here: SQLite cannot create its index file beside it (read-only or full "
                         f"file system) and {wal.name} holds changes not yet merged; copy both somewhere "
                         "writable to read them", path=label)
    conn = sqlite3.connect(_uri(path, mode="ro", immutable=1), uri=True, timeout=timeout,
                           check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise store_error(exc, label) from exc
    return conn


def connect_read_write(path: Path, label: str, timeout: float) -> sqlite3.Connection:
    try:
        return sqlite3.connect(_uri(path, mode="rwc"), uri=True, timeout=timeout, check_same_thread=False)
    except sqlite3.Error as exc:
        raise store_error(exc, label) from exc


def empty_file(label: str) -> StoreError:
    return StoreError("no camaudit database here: the file is empty (run 'camaudit scan' first, or pass --db / "
                      "set CAMAUDIT_DB)", path=label)


def damaged(label: str, why: str) -> StoreError:
    why = " ".join(why.replace("*** in database main ***", "").split())[:200]
    return StoreError(
        f"the database file is damaged ({why}); camaudit will not write to it. Salvage what is readable "
        f"with: sqlite3 {label} .recover | sqlite3 recovered.db", path=label)


class DiskFull(StoreError):
    """The disk holding the database is full (the writer then frees its reserve: ``reserve.py``)."""


def disk_full(label: str) -> StoreError:
    return DiskFull("the disk holding the database is full; free some space (scans already stored are intact)",
                    path=label)


def store_error(exc: BaseException, label: str) -> StoreError:
    """One line for a failure reading or writing the database ``label``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return damaged(label, "text that is not UTF-8")
    if isinstance(exc, json.JSONDecodeError):
        return damaged(label, f"a stored JSON value does not parse: {exc.msg}")
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return disk_full(label)
        if exc.errno == errno.EROFS:
            return StoreError("is on a read-only file system; camaudit cannot record scans there", path=label)
        return StoreError(f"cannot use the database file: {exc.strerror or exc}", path=label)
    name = str(getattr(exc, "sqlite_errorname", ""))
    text = str(exc)
    if text.startswith("Could not decode to UTF-8"):
        return damaged(label, "text that is not UTF-8")
    if name.startswith(_DAMAGED) or "malformed" in text or "not a database" in text:
        return damaged(label, text)
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return disk_full(label)
    if name.startswith("SQLITE_READONLY"):
        return StoreError(f"cannot write to the database ({text}); it is read-only here", path=label)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError("the database is busy (another process holds SQLite's write lock); try again later",
                          path=label)
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"I/O error on the database file ({text}); check the disk", path=label)
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError("cannot open the database file (missing directory or no permission)", path=label)
    return StoreError(f"cannot use the database: {text}", path=label)
