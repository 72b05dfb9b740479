"""The one order (auditor/ordering.py): the engine's Finding records and the stored entries agree."""

from __future__ import annotations

import random

from policy_support import make_device

from auditor.models import Finding
from auditor.ordering import ip_sort_key, sort_devices, sort_findings


def _finding(rule: str, severity: str, ip: str, key: str) -> Finding:
    dev = make_device(ip=ip, key=key)
    return Finding(rule_id=rule, title=rule, severity=severity, device_key=dev.key, ip=ip,  # type: ignore[arg-type]
                   mac=None, message="m")


def test_records_and_entries_sort_alike() -> None:
    findings = [_finding(r, s, ip, k) for r in ("a.rule", "b.rule") for s in ("low", "critical", "high")
                for ip, k in (("198.18.0.10", "mac:b"), ("198.18.0.9", "mac:a"), ("not-an-ip", "ip:x"))]
    random.Random(3).shuffle(findings)
    entries = [{"rule": f.rule_id, "severity": f.severity, "ip": f.ip, "device_id": f.device_key} for f in findings]
    by_record = [(f.rule_id, f.severity, f.ip) for f in sort_findings(findings)]
    by_entry = [(e["rule"], e["severity"], e["ip"]) for e in sort_findings(entries)]
    assert by_record == by_entry
    assert by_record[:3] == [("a.rule", "critical", "198.18.0.9"), ("a.rule", "critical", "198.18.0.10"),
                             ("a.rule", "critical", "not-an-ip")]
    assert by_record[-1] == ("b.rule", "low", "not-an-ip")


def test_addresses_sort_numerically_v4_before_v6_text_last() -> None:
    ips = ["::1", "198.18.0.10", "junk", "198.18.0.9", "10.0.0.1"]
    assert sorted(ips, key=ip_sort_key) == ["10.0.0.1", "198.18.0.9", "198.18.0.10", "::1", "junk"]
    devices = [{"ip": "198.18.0.10", "id": "b"}, {"ip": "198.18.0.9", "id": "z"}, {"ip": "198.18.0.9", "id": "a"}]
    assert [(d["ip"], d["id"]) for d in sort_devices(devices)] == [
        ("198.18.0.9", "a"), ("198.18.0.9", "z"), ("198.18.0.10", "b")]
