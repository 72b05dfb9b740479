"""The scan-safety rules apply whatever rules files the operator names, and cannot be turned off or waived."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_support import NO_KEV, make_device

from auditor.errors import OperatorError
from auditor.pipeline import load_rules
from auditor.policy import STOPPED_ANSWERING, evaluate, exceeds

DARK = [{"probe": "ports", "fields": {"open": [80]}},
        {"probe": "safety", "fields": {"check": "recheck", "alive": False, "method": "TCP connect to port 80",
                                       "sent_summary": "ports: 20 connections"}}]


def _rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("operator_files", [[], ["builtin-only-site"]], ids=["defaults", "own-file-only"])
def test_a_device_that_went_dark_is_a_high_finding_whatever_the_operator_loaded(tmp_path, operator_files):
    files = [_rules(tmp_path, "rules:\n  - {id: site.x, title: t, severity: low, match: {covered: is_true}, "
                              "message: m}\n")] if operator_files else []
    policy = load_rules(files)
    findings = evaluate(policy, [make_device(observations=DARK, identity={"maker": "Axis", "model": "M3045"})],
                        kb=NO_KEV)
    [dark] = [f for f in findings if f.rule_id == STOPPED_ANSWERING]
    assert dark.severity == "high"
    assert "answered earlier in this audit but not the gentle re-check" in dark.message
    assert "Sent to it: ports: 20 connections." in dark.message
    assert exceeds(findings, "high")


def test_an_operator_file_cannot_switch_it_off_or_redefine_it(tmp_path):
    path = _rules(tmp_path, f"rules:\n  - {{id: {STOPPED_ANSWERING}, title: t, severity: info, "
                            "match: {covered: is_true}, message: m, enabled: false}\n")
    with pytest.raises(OperatorError, match=r"site.yaml:2: rule id 'scan-safety.stopped-answering': ids starting "
                                            r"with 'scan-safety.' belong to the scan-safety rules"):
        load_rules([path])


def test_an_operator_file_cannot_waive_it(tmp_path):
    path = _rules(tmp_path, f"waivers:\n  - {{device: 'c0:56:e3:1a:2b:3c', rule: {STOPPED_ANSWERING}, reason: r, "
                            "owner: o, ticket: T-1, expires: 2030-01-01}\n")
    with pytest.raises(OperatorError, match=r"site.yaml:2: waiver names 'scan-safety.stopped-answering': "
                                            r"scan-safety findings cannot be waived"):
        load_rules([path])


def test_alive_and_unchecked_devices_raise_nothing():
    policy = load_rules([])
    alive = [{"probe": "safety", "fields": {"check": "recheck", "alive": True, "method": "ARP request"}}]
    findings = evaluate(policy, [make_device(observations=alive), make_device(ip="198.18.0.12", observations=[])],
                        kb=NO_KEV)
    assert not [f for f in findings if f.rule_id.startswith("scan-safety.")]
