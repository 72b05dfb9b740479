"""History as what changed: per-site identity, states stored once, retention of raw observations,
per-site scan retention, imports, and the v4 → v5 migration."""

from __future__ import annotations

import dataclasses

import pytest
from sqlite_utils import Database
from store_factory import T0, device, finding, meta, record_scan

from auditor.document import iso
from auditor.errors import OperatorError
from auditor.models import Observation
from auditor.store import Store
from auditor.store.schema import SCHEMA_VERSION, migrate
from auditor.store.states import CLOCK_RESOLUTION_S


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "camaudit.db", lock_timeout=1.0) as s:
        yield s


def _count(store: Store, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_an_unchanged_device_is_stored_once_however_many_nights(store):
    cams = [device(f"198.18.0.{i}", f"c0:56:e3:00:00:{i:02x}") for i in range(10, 20)]
    ids = [record_scan(store, cams, [finding(c) for c in cams]) for _ in range(5)]
    assert _count(store, "device_states") == 10 and _count(store, "state_findings") == 10
    assert _count(store, "scan_devices") == 50
    # every night still reads back whole
    for scan_id in ids:
        assert len(store.devices(scan_id)) == 10 and len(store.findings(scan_id)) == 10
    assert store.diff(ids[0], ids[-1])["changed_devices"] == []


def test_a_change_stores_one_new_state_and_the_old_one_is_reused_when_it_comes_back(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    moved = device("198.18.0.12", "c0:56:e3:12:34:56")
    a, b, c = (record_scan(store, [d]) for d in (cam, moved, cam))
    assert _count(store, "device_states") == 2
    assert [store.devices(s)[0]["ip"] for s in (a, b, c)] == ["198.18.0.11", "198.18.0.12", "198.18.0.11"]


def test_findings_are_part_of_the_state(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    a = record_scan(store, [cam], [finding(cam)])
    b = record_scan(store, [cam], [finding(cam), finding(cam, "hardening.telnet-open", "high")])
    assert _count(store, "device_states") == 2
    assert store.diff(a, b)["new_findings"][0]["rule"] == "hardening.telnet-open"
    assert store.list_scans()[-1]["findings"]["high"] == 1


def test_clock_drift_and_evidence_order_are_not_changes(store):
    import auditor.models as m

    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    reordered = dataclasses.replace(cam, identity=dataclasses.replace(
        cam.identity, evidence=(*cam.identity.evidence, m.Evidence("arp", "mac", "x", "Hikvision", "weak", "oui"))))
    flipped = dataclasses.replace(reordered, identity=dataclasses.replace(
        reordered.identity, evidence=tuple(reversed(reordered.identity.evidence))))
    for dev, offset in ((reordered, 7201.2), (flipped, 7199.4), (reordered, 7198.6)):
        skew = dataclasses.replace(finding(dev, "hardening.clock-skew", "medium"),
                                   message=f"{dev.ip} clock is off by {offset} s: recordings carry wrong times",
                                   evidence=(f"clock_skew_s: {offset}", "device_class: camera"))
        scan_id = store.begin_scan(meta())
        store.record_results(scan_id, [dev], {dev.key: {"clock_offset_s": offset, "clock_skew_s": abs(offset)}},
                             [skew])
        store.finish_scan(scan_id, "complete", {})
    assert _count(store, "device_states") == 1
    scan_id = store.begin_scan(meta())
    store.record_results(scan_id, [reordered], {reordered.key: {"clock_offset_s": 3 * CLOCK_RESOLUTION_S}}, [])
    store.finish_scan(scan_id, "complete", {})
    assert _count(store, "device_states") == 2
    # the document shows what was measured when the state was stored
    assert store.findings(scan_id - 1)[0]["message"].endswith("off by 7201.2 s: recordings carry wrong times")


def test_overlapping_addresses_at_two_sites_are_two_devices(store):
    hq = device("192.168.1.10", "c0:56:e3:00:00:01", serial="SN1")
    annex = device("192.168.1.10", "c0:56:e3:00:00:01", serial="SN1", maker="Axis", covered=False)
    a = record_scan(store, [hq], site="HQ")
    b = record_scan(store, [annex], site="Annex")
    assert _count(store, "devices") == 2
    assert store.devices(a)[0]["maker"] == "Hikvision" and store.devices(b)[0]["maker"] == "Axis"
    assert store.sites() == ["Annex", "HQ"]
    # each site's history is its own: the Annex's first scan has nothing to compare with
    assert store.previous_complete_scan(b) is None
    assert store.scan_document(b)["changes"] is None
    c = record_scan(store, [hq], site="HQ")
    assert store.previous_complete_scan(c) == a and store.diff(a, c)["new_devices"] == []
    assert [s["id"] for s in store.list_scans(site="HQ")] == [a, c]
    assert store.latest_scan(site="Annex") == b and store.last_complete_scans(5, site="HQ") == [a, c]


def test_the_document_carries_the_sites_recent_history(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    axis = device("198.18.0.12", "00:40:8c:00:00:01", maker="Axis", covered=False)
    a = record_scan(store, [cam, axis], [finding(cam)])
    record_scan(store, [device("10.0.0.1", "00:40:8c:00:00:09", maker="Axis", covered=False)], site="Other")
    b = record_scan(store, [axis])
    hist = store.scan_document(b)["history"]
    assert [h["scan_id"] for h in hist] == [a, b]
    assert [(h["devices"], h["covered"], h["open"]["critical"]) for h in hist] == [(2, 1, 1), (1, 0, 0)]
    assert store.scan_document(a)["history"][-1]["scan_id"] == a


def test_raw_observations_are_kept_for_the_newest_scans_of_each_site_only(tmp_path):
    with Store(tmp_path / "c.db", keep_observations=2) as store:
        hostile = device("198.18.0.11", "c0:56:e3:12:34:56", serial="SN1", warning="XML with DOCTYPE refused")
        ids = [record_scan(store, [hostile]) for _ in range(4)]
        other = record_scan(store, [hostile], site="Other")
        kept = {r[0] for r in store.db.execute("SELECT DISTINCT scan_id FROM observations WHERE raw != ''")}
        assert kept == {ids[2], ids[3], other}
        with pytest.raises(OperatorError, match="dropped by retention"):
            store.hosts(ids[0])
        assert len(store.hosts(ids[3])[0].observations) == 3
        # the warnings of old scans stay: the report lists the hosts that answered badly
        assert store.scan_document(ids[0])["warnings"] == [
            {"ip": "198.18.0.11", "probe": "sadp", "message": "XML with DOCTYPE refused"}]
        assert store.devices(ids[0])[0]["warnings"] == ["sadp: XML with DOCTYPE refused"]
        assert store.prune_observations(1) == 1


def test_scan_retention_is_per_site(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    hq = [record_scan(store, [cam], site="HQ") for _ in range(3)]
    annex = [record_scan(store, [cam], site="Annex") for _ in range(2)]
    assert store.prune(keep_last=1, site="HQ") == 2
    assert [s["id"] for s in store.list_scans()] == [hq[2], *annex]
    assert store.prune(keep_last=1) == 1
    assert [s["id"] for s in store.list_scans()] == [hq[2], annex[1]]
    assert _count(store, "devices") == 2 and _count(store, "device_states") == 2
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_device_that_left_keeps_its_history_until_retention(store):
    gone = device("198.18.0.12", "00:40:8c:00:00:01", maker="Axis", covered=False)
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    first = record_scan(store, [cam, gone], [finding(cam)])
    second = record_scan(store, [cam], [finding(cam)])
    assert [d["ip"] for d in store.diff(first, second)["gone_devices"]] == ["198.18.0.12"]
    assert store.prune(keep_last=1) == 1
    assert _count(store, "devices") == 1 and _count(store, "device_states") == 1


def test_summary_counts_follow_a_rewrite(store):
    unknown = device("198.18.0.11", "c0:56:e3:12:34:56", maker=None, covered=False)
    scan_id = record_scan(store, [unknown], [finding(unknown, "ndaa-889.unknown-maker", "high")])
    [listed] = store.list_scans()
    assert (listed["devices"], listed["findings"]["high"]) == (1, 1)
    better = device("198.18.0.11", "c0:56:e3:12:34:56")
    store.rewrite_identification(scan_id, [better], findings=[finding(better)])
    row = store.db["scans"].get(scan_id)
    assert (row["covered_count"], row["open_critical"], row["open_high"], row["unknown_maker_count"]) == (1, 1, 0, 0)
    assert _count(store, "device_states") == 1  # the replaced state went


def test_rewrite_without_findings_keeps_the_findings(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56", model=None)
    scan_id = record_scan(store, [cam], [finding(cam)])
    store.rewrite_identification(scan_id, [device("198.18.0.11", "c0:56:e3:12:34:56", model="DS-2CD1")])
    assert store.devices(scan_id)[0]["model"] == "DS-2CD1"
    assert [f["rule"] for f in store.findings(scan_id)] == ["ndaa-889.covered-maker"]


def test_findings_for_a_device_not_in_the_scan_are_refused(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    stranger = device("198.18.0.99", "c0:56:e3:99:99:99")
    scan_id = store.begin_scan(meta())
    store.add_devices(scan_id, [cam])
    with pytest.raises(ValueError, match="not in scan"):
        store.add_findings(scan_id, [finding(stranger)])
    store.finish_scan(scan_id, "complete", {})


def test_migration_from_v4_moves_every_scan_into_states(tmp_path):
    """A v4 database as v0.1.0 wrote it: devices keyed globally, a full copy of every device and
    finding per scan, two of its scans of the same unchanged camera and one of another site."""
    path = tmp_path / "v4.db"
    db = Database(path)
    migrate(db, str(path), target=4)
    for scan_id, site, started in ((1, None, T0), (2, None, T0 + 86400), (3, "Annex", T0 + 90000)):
        db.execute("INSERT INTO scans (id, status, started_at, finished_at, site, targets) VALUES "
                   "(?, 'complete', ?, ?, ?, '[\"198.18.0.0/24\"]')", [scan_id, started, started + 10, site])
        db.execute("INSERT INTO observations (scan_id, ip, probe, fields, raw, seen_at, warning) VALUES "
                   "(?, '198.18.0.11', 'arp', '{\"mac\": \"c0:56:e3:00:00:01\"}', 'raw', ?, NULL)", [scan_id, started])
    db.execute("INSERT INTO devices (key, mac, first_scan, last_scan, first_seen, last_seen) "
               "VALUES ('mac:c0:56:e3:00:00:01', 'c0:56:e3:00:00:01', 1, 3, ?, ?)", [T0 + 1, T0 + 90001])
    for scan_id in (1, 2, 3):
        db.execute("INSERT INTO scan_devices (scan_id, device_key, host_key, ip, ips, mac, maker, device_class, "
                   "confidence, covered, evidence) VALUES (?, 'mac:c0:56:e3:00:00:01', 'mac:c0:56:e3:00:00:01', "
                   "'198.18.0.11', '[\"198.18.0.11\"]', 'c0:56:e3:00:00:01', 'Hikvision', 'camera', 'high', 1, "
                   "'[{\"probe\": \"arp\", \"field\": \"mac\", \"value\": \"c0:56:e3:00:00:01\", "
                   "\"supports\": \"Hikvision\", \"strength\": \"medium\", \"note\": \"oui\"}]')", [scan_id])
        db.execute("INSERT INTO findings (scan_id, rule_id, title, severity, device_key, ip, message, waiver, "
                   "waiver_state) VALUES (?, 'ndaa-889.covered-maker', 'Covered', 'critical', "
                   "'mac:c0:56:e3:00:00:01', '198.18.0.11', 'm', ?, ?)",
                   [scan_id, '{"device": "x", "rule": "r", "reason": "lab", "owner": "o", "ticket": "T", '
                             '"expires": "2030-01-01"}' if scan_id == 2 else None,
                    "active" if scan_id == 2 else None])
    db.close()
    with Store(path) as store:
        assert store.schema_migrated_from == 4 and store.schema_version == SCHEMA_VERSION
        assert store.sites() == ["", "Annex"]
        assert _count(store, "devices") == 2  # one per site
        assert _count(store, "device_states") == 3  # unchanged at '', a waiver on night 2, and Annex's own
        [one] = store.devices(1)
        assert one["id"] == "mac:c0:56:e3:00:00:01" and one["evidence"][0]["note"] == "oui"
        assert one["first_seen"] == iso(T0 + 1) and one["first_seen_scan"] == 1
        assert store.devices(3)[0]["first_seen_scan"] == 3  # the Annex's own device
        assert store.findings(2)[0]["waived"] is True and store.findings(1)[0]["waived"] is False
        assert [s["findings"]["critical"] for s in store.list_scans()] == [1, 0, 1]
        assert store.scan(1)["site"] is None and store.scan(3)["site"] == "Annex"
        assert store.previous_complete_scan(2) == 1 and store.previous_complete_scan(3) is None
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert not {"findings", "findings_v4", "scan_devices_v4", "devices_v4"} & set(store.db.table_names())
        # the migrated file takes new scans that continue its history
        nxt = record_scan(store, [device("198.18.0.12", "c0:56:e3:00:00:01")], site="Annex")
        assert store.diff(3, nxt)["changed_devices"][0]["changes"]["ip"] == ["198.18.0.11", "198.18.0.12"]


def test_observation_warnings_survive_in_an_imported_document(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    scan_id = store.begin_scan(meta())
    store.add_observations(scan_id, [Observation(ip="198.18.0.90", probe="wsdiscovery", fields={},
                                                 warning="XML with DOCTYPE refused")])
    store.record_results(scan_id, [cam], {}, [finding(cam)])
    store.finish_scan(scan_id, "complete", {})
    document = store.scan_document(scan_id)
    new_id, fresh = store.import_document(document, site="Central")
    assert fresh and store.scan_document(new_id)["warnings"] == document["warnings"]
