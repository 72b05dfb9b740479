"""The shipped policies against the demo fleet's ground truth and the real knowledge base."""

from __future__ import annotations

import datetime as dt

import pytest
from policy_support import NO_KEV, make_device

from auditor.lab.fleet import load_fleet
from auditor.policy import evaluate, load_policy, shipped_rule_files

TODAY = dt.date(2026, 11, 28)


def _truth_devices() -> list:
    fleet = load_fleet()
    return [make_device(ip=d.ip, mac=d.mac, key=f"mac:{d.mac}",
                        identity={"maker": d.truth.maker, "brand": d.truth.brand, "covered": d.truth.covered,
                                  "device_class": d.truth.device_class})
            for d in fleet.devices]


def test_ndaa_policy_flags_exactly_the_covered_devices() -> None:
    devices = _truth_devices()
    policy = load_policy(shipped_rule_files(["ndaa-889"]))
    findings = evaluate(policy, devices, today=TODAY, kb=NO_KEV)
    flagged = {f.ip for f in findings if f.rule_id == "ndaa-889.covered-maker"}
    covered = {d.ip for d in devices if d.identity.covered}
    assert flagged == covered and len(covered) >= 10
    unknown = {f.ip for f in findings if f.rule_id == "ndaa-889.unknown-maker"}
    assert unknown == {d.ip for d in devices if d.identity.maker is None
                       and d.identity.device_class in ("camera", "recorder")}
    assert all(f.severity == "critical" for f in findings if f.rule_id == "ndaa-889.covered-maker")


def test_example_site_on_the_demo_fleet() -> None:
    devices = _truth_devices()
    policy = load_policy(shipped_rule_files())
    findings = evaluate(policy, devices, today=TODAY, kb=NO_KEV)
    by_rule: dict[str, dict[str, str | None]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, {})[f.ip] = f.waiver_state
    # the office block holds the hostile test cameras; the expired waiver no longer covers .60
    assert by_rule["site.camera-outside-zone"] == {"198.18.0.60": "expired"}
    inventory = by_rule["site.not-in-inventory"]
    assert inventory["198.18.0.16"] == "active"      # EZVIZ at reception
    assert inventory["198.18.0.12"] == "expiring"    # awaiting its asset tag
    assert "198.18.0.11" not in inventory and "198.18.32.10" not in inventory  # listed by MAC
    states = {(s.rule, s.state, s.matched) for s in policy.waiver_status(TODAY, findings)}
    assert states == {("site.not-in-inventory", "active", True), ("site.not-in-inventory", "expiring", True),
                      ("site.camera-outside-zone", "expired", True)}


def test_kev_from_the_knowledge_base() -> None:
    knowledge = pytest.importorskip("auditor.knowledge")
    kb = knowledge.load_knowledge()
    lts = make_device(ip="198.18.0.17", mac="98:df:82:6a:13:f0",
                      identity={"maker": "Hikvision", "brand": "LTS", "covered": True, "device_class": "camera",
                                "model": "DS-2CD2043G0-I", "firmware": "V5.5.82 build 190220"})
    axis = make_device(ip="198.18.0.30", mac="00:40:8c:e2:7a:10",
                       identity={"maker": "Axis", "device_class": "camera", "firmware": "10.12.153"})
    findings = evaluate(load_policy(shipped_rule_files(["hardening"])), [lts, axis], today=TODAY, kb=kb)
    [kev] = [f for f in findings if f.rule_id == "hardening.kev"]
    assert kev.ip == "198.18.0.17" and "CVE-2021-36260" in kev.message
    assert not [f for f in findings if f.ip == "198.18.0.30" and f.rule_id.startswith("hardening.kev")]
