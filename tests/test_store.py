"""Store: identity across scans, per-scan records, re-identification, retention."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from store_factory import device, finding, meta, record_scan

from auditor.errors import OperatorError
from auditor.models import Observation, Waiver
from auditor.store import OBSERVATION_BATCH, Store


def _device(store, key, site="Test site"):
    return next(store.db.query("SELECT * FROM devices WHERE site = ? AND key = ?", [site, key]))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "camaudit.db", lock_timeout=1.0) as s:
        yield s


def test_camera_that_changed_ip_is_the_same_device(store):
    first = record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56")])
    second = record_scan(store, [device("198.18.0.42", "c0:56:e3:12:34:56")])
    [before], [after] = store.devices(first), store.devices(second)
    assert before["id"] == after["id"] == "mac:c0:56:e3:12:34:56"
    assert after["first_seen_scan"] == first
    result = store.diff(first, second)
    assert result["new_devices"] == [] and result["gone_devices"] == []
    [changed] = result["changed_devices"]
    assert changed["changes"] == {"ip": ["198.18.0.11", "198.18.0.42"]}
    assert store.db["devices"].count == 1
    row = _device(store, "mac:c0:56:e3:12:34:56")
    assert (row["first_scan"], row["last_scan"]) == (first, second)


def test_routed_camera_seen_only_by_serial_later_keeps_its_history(store):
    """Scan 1 saw it on-link (MAC); scan 2 from another subnet (no MAC, serial from SADP)."""
    first = record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56", serial="DS-2CD2143G2-I20230101")])
    routed = device("198.19.0.11", None, serial="DS-2CD2143G2-I20230101")
    assert routed.key == "serial:DS-2CD2143G2-I20230101"
    second = record_scan(store, [routed])
    assert [d["id"] for d in store.devices(second)] == ["mac:c0:56:e3:12:34:56"]
    assert store.diff(first, second)["changed_devices"][0]["changes"]["ip"] == ["198.18.0.11", "198.19.0.11"]


def test_same_serial_with_a_different_mac_is_not_merged(store):
    record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01", serial="0000")])
    second = record_scan(store, [device("198.18.0.12", "c0:56:e3:00:00:02", serial="0000")])
    assert [d["id"] for d in store.devices(second)] == ["mac:c0:56:e3:00:00:02"]


def test_two_devices_in_one_scan_never_share_an_identity(store):
    record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01", serial="SN-A")])
    a = device("198.19.0.5", None, serial="SN-A")
    b = device("198.19.0.6", None, serial="SN-A", key="epr:urn:uuid:1")
    scan_id = record_scan(store, [a, b])
    assert sorted(d["id"] for d in store.devices(scan_id)) == ["epr:urn:uuid:1", "mac:c0:56:e3:00:00:01"]


def test_findings_follow_the_stable_key_and_count_per_device(store):
    record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56", serial="SN1")])
    routed = device("198.19.0.11", None, serial="SN1")
    scan_id = record_scan(store, [routed], [finding(routed), finding(routed, "hardening.telnet", "high")])
    [f1, f2] = store.findings(scan_id)
    assert f1["device_id"] == f2["device_id"] == "mac:c0:56:e3:12:34:56"
    assert [f1["severity"], f2["severity"]] == ["critical", "high"]
    assert store.devices(scan_id)[0]["finding_count"] == 2


def test_observations_and_hosts_round_trip(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56", serial="SN1", warning="XML with DOCTYPE refused")
    scan_id = record_scan(store, [cam])
    assert store.observations(scan_id) == list(cam.host.observations)
    assert store.hosts(scan_id) == [cam.host]
    assert store.load_devices(scan_id) == [cam]
    [entry] = store.devices(scan_id)
    assert entry["warnings"] == ["sadp: XML with DOCTYPE refused"] and entry["open_ports"] == [80, 554]


def test_observations_are_committed_in_batches_and_bounded(store):
    scan_id = store.begin_scan(meta())
    many = (Observation(ip=f"198.18.{i // 250}.{i % 250 + 1}", probe="ports", fields={"open": []},
                        raw="x" * 5000, seen_at=1.0) for i in range(OBSERVATION_BATCH * 2 + 7))
    assert store.add_observations(scan_id, many) == OBSERVATION_BATCH * 2 + 7
    stored = store.observations(scan_id)
    assert len(stored) == OBSERVATION_BATCH * 2 + 7 and len(stored[0].raw) == 2048


def test_finished_scans_are_append_only(store):
    scan_id = record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56")])
    with pytest.raises(ValueError, match="complete"):
        store.add_observations(scan_id, [Observation(ip="198.18.0.9", probe="arp", fields={})])
    with pytest.raises(ValueError, match="complete"):
        store.add_devices(scan_id, [device("198.18.0.9", "c0:56:e3:00:00:09")])
    with pytest.raises(ValueError, match="finish status"):
        store.finish_scan(scan_id, "running", {})


def test_unknown_scan_is_an_operator_error(store):
    with pytest.raises(OperatorError, match="no scan 7"):
        store.scan_document(7)
    assert store.devices() == [] and store.latest_scan() is None


def test_rewrite_identification_for_reidentification(store):
    unknown = device("198.18.0.11", "c0:56:e3:12:34:56", maker=None, covered=False, model=None, firmware=None)
    scan_id = record_scan(store, [unknown])
    hosts = store.hosts(scan_id)
    assert [h.key for h in hosts] == [unknown.key]
    better = device("198.18.0.11", "c0:56:e3:12:34:56", maker="Hikvision", model=None, firmware=None)
    store.rewrite_identification(scan_id, [better], facts={better.key: {"maker": "Hikvision"}},
                                 findings=[finding(better)])
    [entry] = store.devices(scan_id)
    assert entry["maker"] == "Hikvision" and entry["covered"] is True and entry["facts"] == {"maker": "Hikvision"}
    assert [f["rule"] for f in store.findings(scan_id)] == ["ndaa-889.covered-maker"]
    assert store.facts(scan_id) == {better.key: {"maker": "Hikvision"}}


@dataclass(frozen=True)
class WaiverStatusLike:
    """The policy stage's flat waiver-with-state record."""

    device: str
    rule: str
    reason: str
    owner: str
    ticket: str
    expires: str
    state: str
    matched: bool
    source: str


