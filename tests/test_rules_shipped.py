"""Every shipped rule fires on its fail_*.yaml cases and stays quiet on its pass_*.yaml cases.

One folder per rule under tests/rules/<rule-id>/ (checkov style). A case file holds
``device`` (ip, mac), ``identity`` (Identity fields), ``observations`` (probe, fields)
and optionally ``kev`` / ``kev_unverified`` (CVE ids the knowledge base's KEV lookup
answers as vulnerable / not decidable).
All shipped files are loaded together, so the site rules see the example zones and
inventory, and a case also proves that no other rule claims the same finding.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from policy_support import KevStub, make_device

from auditor.policy import evaluate, load_policy, shipped_rule_files

CASES = Path(__file__).parent / "rules"
TODAY = dt.date(2026, 11, 28)
POLICY = load_policy(shipped_rule_files())


def _cases() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*/*.yaml")):
        expect = path.name.split("_", 1)[0]
        out.append(pytest.param(path.parent.name, path, expect, id=f"{path.parent.name}/{path.stem}"))
    return out


@pytest.mark.parametrize(("rule_id", "path", "expect"), _cases())
def test_rule_case(rule_id: str, path: Path, expect: str) -> None:
    assert expect in ("pass", "fail"), f"{path}: name must start with pass_ or fail_"
    case = yaml.safe_load(path.read_text())
    device = make_device(ip=case["device"]["ip"], mac=case["device"].get("mac"),
                         identity=case.get("identity"), observations=case.get("observations"),
                         behind=case.get("behind"))
    answers = [SimpleNamespace(cve=c, status="vulnerable", kev_status="listed") for c in case.get("kev") or []]
    answers += [SimpleNamespace(cve=c, status="unknown", kev_status="listed") for c in case.get("kev_unverified") or []]

    def lookup(maker: str | None, model: str | None, firmware: str | None) -> list[Any]:
        return answers

    findings = evaluate(POLICY, [device], today=TODAY, kb=KevStub(lookup))
    fired = [f for f in findings if f.rule_id == rule_id]
    if expect == "fail":
        assert len(fired) == 1, f"{case['description']}: expected {rule_id} to fire; got {findings}"
        finding = fired[0]
        assert finding.ip == device.ip and finding.device_key == device.key
        assert finding.message and "{" not in finding.message
        assert finding.evidence, "a finding must say which facts made it fire"
    else:
        assert fired == [], f"{case['description']}: {rule_id} must not fire; got {fired}"


def test_every_shipped_rule_has_cases() -> None:
    folders = {p.name for p in CASES.iterdir() if p.is_dir()}
    rule_ids = {r.id for r in POLICY.rules}
    assert folders == rule_ids, (f"rules without a test folder: {sorted(rule_ids - folders)}; "
                                 f"folders without a rule: {sorted(folders - rule_ids)}")
    for rule_id in rule_ids:
        names = [p.name for p in (CASES / rule_id).glob("*.yaml")]
        assert any(n.startswith("fail_") for n in names), f"{rule_id} has no fail_ case"
        assert any(n.startswith("pass_") for n in names), f"{rule_id} has no pass_ case"


def test_shipped_rules_reference_the_law() -> None:
    covered = POLICY.rule("ndaa-889.covered-maker")
    assert covered.severity == "critical"
    refs = " ".join(covered.references)
    for needed in ("§889(a)(1)(A)", "§889(a)(1)(B)", "§889(f)(3)", "FAR 52.204-25", "DA 21-309", "FCC 22-84"):
        assert needed in refs
    assert POLICY.rule("ndaa-889.unknown-maker").severity == "high"
    assert "compliance with §889 cannot be shown" in POLICY.rule("ndaa-889.unknown-maker").message.render({})
