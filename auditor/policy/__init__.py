"""Policy as data: rules files (YAML) → compiled matchers → findings, with waivers.

Public API::

    load_policy(paths) -> Policy                   # OperatorError "path:line: what" on bad input
    evaluate(policy, devices, today=None, kev=None) -> list[Finding]
    policy.waiver_status(today=None, findings=()) -> list[WaiverStatus]
    policy.facts_for(device) -> dict               # the facts rules saw (for the store/report)
    exceeds(findings, fail_on) -> bool             # --fail-on: ignores waived findings
    default_rule_files() / shipped_rule_files()

The schema, facts and operators are documented in ``rules/README.md``.
"""

from __future__ import annotations

from .engine import (
    DEFAULT_RULES,
    EXPIRING_DAYS,
    Policy,
    WaiverStatus,
    combine_files,
    default_rule_files,
    evaluate,
    exceeds,
    load_policy,
    shipped_rule_files,
    sort_findings,
    waiver_state,
)
from .operators import OPERATORS
from .schema import Rule, RulesFile, Zone, parse_rules_file

__all__ = [
    "DEFAULT_RULES",
    "EXPIRING_DAYS",
    "OPERATORS",
    "Policy",
    "Rule",
    "RulesFile",
    "WaiverStatus",
    "Zone",
    "combine_files",
    "default_rule_files",
    "evaluate",
    "exceeds",
    "load_policy",
    "parse_rules_file",
    "shipped_rule_files",
    "sort_findings",
    "waiver_state",
]