def test_list_scans_counts_unwaived_findings_by_severity(store):
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    waiver = Waiver(device="c0:56:e3:12:34:56", rule="hardening.telnet", reason="lab", owner="ops", ticket="T-1",
                    expires="2030-01-01")
    scan_id = store.begin_scan(meta())
    store.add_devices(scan_id, [cam])
    store.add_findings(scan_id, [finding(cam), finding(cam, "hardening.telnet", "high", waiver, "active")])
    store.add_waivers(scan_id, [{"waiver": waiver, "state": "active", "matched": True},
                                WaiverStatusLike("c0:56:e3:00:00:09", "ndaa", "", "", "", "2020-01-01",
                                                 "expired", False, "rules/site.yaml:12")])
    store.finish_scan(scan_id, "complete", {})
    [listed] = store.list_scans()
    assert listed["findings"] == {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0}
    assert listed["waived"] == 1 and listed["devices"] == 1
    doc = store.scan_document(scan_id)
    assert doc["waivers"] == [{"device": "c0:56:e3:12:34:56", "rule": "hardening.telnet", "reason": "lab",
                               "owner": "ops", "ticket": "T-1", "expires": "2030-01-01", "state": "active",
                               "matched": True, "source": None},
                              {"device": "c0:56:e3:00:00:09", "rule": "ndaa", "reason": "", "owner": "",
                               "ticket": "", "expires": "2020-01-01", "state": "expired", "matched": False,
                               "source": "rules/site.yaml:12"}]
    telnet = next(f for f in doc["findings"] if f["rule"] == "hardening.telnet")
    assert telnet["waived"] is True and telnet["waiver"]["state"] == "active"


