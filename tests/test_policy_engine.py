"""Evaluation: overrides across files, waivers, safe messages, determinism, --fail-on."""

from __future__ import annotations

import datetime as dt
import random
import textwrap
from pathlib import Path

import pytest
from policy_support import NO_KEV, make_device

from auditor.models import Finding
from auditor.policy import device_facts, evaluate, exceeds, load_policy

TODAY = dt.date(2026, 11, 28)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


BASE = """\
rules:
  - id: t.covered
    title: Covered
    severity: low
    match: {covered: is_true}
    message: "{ip} made by {maker}"
  - id: t.telnet
    title: Telnet
    severity: high
    match: {services: {contains: telnet}}
    message: "telnet on {ip}"
"""


def _hik(ip: str = "198.18.0.11", mac: str = "c0:56:e3:1a:2b:3c", **identity: object):
    ident = {"maker": "Hikvision", "covered": True, "device_class": "camera", "serial": "SN-1", **identity}
    return make_device(ip=ip, mac=mac, identity=ident,
                       observations=[{"probe": "ports", "fields": {"open": [23]}}])


def test_later_file_overrides_rule_by_id(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.yaml", BASE)
    site = _write(tmp_path, "site.yaml", """\
        rules:
          - id: t.covered
            title: Covered (site)
            severity: critical
            match: {covered: is_true}
            message: "site says {ip}"
          - id: t.telnet
            title: Telnet
            severity: high
            enabled: false
            match: {services: {contains: telnet}}
            message: "off"
        """)
    policy = load_policy([base, site])
    assert [r.id for r in policy.rules] == ["t.covered", "t.telnet"]  # first position kept
    assert policy.rule("t.covered").source == f"{site}:2"
    findings = evaluate(policy, [_hik()], today=TODAY, kb=NO_KEV)
    assert [(f.rule_id, f.severity, f.message) for f in findings] == [
        ("t.covered", "critical", "site says 198.18.0.11")]
    # loaded the other way round, the base definitions win
    findings = evaluate(load_policy([site, base]), [_hik()], today=TODAY, kb=NO_KEV)
    assert [(f.rule_id, f.severity) for f in findings] == [("t.telnet", "high"), ("t.covered", "low")]


def _waivers(tmp_path: Path, *entries: tuple[str, str, str]) -> Path:
    lines = [BASE, "waivers:\n"]
    for device, rule, expires in entries:
        lines.append(f"  - {{device: '{device}', rule: {rule}, reason: because, owner: me, ticket: T-{expires},"
                     f" expires: {expires}}}\n")
    return _write(tmp_path, "w.yaml", "".join(lines))


@pytest.mark.parametrize(("expires", "state", "waived"), [
    ("2027-06-30", "active", True),
    ("2026-12-29", "active", True),     # 31 days out
    ("2026-12-28", "expiring", True),   # 30 days out
    ("2026-11-28", "expiring", True),   # applies through its last day
    ("2026-11-27", "expired", False),
])
def test_waiver_states(tmp_path: Path, expires: str, state: str, waived: bool) -> None:
    policy = load_policy([_waivers(tmp_path, ("C0-56-E3-1A-2B-3C", "t.covered", expires))])
    findings = evaluate(policy, [_hik()], today=TODAY, kb=NO_KEV)
    covered = next(f for f in findings if f.rule_id == "t.covered")
    telnet = next(f for f in findings if f.rule_id == "t.telnet")
    assert covered.waiver_state == state and covered.waived is waived
    assert covered.waiver is not None and covered.waiver.expires == expires
    assert telnet.waiver is None  # a waiver names one rule only
    if state == "expired":
        assert f"waiver T-{expires} expired {expires}: no longer applies" in covered.message
    else:
        assert "waiver" not in covered.message
    [status] = policy.waiver_status(TODAY, findings)
    assert (status.state, status.matched) == (state, True)


def test_waiver_by_serial_and_the_latest_one_wins(tmp_path: Path) -> None:
    policy = load_policy([_waivers(tmp_path, ("sn-1", "t.covered", "2026-01-01"),
                                   ("SN-1", "t.covered", "2027-05-01"))])
    [covered] = [f for f in evaluate(policy, [_hik()], today=TODAY, kb=NO_KEV) if f.rule_id == "t.covered"]
    assert covered.waiver_state == "active" and covered.waiver is not None
    assert covered.waiver.expires == "2027-05-01"


def test_waiver_status_lists_all_with_matched(tmp_path: Path) -> None:
    policy = load_policy([_waivers(tmp_path, ("c0:56:e3:1a:2b:3c", "t.telnet", "2026-12-01"),
                                   ("00:00:00:00:00:01", "t.covered", "2027-01-01"),
                                   ("c0:56:e3:1a:2b:3c", "t.covered", "2025-01-01"))])
    device = _hik()
    findings = evaluate(policy, [device], today=TODAY, kb=NO_KEV)
    by_findings = [(s.device, s.rule, s.state, s.matched) for s in policy.waiver_status(TODAY, findings)]
    assert by_findings == [("c0:56:e3:1a:2b:3c", "t.telnet", "expiring", True),
                           ("00:00:00:00:00:01", "t.covered", "active", False),
                           ("c0:56:e3:1a:2b:3c", "t.covered", "expired", True)]
    by_devices = [s.matched for s in policy.waiver_status(TODAY, [device])]
    assert by_devices == [True, False, True]
    assert policy.waiver_status(TODAY)[0].as_dict() == {
        "device": "c0:56:e3:1a:2b:3c", "rule": "t.telnet", "reason": "because", "owner": "me",
        "ticket": "T-2026-12-01", "expires": "2026-12-01", "state": "expiring", "matched": False}


def test_exceeds_ignores_waived_findings() -> None:
    def finding(severity: str, state: str | None = None) -> Finding:
        return Finding(rule_id="r", title="t", severity=severity, device_key="k", ip="1.2.3.4", mac=None,  # type: ignore[arg-type]
                       message="m", waiver_state=state)  # type: ignore[arg-type]

    found = [finding("critical", "active"), finding("high", "expiring"), finding("medium", "expired"),
             finding("low")]
    assert exceeds(found, "medium") is True   # the expired waiver no longer protects it
    assert exceeds(found, "high") is False    # critical and high are waived
    assert exceeds(found, "info") is True
    assert exceeds([finding("low")], "medium") is False
    assert exceeds(found, None) is False and exceeds(found, "none") is False
    with pytest.raises(ValueError):
        exceeds(found, "severe")


HOSTILE = ["{ip}", "{0}", "{ip.__class__.__mro__}", "{{", "%s%n", "}{", "<script>alert(1)</script>",
           "line1\nline2\x1b[31m", "x" * 5000]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_device_strings_are_inserted_verbatim(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, "m.yaml", """\
        rules:
          - id: t.name
            title: Name
            severity: info
            match: {device_class: {equals: camera}}
            message: "{{literal}} {name} at {ip} made by {maker}, ports {open_ports}"
        """)
    device = make_device(identity={"maker": name, "device_class": "camera"},
                         observations=[{"probe": "onvif", "fields": {"hostname": name}},
                                       {"probe": "ports", "fields": {"open": [80, 554]}}])
    [finding] = evaluate(load_policy([path]), [device], today=TODAY, kb=NO_KEV)
    assert finding.message.startswith("{literal} ")
    assert finding.message.count(" at 198.18.0.11 made by ") == 1
    assert finding.message.endswith(", ports 80, 554")
    assert "\n" not in finding.message and "\x1b" not in finding.message
    if len(name) < 100:
        printable = name.replace("\n", " ").replace("\x1b", " ")
        assert finding.message == f"{{literal}} {printable} at 198.18.0.11 made by {printable}, ports 80, 554"
    else:
        assert len(finding.message) < 600


def test_evaluation_is_deterministic() -> None:
    import ipaddress

    policy = load_policy([Path(__file__).parent.parent / "rules" / "ndaa-889.yaml",
                          Path(__file__).parent.parent / "rules" / "hardening.yaml"])
    devices = [_hik(ip=f"198.18.{i // 200}.{i % 200 + 1}", mac=f"c0:56:e3:00:{i // 256:02x}:{i % 256:02x}")
               for i in range(300)]
    devices.append(make_device(ip="198.18.9.9", mac=None, identity={"device_class": "camera"}))
    first = evaluate(policy, devices, today=TODAY, kb=NO_KEV)
    random.Random(7).shuffle(devices)
    assert evaluate(policy, devices, today=TODAY, kb=NO_KEV) == first
    order = [(f.severity, f.rule_id, f.ip) for f in first]
    assert order[0] == ("critical", "ndaa-889.covered-maker", "198.18.0.1")
    assert order[-1] == ("high", "ndaa-889.unknown-maker", "198.18.9.9")
    assert [rule for _, rule, _ in order] == ["ndaa-889.covered-maker"] * 300 + ["hardening.telnet-open"] * 300 + [
        "ndaa-889.unknown-maker"]
    covered_ips = [ip for _, rule, ip in order if rule == "ndaa-889.covered-maker"]
    assert covered_ips[8:11] == ["198.18.0.9", "198.18.0.10", "198.18.0.11"]  # numeric, not text order
    assert covered_ips == sorted(covered_ips, key=ipaddress.ip_address)
    # Facts the caller already computed give the same findings as facts computed here.
    known = {d.key: device_facts(d, NO_KEV, policy) for d in devices}
    assert evaluate(policy, devices, today=TODAY, kb=NO_KEV, known_facts=known) == first


def test_evidence_names_the_facts_and_identity(tmp_path: Path) -> None:
    path = _write(tmp_path, "e.yaml", BASE)
    device = make_device(identity={"maker": "Hikvision", "covered": True, "device_class": "camera",
                                   "evidence": [{"probe": "sadp", "field": "model", "value": "DS-2CD2143G2-I",
                                                 "supports": "Hikvision", "strength": "strong",
                                                 "note": "answers Hikvision SADP"}]})
    [finding] = evaluate(load_policy([path]), [device], today=TODAY, kb=NO_KEV)
    assert finding.evidence == ("covered: yes",
                                "sadp model DS-2CD2143G2-I → Hikvision (strong): answers Hikvision SADP")
