"""The database on file systems that say no: read-only mounts, a file the user may not write, a full disk.

Real file systems, not mocks: each case runs in a private mount namespace (``unshare -m``)
holding a read-only bind mount or a size-limited tmpfs, so nothing outside the test sees it.
The full-disk scan runs a real scan of the demo lab from inside the lab's scanner namespace.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_factory import device, finding, record_scan

from auditor.lab import topology
from auditor.lab.runner import LabState, scanner_argv
from auditor.store import Store
from auditor.store.reserve import RESERVE_BYTES

pytestmark = pytest.mark.mountns

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
READERS = (
    ("scans",), ("scans", "--json"), ("devices",), ("devices", "--scan", "1", "--csv"), ("diff",),
    ("export", "--scan", "2"), ("export", "--format", "csv", "--table", "findings"),
    ("report", "--format", "json"), ("report", "-o", "{out}/r.html"),
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="camaudit-fs-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _good_db(path: Path) -> dict[str, str]:
    with Store(path) as store:
        first = [device(f"198.18.0.{i}", f"c0:56:e3:00:02:{i:02x}") for i in range(1, 40)]
        record_scan(store, first, [finding(d) for d in first])
        record_scan(store, first[1:], [finding(d) for d in first[1:]])
    path.chmod(0o644)
    return _contents(path)


def _contents(path: Path) -> dict[str, str]:
    """What every scan holds, row by row (compared before and after)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {table: repr(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall())
                for table in ("scans", "scan_devices", "device_states", "state_findings", "observations", "devices")}
    finally:
        conn.close()


def _in_mount_ns(script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-euc", script],
                          capture_output=True, text=True, timeout=timeout)


def _lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]


def _results(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(ln[len("RESULT "):]) for ln in _lines(proc)]


# A tiny runner, executed inside the namespace: runs each command, reports exit code, stdout, stderr.
RUNNER = """
import json, subprocess, sys
for argv in json.loads(sys.argv[1]):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    print("RESULT " + json.dumps({"argv": argv, "rc": p.returncode, "out": p.stdout, "err": p.stderr}), flush=True)
"""


def _run_commands(commands: list[list[str]], prefix: list[str] | None = None) -> str:
    argv = [*(prefix or []), sys.executable, "-c", RUNNER, json.dumps(commands)]
    return " ".join(shlex.quote(a) for a in argv)


def _reader_argvs(db: Path, out: Path) -> list[list[str]]:
    return [[CAMAUDIT, *(a.format(out=out) for a in argv), "--db", str(db)] for argv in READERS]


def _assert_readers_worked(results: list[dict], db: Path) -> None:
    assert len(results) == len(READERS)
    for r in results:
        assert r["rc"] == 0, r
        assert "Traceback" not in r["err"], r
    scans = json.loads(next(r["out"] for r in results if r["argv"][1:3] == ["scans", "--json"]))
    assert [(s["id"], s["status"], s["devices"]) for s in scans["scans"]] == [(1, "complete", 39),
                                                                            (2, "complete", 38)]


def _siblings(db: Path) -> set[str]:
    return {p.name for p in db.parent.iterdir()} - {db.name}


def test_read_commands_work_on_a_read_only_mount(shared_dir: Path) -> None:
    db = shared_dir / "ro" / "camaudit.db"
    db.parent.mkdir()
    before = _good_db(db)
    raw, siblings = db.read_bytes(), _siblings(db)
    out = shared_dir / "out"
    out.mkdir()
    script = (f"mount --bind {db.parent} {db.parent} && mount -o remount,bind,ro {db.parent}\n"
              + _run_commands([*_reader_argvs(db, out),
                               [CAMAUDIT, "identify", "--scan", "1", "--db", str(db)]]))
    results = _results(_in_mount_ns(script))
    _assert_readers_worked(results[:-1], db)
    identify = results[-1]
    assert identify["rc"] == 2 and "Traceback" not in identify["err"]
    [line] = identify["err"].strip().splitlines()
    assert line.startswith(f"Error: {db}") and "ead-only" in line, line
    assert db.read_bytes() == raw and _contents(db) == before
    assert _siblings(db) == siblings  # no lock file, no WAL index, no journal
    assert (out / "r.html").stat().st_size > 0


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux setpriv is not installed")
def test_read_commands_work_for_a_user_who_may_not_write_the_file(shared_dir: Path) -> None:
    db = shared_dir / "camaudit.db"
    before = _good_db(db)
    raw, siblings = db.read_bytes(), _siblings(db)
    out = Path(tempfile.mkdtemp(prefix="out-", dir=shared_dir))
    out.chmod(0o777)
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argvs = [[*nobody, *argv] for argv in _reader_argvs(db, out)]
    results = [json.loads(ln[len("RESULT "):]) for ln in subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(argvs)], capture_output=True, text=True, timeout=120,
        check=True).stdout.splitlines() if ln.startswith("RESULT ")]
    for r in results:
        r["argv"] = r["argv"][len(nobody):]
    _assert_readers_worked(results, db)
    assert db.read_bytes() == raw and _contents(db) == before
    assert _siblings(db) == siblings | {out.name}