def test_device_filters(store):
    scan_id = record_scan(store, [
        device("198.18.0.11", "c0:56:e3:00:00:01", maker="Hikvision", brand="LTS"),
        device("198.18.0.12", "00:40:8c:00:00:01", maker="Axis", covered=False),
    ])
    assert [d["ip"] for d in store.devices(scan_id, covered=True)] == ["198.18.0.11"]
    assert [d["ip"] for d in store.devices(scan_id, covered=False)] == ["198.18.0.12"]
    assert [d["ip"] for d in store.devices(scan_id, maker="lts")] == ["198.18.0.11"]
    assert [d["ip"] for d in store.devices(scan_id, maker="AXIS")] == ["198.18.0.12"]


def test_last_complete_scans_skips_failed_and_interrupted(store):
    ids = [record_scan(store, [], status=s) for s in ("complete", "failed", "complete", "interrupted")]
    assert store.last_complete_scans(2) == [ids[0], ids[2]]
    assert store.last_complete_scans(5) == [ids[0], ids[2]]
    assert store.previous_complete_scan(ids[3]) == ids[2]


def test_prune_keeps_the_newest_scans_and_their_devices(store):
    gone = device("198.18.0.12", "00:40:8c:00:00:01", maker="Axis")
    ids = [record_scan(store, [device("198.18.0.11", "c0:56:e3:12:34:56"), gone], [finding(gone)]),
           record_scan(store, [device("198.18.0.13", "c0:56:e3:12:34:56")]),
           record_scan(store, [device("198.18.0.14", "c0:56:e3:12:34:56")])]
    assert store.prune(keep_last=2) == 1
    assert [s["id"] for s in store.list_scans()] == ids[1:]
    assert store.db["devices"].count == 1 and _device(store, "mac:c0:56:e3:12:34:56")["first_scan"] == ids[1]
    assert store.db.execute("SELECT COUNT(*) FROM observations WHERE scan_id = ?", [ids[0]]).fetchone()[0] == 0
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.prune(keep_last=2) == 0


def test_hosts_of_a_folded_device_collect_every_address_in_recording_order(store):
    from auditor.models import Device, Host

    first = Observation(ip="198.18.0.11", probe="arp", fields={"mac": "c0:56:e3:00:00:01"}, seen_at=1.0)
    other = Observation(ip="198.19.0.7", probe="ports", fields={"open": [80]}, seen_at=2.0)
    stray = Observation(ip="198.18.0.99", probe="arp", fields={"mac": "c0:56:e3:00:00:99"}, seen_at=2.5)
    last = Observation(ip="198.18.0.11", probe="sadp", fields={"serial": "SN"}, seen_at=3.0)
    base = device("198.18.0.11", "c0:56:e3:00:00:01")
    host = Host(key=base.key, ip="198.18.0.11", mac="c0:56:e3:00:00:01", ips=("198.18.0.11", "198.19.0.7"),
                observations=(first, other, last))
    scan_id = store.begin_scan(meta())
    store.add_observations(scan_id, [first, other, stray, last])
    store.add_devices(scan_id, [Device(host=host, identity=base.identity)])
    assert store.hosts(scan_id) == [host]
    assert store.devices(scan_id)[0]["ips"] == ["198.18.0.11", "198.19.0.7"]


def test_prune_never_deletes_the_complete_baseline_behind_failed_runs(store):
    """Nightly retention after a run of failed/interrupted audits must keep the last complete
    scans: the next report's 'changes' and the default diff compare with them."""
    cam = device("198.18.0.11", "c0:56:e3:12:34:56")
    ids = [record_scan(store, [cam], status=s) for s in ("complete", "complete", "failed", "interrupted")]
    assert store.prune(keep_last=2) == 0
    assert store.last_complete_scans(2) == ids[:2]
    ids.append(record_scan(store, [cam], status="failed"))
    assert store.prune(keep_last=1) == 3  # the older complete scan and the failed/interrupted ones between
    assert [s["id"] for s in store.list_scans()] == [ids[1], ids[4]]
    assert store.previous_complete_scan(ids[4]) == ids[1]
    assert _device(store, "mac:c0:56:e3:12:34:56")["first_scan"] == ids[1]


