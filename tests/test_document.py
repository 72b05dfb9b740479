"""The schema-v1 JSON document: built from the store, checked against the documented shape."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from store_factory import device, finding, meta, record_scan

from auditor.document import SCHEMA_VERSION, validate_document
from auditor.models import Observation, Waiver
from auditor.store import Store

DOC = (Path(__file__).resolve().parent.parent / "docs" / "json-schema.md").read_text()


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "camaudit.db") as s:
        yield s


@pytest.fixture
def document(store):
    lts = device("198.18.0.100", "C0-56-E3-AA-BB-CC".replace("-", ":"), brand="LTS", serial="SN1",
                 warning="XML with DOCTYPE refused")
    axis = device("198.18.0.9", "00:40:8c:00:00:01", maker="Axis", covered=False, model="P3245")
    odd = device("198.18.0.20", None, maker=None, model=None, firmware=None, device_class="nvr")
    waiver = Waiver(device="c0:56:e3:aa:bb:cc", rule="hardening.telnet", reason="r", owner="o", ticket="t",
                    expires="2026-12-15")
    record_scan(store, [axis])
    scan_id = store.begin_scan(meta())
    store.add_observations(scan_id, [o for d in (lts, axis, odd) for o in d.host.observations])
    store.add_observations(scan_id, [Observation(ip="198.18.0.90", probe="wsdiscovery", fields={},
                                                 warning="XML with DOCTYPE refused")])
    store.add_devices(scan_id, [lts, axis, odd], facts={lts.key: {"open_ports": [80, 554]}})
    store.add_findings(scan_id, [finding(axis, "hardening.http", "low"), finding(lts),
                                 finding(lts, "hardening.telnet", "high", waiver, "expiring")])
    store.add_waivers(scan_id, [{"device": "c0:56:e3:aa:bb:cc", "rule": "hardening.telnet", "reason": "r",
                                 "owner": "o", "ticket": "t", "expires": "2026-12-15", "state": "expiring",
                                 "matched": True}])
    store.finish_scan(scan_id, "complete", {"devices": 3, "deadline_hit": False})
    return store.scan_document(scan_id, generated_at=1_790_000_000.0)


def test_document_from_the_store_validates(document):
    assert validate_document(document) == []
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert document["generated_at"] == "2026-09-21T14:13:20Z"
    assert json.loads(json.dumps(document)) == document  # plain JSON values only


def test_document_has_every_documented_top_level_and_device_key(document):
    block = DOC.split("```jsonc", 1)[1].split("```", 1)[0]
    top = set(re.findall(r'^  "(\w+)":', block, re.M))
    assert top <= set(document), top - set(document)
    device_keys = set(re.findall(r'"(\w+)":', block.split('"devices": [{', 1)[1].split('"findings": [{', 1)[0]))
    device_keys -= {"probe", "field", "value", "supports", "strength", "note"}  # evidence entries
    for entry in document["devices"]:
        assert device_keys <= set(entry), device_keys - set(entry)


def test_values_follow_the_documented_formats(document):
    by_ip = {d["ip"]: d for d in document["devices"]}
    assert [d["ip"] for d in document["devices"]] == ["198.18.0.9", "198.18.0.20", "198.18.0.100"]
    assert by_ip["198.18.0.100"]["mac"] == "c0:56:e3:aa:bb:cc"
    assert by_ip["198.18.0.20"]["mac"] is None and by_ip["198.18.0.20"]["maker"] is None
    assert by_ip["198.18.0.20"]["device_class"] == "unknown"  # 'nvr' is not in the enumeration
    assert by_ip["198.18.0.20"]["confidence"] == "low"
    assert by_ip["198.18.0.100"]["facts"] == {"open_ports": [80, 554]}
    assert by_ip["198.18.0.100"]["finding_count"] == 2 and by_ip["198.18.0.9"]["finding_count"] == 1
    assert [f["severity"] for f in document["findings"]] == ["critical", "high", "low"]
    waived = document["findings"][1]
    assert waived["waived"] is True and waived["waiver"]["state"] == "expiring"
    assert document["warnings"] == [
        {"ip": "198.18.0.90", "probe": "wsdiscovery", "message": "XML with DOCTYPE refused"},
        {"ip": "198.18.0.100", "probe": "sadp", "message": "XML with DOCTYPE refused"}]
    assert document["scan"]["stats"] == {"devices": 3, "deadline_hit": False}
    assert document["changes"]["previous_scan_id"] == 1
    assert [d["ip"] for d in document["changes"]["new_devices"]] == ["198.18.0.20", "198.18.0.100"]


def test_running_scan_document_validates(store):
    scan_id = store.begin_scan(meta())
    doc = store.scan_document(scan_id)
    assert validate_document(doc) == []
    assert doc["scan"]["finished_at"] is None and doc["changes"] is None and doc["devices"] == []


@pytest.mark.parametrize("mutate, complaint", [
    (lambda d: d["devices"][0].update(mac="C0:56:E3:AA:BB:CC"), "devices[0].mac"),
    (lambda d: d["devices"][0].update(mac="c0-56-e3-aa-bb-cc"), "devices[0].mac"),
    (lambda d: d["devices"][0].update(confidence="certain"), "devices[0].confidence"),
    (lambda d: d["devices"][0].update(device_class="nvr"), "devices[0].device_class"),
    (lambda d: d["devices"][0].update(covered=1), "devices[0].covered"),
    (lambda d: d["devices"][0].pop("evidence"), "devices[0].evidence: missing"),
    (lambda d: d["devices"][0]["evidence"].append({"probe": "x"}), "devices[0].evidence[1].field"),
    (lambda d: d["devices"][0].update(finding_count=True), "devices[0].finding_count"),
    (lambda d: d["findings"][0].update(severity="urgent"), "findings[0].severity"),
    (lambda d: d["findings"][1]["waiver"].update(state="forever"), "findings[1].waiver.state"),
    (lambda d: d["scan"].update(status="done"), "scan.status"),
    (lambda d: d["scan"].update(started_at="2026-11-28 10:40:51"), "scan.started_at"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.pop("changes"), "changes: missing"),
    (lambda d: d["changes"].pop("gone_devices"), "changes.gone_devices"),
])
def test_validator_catches_departures(document, mutate, complaint):
    broken = copy.deepcopy(document)
    mutate(broken)
    errors = validate_document(broken)
    assert any(e.startswith(complaint) for e in errors), errors
