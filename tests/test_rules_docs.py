"""rules/README.md cannot drift: every fact, operator and shipped rule is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.policy import OPERATORS, load_policy, shipped_rule_files
from auditor.policy.facts import FACTS

README = (Path(__file__).parent.parent / "rules" / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(FACTS))
def test_fact_documented(name: str) -> None:
    assert f"| `{name}` | {FACTS[name].kind} |" in README


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operator_documented(name: str) -> None:
    assert f"| `{name}` |" in README


def test_shipped_rules_documented_with_their_severity() -> None:
    for rule in load_policy(shipped_rule_files()).rules:
        assert f"| `{rule.id}` | {rule.severity} |" in README, rule.id
    for path in shipped_rule_files():
        assert f"`{path.name}`" in README