def test_read_commands_work_on_a_full_disk(shared_dir: Path) -> None:
    mount = shared_dir / "full"
    mount.mkdir()
    source = shared_dir / "source.db"
    before = _good_db(source)
    db = mount / "camaudit.db"
    out = shared_dir / "out"
    out.mkdir()
    script = (f"mount -t tmpfs -o size=4m tmpfs {mount}\ncp {source} {db}\n{_fill(mount / 'fill', 0)}\n"
              + _run_commands(_reader_argvs(db, out))
              + f"\ndf -k {mount} | tail -1\ncp {db} {shared_dir / 'after.db'}")
    proc = _in_mount_ns(script)
    results = _results(proc)
    assert proc.stdout.strip().splitlines()[-1].split()[3] == "0", "the disk was not full"
    _assert_readers_worked(results, db)
    assert _contents(shared_dir / "after.db") == before


# Fills the file system holding argv[1] until only argv[2] bytes are free.
FILL = """
import os, sys
path, leave = sys.argv[1], int(sys.argv[2])
st = os.statvfs(os.path.dirname(path))
size = max(0, st.f_bavail * st.f_frsize - leave)
with open(path, "wb", buffering=0) as fh:
    try:
        fh.write(b"\\0" * size)
        while leave == 0:
            fh.write(b"\\0" * 4096)
    except OSError:
        pass
"""


def _fill(path: Path, leave: int) -> str:
    """A shell line that fills the file system holding ``path`` until ``leave`` bytes are free."""
    return f"{sys.executable} -c {shlex.quote(FILL)} {path} {leave}"


@pytest.mark.netns
def test_a_scan_that_fills_the_disk_ends_failed_and_keeps_earlier_scans(demo_lab: LabState, shared_dir: Path) -> None:
    mount = shared_dir / "full"
    mount.mkdir()
    source = shared_dir / "source.db"
    before = _good_db(source)
    db = mount / "camaudit.db"
    scan = [CAMAUDIT, "scan", *topology.DEMO_TARGETS, "-i", topology.SCANNER_IFACE, "--db", str(db),
            "--rate", "800", "--timeout", "1.5", "--deadline", "60", "--quiet"]
    in_lab = scanner_argv(demo_lab.tag, [])
    script = "\n".join([
        f"mount -t tmpfs -o size=6m tmpfs {mount}",
        f"cp {source} {db}",
        # 1. less room than the reserve: refused before the first packet, nothing recorded
        _fill(mount / "fill1", RESERVE_BYTES // 2),
        _run_commands([scan], prefix=in_lab),
        f"rm {mount / 'fill1'}",
        # 2. room for the reserve and a little more: the scan fills the disk while it records
        _fill(mount / "fill2", RESERVE_BYTES + 48 * 1024),
        _run_commands([scan], prefix=in_lab),
        # 3. now make it completely full: the read commands still work
        _fill(mount / "fill3", 0),
        _run_commands([[CAMAUDIT, "scans", "--json", "--db", str(db)],
                       [CAMAUDIT, "report", "--format", "json", "--scan", "1", "--db", str(db)]]),
        f"df -k {mount} | tail -1",
        f"cp {db} {shared_dir / 'after.db'}",
    ])
    proc = _in_mount_ns(script, timeout=200)
    refused, failed, scans, report = _results(proc)
    assert proc.stdout.strip().splitlines()[-1].split()[3] == "0", "the disk was not full at the end"

    assert refused["rc"] == 2, refused
    [line] = refused["err"].strip().splitlines()
    assert line.startswith(f"Error: {db}: ") and "no room to record a scan" in line

    assert failed["rc"] == 2, failed
    assert "Traceback" not in failed["err"]
    [line] = failed["err"].strip().splitlines()
    assert line.startswith(f"Error: {db}: ") and "disk holding the database is full" in line, line

    assert scans["rc"] == 0, scans
    listed = json.loads(scans["out"])["scans"]
    assert [(s["id"], s["status"]) for s in listed] == [(1, "complete"), (2, "complete"), (3, "failed")]
    assert "full" in listed[2]["stats"]["failed"]
    assert report["rc"] == 0 and json.loads(report["out"])["scan"]["id"] == 1

    after = _contents(shared_dir / "after.db")
    for table in ("scan_devices", "device_states", "state_findings", "devices"):
        assert after[table] == before[table], f"{table} of the earlier scans changed"
    assert after["scans"].startswith(before["scans"][:-1])  # the earlier rows, then the failed scan's
