"""Bad database files, table-driven: every row one damaged/foreign/newer/odd ``--db`` and one command.

Each row must end with ONE line naming the file, exit 2, within its deadline, and leave the
file byte-for-byte as it was (no WAL switch, no journal, no migration; a writing command may
leave its ``.lock`` file beside a file it then refused, a reader SQLite's empty WAL index). A new case is a new
row: a ``make`` function that breaks a copy of a good database, or a new command.

Read-only file systems and a full disk need a private mount namespace: see
``tests/test_store_filesystems.py``.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_factory import device, finding, record_scan

from auditor.cli import cli
from auditor.store import SCHEMA_VERSION, Store

pytestmark = pytest.mark.usefixtures("no_scan")  # `scan` rows must stop before the first packet


# ---- the good database every row starts from, and the ways to break a copy of it ----------------


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.db"
    with Store(path) as store:
        devices = [device(f"198.18.0.{i}", f"c0:56:e3:00:01:{i:02x}") for i in range(1, 120)]
        record_scan(store, devices, [finding(d) for d in devices])
        record_scan(store, devices, [finding(d) for d in devices])
    return path


def _sql(*statements: str) -> Callable[[Path], None]:
    """Break the copy through SQLite itself (what a buggy tool or a bad disk could leave)."""

    def make(path: Path) -> None:
        conn = sqlite3.connect(path)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()

    return make


def _bytes(offset_pages: int, step: int, seed: int) -> Callable[[Path], None]:
    """Overwrite 300 bytes in every ``step``-th page from ``offset_pages`` on (page damage)."""

    def make(path: Path) -> None:
        rng = random.Random(seed)
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            for page in range(offset_pages, size // 4096, step):
                fh.seek(page * 4096 + 100)
                fh.write(rng.randbytes(300))

    return make


def _table_pages(table: str, seed: int) -> Callable[[Path], None]:
    """Damage every page of one table (SQLite's dbstat says which), nothing else."""

    def make(path: Path) -> None:
        conn = sqlite3.connect(path)
        pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", [table])]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
        rng = random.Random(seed)
        with open(path, "r+b") as fh:
            for page in pages:
                fh.seek((page - 1) * page_size + 8)
                fh.write(rng.randbytes(page_size - 8))

    return make


def _truncate(fraction: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        os.truncate(path, int(path.stat().st_size * fraction) // 4096 * 4096 + 1000)

    return make


def _replace_with(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data)

    return make


def _foreign(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.execute("INSERT INTO people VALUES ('x')")
    conn.commit()
    conn.close()


def _foreign_named_like_ours(path: Path) -> None:
    """Another program's file that happens to have a ``scans`` table (schema version 0)."""
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE scans (id INTEGER PRIMARY KEY, what TEXT)")
    conn.commit()
    conn.close()


def _other_application(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA application_id = 1598903374")  # 'Fossil'-style id of another program
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@dataclass(frozen=True)
class Damage:
    make: Callable[[Path], None]
    """Breaks a copy of the good database in place."""
    message: str
    """What the one line must say (a regex)."""
    part: str
    """What is damaged: ``file`` (every command must refuse it), a table's pages (``pages:T``:
    whoever reads that table, and every writer, whose integrity check reads every page), or the
    values of one table (``T``: whoever decodes them)."""


DAMAGE: dict[str, Damage] = {
    "page-damage": Damage(_bytes(1, 1, seed=1), r"damaged .*sqlite3 \S+ \.recover", "file"),
    "truncated": Damage(_truncate(0.5), r"damaged .*sqlite3 \S+ \.recover", "file"),
    "header-garbage": Damage(lambda p: _header(p), r"damaged .*not a database", "file"),
    "observation-pages": Damage(_table_pages("observations", seed=3), r"damaged .*\.recover", "pages:observations"),
    "device-state-pages": Damage(_table_pages("device_states", seed=4), r"damaged .*\.recover", "pages:device_states"),
    "text-not-utf8-scan": Damage(_sql("UPDATE scans SET site = CAST(X'C0FF' AS TEXT)"),
                                 r"damaged \(text that is not UTF-8", "scans"),
    "text-not-utf8-device": Damage(_sql("UPDATE device_states SET maker = CAST(X'FFFE41' AS TEXT)"),
                                   r"damaged \(text that is not UTF-8", "device_states"),
    "json-not-json-device": Damage(_sql("UPDATE device_states SET evidence = '[{\"probe\": '"),
                                   r"damaged \(a stored JSON value", "device_states"),
    "json-not-json-finding": Damage(_sql("UPDATE state_findings SET refs = '[\"x'"),
                                    r"damaged \(a stored JSON value", "state_findings"),
    "json-not-json-observation": Damage(_sql("UPDATE observations SET fields = '{not json'"),
                                        r"damaged \(a stored JSON value", "observations.fields"),
    "not-sqlite": Damage(_replace_with(b"scan,ip\n1,198.18.0.1\n" * 400), r"not an SQLite database", "file"),
    "foreign-sqlite": Damage(_foreign, r"not a camaudit database .*nothing was changed", "file"),
    "foreign-scans-table": Damage(_foreign_named_like_ours, r"not a camaudit database", "file"),
    "other-application": Damage(_other_application, r"not a camaudit database \(application id", "file"),
    "newer-schema": Damage(_sql(f"PRAGMA user_version = {SCHEMA_VERSION + 7}"),
                           r"newer than this camaudit .*nothing was changed", "file"),
    "directory": Damage(_directory, r"not a regular file", "file"),
    "fifo": Damage(_fifo, r"not a regular file", "file"),
    "empty": Damage(_replace_with(b""), r"the file is empty", "readers"),
}


def _header(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.seek(16)
        fh.write(b"\xff" * 84)  # page size, versions, counters: all nonsense behind a valid magic


_ALL_PAGES = ("pages:observations", "pages:device_states")
_READS_DEVICES = ("file", "readers", "scans", "device_states", "state_findings", "pages:device_states")
_READS_DOCUMENT = (*_READS_DEVICES, "pages:observations")

# command: (argv, the parts it reads). Readers never write; writers refuse before writing.
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scans": (("scans",), ("file", "readers", "scans")),
    "scans-json": (("scans", "--json"), ("file", "readers", "scans")),
    "devices": (("devices",), _READS_DEVICES),
    "devices-csv": (("devices", "--scan", "1", "--csv"), _READS_DEVICES),
    "diff": (("diff",), _READS_DEVICES),
    "export": (("export", "--scan", "2"), _READS_DOCUMENT),
    # export renders the whole scan document, CSV included (the one CSV writer: report's)
    "export-csv": (("export", "--format", "csv", "--table", "findings"), _READS_DOCUMENT),
    "report": (("report", "-o", "{out}/r.html"), _READS_DOCUMENT),
    "report-json": (("report", "--scan", "1", "--format", "json"), _READS_DOCUMENT),
    # identify reads the scan's devices and observations, and checks every page, before it writes
    # (it rewrites the findings without reading them)
    "identify": (("identify", "--scan", "1"), ("file", "readers", "scans", "device_states", *_ALL_PAGES,
                                               "observations.fields")),
    # scan checks every page before its first write; a bad value elsewhere is sound SQLite it never reads
    "scan": (("scan", "198.18.0.0/24", "-i", "lo", "--quiet"), ("file", *_ALL_PAGES)),
    # the same through an audit config's `database:` (the argv names the config, not --db)
    "audit": (("audit", "--config", "{out}/site.yaml", "--quiet"), ("file", *_ALL_PAGES)),
}
CONFIG = """site: Test
targets: [198.18.0.0/24]
interface: lo
database: {db}
report_dir: {out}/reports
formats: [json]
"""


WRITERS = ("identify", "scan", "audit")


@dataclass(frozen=True)
class Case:
    """A row, shaped like tests/test_bad_input.py's ``Case`` (id, argv, message, exit, timeout), with
    the damage done to a copy of the good database instead of files to create."""

    id: str
    argv: tuple[str, ...]
    """After ``camaudit``; ``--db`` is added."""
    message: str | None
    """The one line's regex, None when the command does not read what is damaged: it then works."""
    exit: int
    make: Callable[[Path], None]
    writes: bool
    """A writing command that goes ahead changes the file, as it should."""
    timeout: float = 15.0


def _cases() -> Iterator[Case]:
    for damage_name, damage in DAMAGE.items():
        for name, (argv, reads) in COMMANDS.items():
            refused = damage.part in reads
            if name in ("scan", "audit") and not refused:
                continue  # a scan that may go ahead would send packets: not a row for this table
            yield Case(f"{name}:{damage_name}", argv, damage.message if refused else None, 2 if refused else 0,
                       damage.make, writes=name in WRITERS)


CASES = list(_cases())


def _fingerprint(path: Path) -> dict[str, str]:
    """The file and every sibling that holds data (rollback journal, WAL, reserve), by content.

    A reader of a WAL database in a writable directory gets SQLite's shared-memory index
    (``-shm``) and an empty ``-wal`` beside it, as every SQLite reader does: those hold no data
    and are not counted (on a read-only file system there are none: test_store_filesystems)."""
    out = {}
    for candidate in (path, *(Path(f"{path}{s}") for s in ("-wal", "-journal", ".reserve"))):
        if candidate.name.endswith("-wal") and candidate.is_file() and candidate.stat().st_size == 0:
            continue
        if candidate.is_dir():
            out[candidate.name] = "dir:" + ",".join(sorted(os.listdir(candidate)))
        elif candidate.exists() and not candidate.is_fifo():
            out[candidate.name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
        elif candidate.exists():
            out[candidate.name] = "fifo"
    return out


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_bad_database(row: Case, good_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "camaudit.db"
    db.write_bytes(good_db.read_bytes())
    row.make(db)
    before = _fingerprint(db)
    argv = [a.format(out=tmp_path) for a in row.argv]
    if "--config" in argv:
        (tmp_path / "reports").mkdir()
        (tmp_path / "site.yaml").write_text(CONFIG.format(db=db, out=tmp_path))
    else:
        argv += ["--db", str(db)]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(row.timeout))
    try:
        result = CliRunner().invoke(cli, argv)
    except _Timeout:
        pytest.fail(f"{row.id}: no answer within {row.timeout} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == row.exit, (result.output, result.exception)
    if row.message is None:
        assert row.writes or _fingerprint(db) == before, "a reader changed the file"
        return
    assert _fingerprint(db) == before, "the file was changed"
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {db}: "), lines[0]
    assert re.search(row.message, lines[0]), lines[0]
    assert not (tmp_path / "r.html").exists()


def test_every_damage_is_refused_by_some_command_and_whole_file_damage_by_all() -> None:
    refused = {c.id for c in CASES if c.message is not None}
    for damage_name, damage in DAMAGE.items():
        assert any(i.endswith(f":{damage_name}") for i in refused), damage_name
        if damage.part == "file":
            assert {f"{c}:{damage_name}" for c in COMMANDS} <= refused, damage_name
