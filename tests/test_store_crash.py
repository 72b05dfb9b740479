"""A writer killed with SIGKILL, and two writers at once: the file stays whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from store_factory import device, finding, meta, record_scan

from auditor.errors import StoreLockedError
from auditor.store import OBSERVATION_BATCH, Store

TESTS = Path(__file__).resolve().parent

# A scan engine stand-in: records 450 observations, says so, then keeps recording until killed.
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from auditor.models import Observation
    from auditor.store import Store
    from store_factory import meta

    store = Store({db!r})
    scan_id = store.begin_scan(meta())
    def obs(i):
        return Observation(ip="198.18.0.%d" % (i % 250 + 1), probe="ports", fields={{"open": [80]}})
    store.add_observations(scan_id, (obs(i) for i in range(450)))
    print(scan_id, flush=True)
    def forever():
        i = 0
        while True:
            i += 1
            yield obs(i)
    store.add_observations(scan_id, forever())
""")


@pytest.fixture
def writer(tmp_path):
    db = tmp_path / "camaudit.db"
    with Store(db) as store:
        earlier = record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56")])
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(tests=str(TESTS), db=str(db))],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip().isdigit(), "writer did not start"
        yield db, earlier, int(line), proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_second_writer_waits_then_gets_store_locked_naming_the_holder(writer):
    db, earlier, running, proc = writer
    with Store(db, lock_timeout=0.2) as second:
        with pytest.raises(StoreLockedError) as caught:
            second.begin_scan(meta())
        message = str(caught.value)
        assert f"pid {proc.pid}" in message and str(db) in message and "--db" in message
        # readers are not blocked, and see the scan in progress
        statuses = {s["id"]: s["status"] for s in second.list_scans()}
        assert statuses == {earlier: "complete", running: "running"}
        # recovery must not touch a scan whose writer is alive
        assert second.recover_interrupted() == []


def test_sigkill_mid_scan_keeps_earlier_scans_and_is_marked_interrupted(writer):
    db, earlier, killed, proc = writer
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db, lock_timeout=1.0) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = store.scan_document(earlier)
        assert before["scan"]["status"] == "complete" and len(before["devices"]) == 1
        kept = len(store.observations(killed))
        # whole batches only: a batch cut by the kill was rolled back, nothing before it lost
        assert kept >= 450 and (kept - 450) % OBSERVATION_BATCH == 0
        # the next writer takes the (kernel-released) lock and marks the dead run's scan
        new = store.begin_scan(meta())
        scans = {s["id"]: s for s in store.list_scans()}
        assert scans[killed]["status"] == "interrupted" and scans[killed]["finished_at"] is not None
        assert "interrupted" in scans[killed]["stats"]
        assert scans[earlier]["status"] == "complete" and scans[new]["status"] == "running"
        store.finish_scan(new, "complete", {})
        assert store.last_complete_scans(5) == [earlier, new]


def test_readers_mark_a_dead_run_interrupted_when_no_writer_is_live(writer):
    db, _, killed, proc = writer
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as store:
        assert store.recover_interrupted() == [killed]
        assert store.scan(killed)["status"] == "interrupted"
        assert store.recover_interrupted() == []


def test_two_writers_in_one_process_and_the_lock_is_released_after_finish(tmp_path):
    db = tmp_path / "camaudit.db"
    with Store(db, lock_timeout=0.1) as first, Store(db, lock_timeout=0.1) as second:
        scan_id = first.begin_scan(meta())
        with pytest.raises(StoreLockedError, match=f"pid {os.getpid()}"):
            second.begin_scan(meta())
        with pytest.raises(StoreLockedError):
            second.prune(keep_last=1)
        first.finish_scan(scan_id, "complete", {})
        other = second.begin_scan(meta())
        # the first scan finished properly, so it is not "recovered" as interrupted
        assert first.scan(scan_id)["status"] == "complete"
        second.finish_scan(other, "complete", {})


def test_lock_is_released_when_begin_scan_fails(tmp_path):
    db = tmp_path / "camaudit.db"
    with Store(db, lock_timeout=0.1) as store, Store(db, lock_timeout=0.1) as other:
        with pytest.raises(TypeError):
            store.begin_scan(meta(rules=[object()]))  # a malformed rules entry
        scan_id = other.begin_scan(meta())  # the lock was not leaked
        other.finish_scan(scan_id, "complete", {})
        assert [s["id"] for s in other.list_scans()] == [scan_id]


# Re-identification replaces a finished scan's sightings (new states with their findings), then
# drops the states nothing uses any more. A process that dies in between must leave the scan as it
# was: never new devices with no findings, never a scan without its devices.
REWRITER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    import auditor.store.history as history
    from auditor.store import Store
    from store_factory import device, finding

    store = Store({db!r})
    better = device("198.18.0.11", "c0:56:e3:12:34:56", maker="Hikvision", model="DS-2CD2143G2-I")
    def die_between(db, state_ids):
        # the sightings are rewritten by now (same transaction); the process dies before the cleanup
        assert [d["maker"] for d in store.db.query(
            "SELECT st.maker FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id")] == ["Hikvision"]
        print("devices written", flush=True)
        os._exit(9)
    history.drop_orphan_states = die_between
    store.rewrite_identification({scan_id}, [better], findings=[finding(better)])
""")


def _old_scan(db: Path) -> tuple[int, list[dict], list[dict]]:
    with Store(db) as store:
        old = device("198.18.0.11", "c0:56:e3:12:34:56", maker=None, covered=False, model=None, firmware=None)
        scan_id = record_scan(store, [old], [finding(old, rule="ndaa-889.unknown-maker", severity="high")])
        return scan_id, store.devices(scan_id), store.findings(scan_id)


def test_reidentification_killed_between_devices_and_findings_leaves_the_scan_whole(tmp_path):
    db = tmp_path / "camaudit.db"
    scan_id, devices, findings = _old_scan(db)
    proc = subprocess.run([sys.executable, "-c", REWRITER.format(tests=str(TESTS), db=str(db), scan_id=scan_id)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9 and "devices written" in proc.stdout, proc.stderr
    with Store(db) as store:
        assert store.devices(scan_id) == devices
        assert store.findings(scan_id) == findings and findings


def test_reidentification_failing_between_devices_and_findings_rolls_back(tmp_path, monkeypatch):
    db = tmp_path / "camaudit.db"
    scan_id, devices, findings = _old_scan(db)
    better = device("198.18.0.11", "c0:56:e3:12:34:56", maker="Hikvision")
    with Store(db) as store:
        def fail(*args, **kwargs):
            raise RuntimeError("injected failure after the devices were written")

        monkeypatch.setattr("auditor.store.history.drop_orphan_states", fail)
        with pytest.raises(RuntimeError, match="injected"):
            store.rewrite_identification(scan_id, [better], findings=[finding(better)])
        assert store.devices(scan_id) == devices and store.findings(scan_id) == findings
        monkeypatch.undo()
        store.rewrite_identification(scan_id, [better], findings=[finding(better)])  # the store still works
        assert [d["maker"] for d in store.devices(scan_id)] == ["Hikvision"]
        assert [f["rule"] for f in store.findings(scan_id)] == ["ndaa-889.covered-maker"]
