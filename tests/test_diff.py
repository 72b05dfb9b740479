"""Scan diffs: pure comparison of document entries, and through the store."""

from __future__ import annotations

import pytest
from store_factory import device, finding, record_scan

from auditor.diff import diff_entries, is_empty
from auditor.store import Store


def _dev(id_: str, ip: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {"id": id_, "ip": ip, "mac": None, "maker": "Hikvision", "brand": "Hikvision",
                               "model": "M", "firmware": "1", "device_class": "camera", "covered": True}
    return base | over


def _find(rule: str, device_id: str, ip: str, severity: str = "high") -> dict[str, object]:
    return {"rule": rule, "device_id": device_id, "ip": ip, "severity": severity, "title": rule, "waived": False}


def test_identical_scans_have_no_changes():
    devices = [_dev("mac:a", "198.18.0.2")]
    findings = [_find("r", "mac:a", "198.18.0.2")]
    result = diff_entries(devices, findings, devices, findings)
    assert is_empty(result)


def test_field_changes_are_reported_old_then_new():
    old = [_dev("mac:a", "198.18.0.2", firmware="V5.5", brand="LTS")]
    new = [_dev("mac:a", "198.18.0.9", firmware="V5.7", brand="LTS", maker="Hikvision")]
    [changed] = diff_entries(old, [], new, [])["changed_devices"]
    assert changed["changes"] == {"ip": ["198.18.0.2", "198.18.0.9"], "firmware": ["V5.5", "V5.7"]}
    # a maker newly established (e.g. knowledge base update) and a brand change
    new2 = [_dev("mac:a", "198.18.0.2", firmware="V5.5", maker=None, brand="Acme")]
    [changed] = diff_entries(old, [], new2, [])["changed_devices"]
    assert changed["changes"] == {"maker": ["Hikvision", None], "brand": ["LTS", "Acme"]}


def test_findings_match_on_rule_and_device_not_ip():
    old = [_find("ndaa", "mac:a", "198.18.0.2"), _find("telnet", "mac:b", "198.18.0.3")]
    new = [_find("ndaa", "mac:a", "198.18.0.99"), _find("ftp", "mac:b", "198.18.0.3", "critical")]
    result = diff_entries([], old, [], new)
    assert [(f["rule"], f["device_id"]) for f in result["new_findings"]] == [("ftp", "mac:b")]
    assert [(f["rule"], f["device_id"]) for f in result["resolved_findings"]] == [("telnet", "mac:b")]


def test_lists_are_sorted_numerically_by_ip():
    new = [_dev("d10", "198.18.0.10"), _dev("d9", "198.18.0.9"), _dev("d100", "198.18.0.100")]
    assert [d["ip"] for d in diff_entries([], [], new, [])["new_devices"]] == \
        ["198.18.0.9", "198.18.0.10", "198.18.0.100"]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "camaudit.db") as s:
        yield s


def test_camera_added_and_one_removed_between_scans(store):
    kept = device("198.18.0.11", "c0:56:e3:00:00:01")
    removed = device("198.18.0.12", "00:40:8c:00:00:02", maker="Axis", model="P3245", covered=False)
    added = device("198.18.0.13", "bc:32:5f:00:00:03", maker="Dahua", model="IPC-HDW2431T")
    a = record_scan(store, [kept, removed], [finding(kept), finding(removed, "hardening.telnet", "high")])
    b = record_scan(store, [kept, added], [finding(kept), finding(added)])
    result = store.diff(a, b)
    assert (result["from_scan"], result["to_scan"]) == (a, b)
    assert [(d["id"], d["ip"], d["maker"], d["model"]) for d in result["new_devices"]] == [
        ("mac:bc:32:5f:00:00:03", "198.18.0.13", "Dahua", "IPC-HDW2431T")]
    assert [(d["id"], d["maker"]) for d in result["gone_devices"]] == [("mac:00:40:8c:00:00:02", "Axis")]
    assert result["changed_devices"] == []
    assert [(f["rule"], f["device_id"]) for f in result["new_findings"]] == [
        ("ndaa-889.covered-maker", "mac:bc:32:5f:00:00:03")]
    assert [(f["rule"], f["device_id"]) for f in result["resolved_findings"]] == [
        ("hardening.telnet", "mac:00:40:8c:00:00:02")]
    # the later scan's document carries the same changes against the previous complete scan
    changes = store.scan_document(b)["changes"]
    assert changes["previous_scan_id"] == a
    assert changes["new_devices"] == result["new_devices"] and changes["gone_devices"] == result["gone_devices"]
    # and the reverse diff swaps them
    back = store.diff(b, a)
    assert back["new_devices"] == result["gone_devices"] and back["resolved_findings"] == result["new_findings"]


def test_changes_skip_an_interrupted_scan(store):
    cam = device("198.18.0.11", "c0:56:e3:00:00:01")
    a = record_scan(store, [cam])
    record_scan(store, [], status="interrupted")
    c = record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01", firmware="V5.8")])
    changes = store.scan_document(c)["changes"]
    assert changes["previous_scan_id"] == a
    assert changes["gone_devices"] == [] and changes["changed_devices"][0]["changes"]["firmware"][1] == "V5.8"
    assert store.scan_document(a)["changes"] is None