def test_a_cloned_onvif_endpoint_never_takes_the_identity_of_a_camera_in_the_same_scan(store):
    """Cheap firmware ships one WS-Discovery urn:uuid on every unit. A MAC-less host with that
    endpoint, listed before the real owner, took the owner's identity by fallback, and the owner
    then failed with 'two devices resolve to the same identity': the whole audit crashed."""
    import dataclasses

    from auditor.models import Device

    def with_endpoint(dev: Device) -> Device:
        obs = (*dev.host.observations,
               Observation(ip=dev.ip, probe="wsdiscovery", fields={"endpoint": "urn:uuid:cloned"}))
        return Device(host=dataclasses.replace(dev.host, observations=obs), identity=dev.identity)

    owner = with_endpoint(device("198.18.0.20", "c0:56:e3:00:00:01", serial=None, model=None))
    record_scan(store, [owner])
    clone = with_endpoint(device("198.18.0.10", None, serial=None, model=None, key="epr:urn:uuid:cloned"))
    scan_id = record_scan(store, [clone, owner])
    assert [(d["ip"], d["id"]) for d in store.devices(scan_id)] == [
        ("198.18.0.10", "epr:urn:uuid:cloned"), ("198.18.0.20", "mac:c0:56:e3:00:00:01")]


def _routed(ip: str, endpoint: str | None):
    """A routed camera without MAC or serial: keyed by its ONVIF endpoint when WS-Discovery
    answered, by its address when it did not (a busy scan)."""
    import dataclasses

    dev = device(ip, None, serial=None, model=None, key=f"epr:{endpoint}" if endpoint else f"ip:{ip}")
    if endpoint:
        obs = (*dev.host.observations,
               Observation(ip=ip, probe="wsdiscovery", fields={"endpoint": endpoint}))
        dev = dataclasses.replace(dev, host=dataclasses.replace(dev.host, observations=obs))
    return dev


def test_a_routed_camera_heard_only_by_address_in_one_scan_stays_one_device(store):
    """At 1,000 devices a routed Axis camera's WS-Discovery answer was lost in one scan: keyed
    ip: then epr:, diff reported it gone and a new one found. The same address without a MAC
    is the same device when one of the two sightings had nothing but the address."""
    first = record_scan(store, [_routed("198.18.32.11", None)])
    second = record_scan(store, [_routed("198.18.32.11", "urn:uuid:axis-1")])
    third = record_scan(store, [_routed("198.18.32.11", None)])
    fourth = record_scan(store, [_routed("198.18.32.11", "urn:uuid:axis-1")])
    ids = {scan: [d["id"] for d in store.devices(scan)] for scan in (first, second, third, fourth)}
    assert ids == {scan: ["ip:198.18.32.11"] for scan in ids}
    for a, b in ((first, second), (second, third), (third, fourth)):
        assert store.diff(a, b)["new_devices"] == [] and store.diff(a, b)["gone_devices"] == []
    [endpoint] = [r["endpoint"] for r in store.db.query("SELECT endpoint FROM devices WHERE key = 'ip:198.18.32.11'")]
    assert endpoint == "urn:uuid:axis-1"


def test_a_known_endpoint_heard_only_by_address_later_keeps_its_identity(store):
    first = record_scan(store, [_routed("198.18.32.11", "urn:uuid:axis-1")])
    second = record_scan(store, [_routed("198.18.32.11", None)])
    assert [d["id"] for d in store.devices(second)] == ["epr:urn:uuid:axis-1"]
    assert store.diff(first, second)["gone_devices"] == []


def test_an_address_shared_by_two_endpoints_stays_two_devices(store):
    """Two different ONVIF endpoints at one address over time are two cameras (one replaced the other)."""
    record_scan(store, [_routed("198.18.32.11", "urn:uuid:axis-1")])
    second = record_scan(store, [_routed("198.18.32.11", "urn:uuid:axis-2")])
    assert [d["id"] for d in store.devices(second)] == ["epr:urn:uuid:axis-2"]
