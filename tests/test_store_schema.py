"""Schema versions and forward migrations: from an empty file and from every earlier version."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database
from store_factory import device, meta, record_scan

from auditor.errors import OperatorError
from auditor.store import SCHEMA_VERSION, Store
from auditor.store.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    READABLE_FROM,
    application_id,
    migrate,
    user_version,
)


def _indexes(db: Database) -> set[str]:
    return {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'")}


def test_empty_file_is_migrated_to_the_current_version(tmp_path):
    path = tmp_path / "camaudit.db"
    path.touch()
    with Store(path) as store:
        assert store.schema_migrated_from == 0 and store.schema_version == SCHEMA_VERSION
        assert user_version(store.db) == SCHEMA_VERSION == len(MIGRATIONS) >= 2
        assert store.db.journal_mode == "wal"
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert {"pid", "boot_id", "owner_host"} <= set(store.db["scans"].columns_dict)
        assert "idx_observations_scan_ip" in _indexes(store.db)
    # reopening an up-to-date file changes nothing
    with Store(path) as store:
        assert store.schema_migrated_from == SCHEMA_VERSION


@pytest.mark.parametrize("old_version", range(1, SCHEMA_VERSION))
def test_every_earlier_version_migrates_with_its_data(tmp_path, old_version):
    path = tmp_path / "old.db"
    db = Database(path)
    # a scan recorded by a camaudit of schema 5 or older, with one device and a finding; a
    # later version's database holds that scan as the migrations up to it carried it over
    written_at = min(old_version, 5)
    assert migrate(db, str(path), target=written_at) == (0, written_at)
    assert user_version(db) == written_at
    db.execute("INSERT INTO scans (id, status, started_at, finished_at, targets) "
               "VALUES (1, 'complete', 1000.0, 1010.0, '[\"198.18.0.0/24\"]')")
    db.execute("INSERT INTO devices (key, mac, first_scan, last_scan, first_seen, last_seen) "
               "VALUES ('mac:c0:56:e3:00:00:01', 'c0:56:e3:00:00:01', 1, 1, 1000.0, 1000.0)")
    db.execute("INSERT INTO scan_devices (scan_id, device_key, host_key, ip, ips, mac, maker, device_class, "
               "confidence, covered) VALUES (1, 'mac:c0:56:e3:00:00:01', 'mac:c0:56:e3:00:00:01', '198.18.0.11', "
               "'[\"198.18.0.11\"]', 'c0:56:e3:00:00:01', 'Hikvision', 'camera', 'high', 1)")
    db.execute("INSERT INTO findings (scan_id, rule_id, title, severity, device_key, ip, message) VALUES "
               "(1, 'ndaa-889.covered-maker', 'Covered', 'critical', 'mac:c0:56:e3:00:00:01', '198.18.0.11', 'm')")
    assert migrate(db, str(path), target=old_version) == (written_at, old_version)
    db.close()

    with Store(path) as store:
        # a file the read queries understand as it is is migrated at the first write, not on open
        opened_at = SCHEMA_VERSION if old_version < READABLE_FROM else old_version
        assert user_version(store.db) == opened_at
        [scan] = store.list_scans()
        assert scan["id"] == 1 and scan["status"] == "complete" and scan["devices"] == 1
        assert scan["findings"]["critical"] == 1
        assert scan["kind"] == "scan" and scan["source"] is None  # v7: scans before it were network scans
        assert [d["maker"] for d in store.devices(1)] == ["Hikvision"]
        # and the migrated file takes new scans that continue its history
        second = record_scan(store, [device("198.18.0.12", "c0:56:e3:00:00:01")])
        assert store.schema_migrated_from == old_version
        assert user_version(store.db) == SCHEMA_VERSION
        assert application_id(store.db) == APPLICATION_ID
        assert "idx_state_findings_state" in _indexes(store.db)
        assert store.diff(1, second)["changed_devices"][0]["changes"]["ip"] == ["198.18.0.11", "198.18.0.12"]


def test_a_failed_migration_leaves_the_old_version(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    db = Database(path)
    migrate(db, str(path), target=1)
    db.close()
    broken = (*MIGRATIONS[:2], ("CREATE INDEX idx_ok ON scans(id)", "THIS IS NOT SQL"))
    monkeypatch.setattr("auditor.store.schema.MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        migrate(Database(path), str(path), target=3)
    db = Database(path)
    assert user_version(db) == 1
    assert "pid" not in db["scans"].columns_dict and "idx_ok" not in _indexes(db)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = Database(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(OperatorError, match="newer than this camaudit"):
        Store(path)


def test_foreign_sqlite_file_and_non_database_are_refused(tmp_path):
    other = tmp_path / "other.db"
    Database(other)["people"].insert({"name": "x"})
    with pytest.raises(OperatorError, match="not a camaudit database"):
        Store(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(OperatorError, match=r"junk\.db: not an SQLite database"):
        Store(junk)


def test_scan_meta_is_recorded_with_owner(tmp_path):
    import os

    with Store(tmp_path / "c.db") as store:
        scan_id = store.begin_scan(meta(rules=[("rules/a.yaml", "00" * 32)], excludes=["198.18.0.1"]))
        row = store.db["scans"].get(scan_id)
        assert row["pid"] == os.getpid() and row["owner_host"]
        info = store.scan(scan_id)
        assert info["status"] == "running" and info["finished_at"] is None and info["duration_s"] is None
        assert info["rules"] == [{"path": "rules/a.yaml", "sha256": "00" * 32}]
        assert info["excludes"] == ["198.18.0.1"] and info["interface"] == "lan0"
        store.finish_scan(scan_id, "failed", {"error": "interface down"})
        info = store.scan(scan_id)
        assert info["status"] == "failed" and info["stats"] == {"error": "interface down"}


def test_v10_keeps_every_state_digest(tmp_path):
    """Schema v10 adds device_states.behind/channel: a device unchanged since a v7 scan keeps its state (the
    digest leaves the new columns out while they are NULL), so an upgrade stores nothing twice."""
    from auditor.store import history, states

    path = tmp_path / "v7.db"
    db = Database(path)
    migrate(db, str(path), target=7)
    db.execute("INSERT INTO scans (id, status, started_at, finished_at, targets, site) "
               "VALUES (1, 'complete', 1000.0, 1010.0, '[]', '')")
    cam = device("198.18.0.11", "c0:56:e3:00:00:01")
    history.write_records(db, 1, "", 1000.0, [states.from_device(cam, {}, 1000.0)])
    db.conn.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_migrated_from == 7
        second = record_scan(store, [cam], site="")
        rows = list(store.db.query("SELECT state_id FROM scan_devices ORDER BY scan_id"))
        assert len(rows) == 2 and rows[0]["state_id"] == rows[1]["state_id"]
        assert store.db.execute("SELECT COUNT(*) FROM device_states").fetchone()[0] == 1
        assert store.devices(second)[0]["behind"] is None
