"""Policy as data: rules files (YAML) → compiled matchers → findings, with waivers.

Public API::

    load_policy(paths) -> Policy                   # OperatorError "path:line: what" on bad input
    evaluate(policy, devices, kb=kb, today=None) -> list[Finding]
    policy.waiver_status(today=None, findings=()) -> list[WaiverStatus]
    device_facts(device, kb, policy) -> dict       # the facts rules see (for the store/report)
    exceeds(findings, fail_on) -> bool             # --fail-on: ignores waived findings
    default_rule_files() / shipped_rule_files()

The schema, facts and operators are documented in ``rules/README.md``.
"""

from __future__ import annotations

from ..ordering import sort_findings
from .engine import (
    ALWAYS_RULES,
    DEFAULT_RULES,
    EXPIRING_DAYS,
    STOPPED_ANSWERING,
    Policy,
    WaiverStatus,
    always_rule_files,
    combine_files,
    default_rule_files,
    evaluate,
    exceeds,
    load_policy,
    shipped_rule_files,
    waiver_state,
)
from .facts import FACTS, KevSource, device_facts
from .operators import OPERATORS
from .schema import Rule, RulesFile, Zone, parse_rules_file

__all__ = [
    "ALWAYS_RULES",
    "DEFAULT_RULES",
    "STOPPED_ANSWERING",
    "always_rule_files",
    "EXPIRING_DAYS",
    "FACTS",
    "KevSource",
    "OPERATORS",
    "Policy",
    "Rule",
    "RulesFile",
    "WaiverStatus",
    "Zone",
    "combine_files",
    "default_rule_files",
    "device_facts",
    "evaluate",
    "exceeds",
    "load_policy",
    "parse_rules_file",
    "shipped_rule_files",
    "sort_findings",
    "waiver_state",
]
