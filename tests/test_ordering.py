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


def test_an_observations_order_key_is_computed_once_and_is_not_part_of_it(monkeypatch) -> None:
    import dataclasses
    import json

    from auditor import ordering
    from auditor.models import Observation

    observations = [Observation(ip=f"198.18.0.{i}", probe=p, fields={"port": i, "z": [p]}, seen_at=1.0)
                    for i in (10, 9, 100) for p in ("rtsp", "http")]
    twins = [dataclasses.replace(o) for o in observations]
    first = ordering.sort_observations(reversed(observations))
    dumps = []
    monkeypatch.setattr(ordering.json, "dumps", lambda *a, **k: dumps.append(1) or json.JSONEncoder().encode(a[0]))
    again = ordering.sort_observations(observations)
    assert again == first and not dumps  # the second sort serialised nothing
    assert [(o.probe, o.ip) for o in first] == [("http", "198.18.0.9"), ("http", "198.18.0.10"),
                                                ("http", "198.18.0.100"), ("rtsp", "198.18.0.9"),
                                                ("rtsp", "198.18.0.10"), ("rtsp", "198.18.0.100")]
    # the cached key is no field: equality, repr and asdict are those of an observation never sorted
    assert observations == twins and [repr(o) for o in observations] == [repr(o) for o in twins]
    assert [dataclasses.asdict(o) for o in observations] == [dataclasses.asdict(o) for o in twins]
