"""Combine rules files into a Policy and evaluate it over devices.

Deterministic: findings come out sorted by severity, rule id, IP (numerically) and
device key, whatever order the devices and files arrived in. Fast: matchers are
compiled once at load; each device's facts are computed once per evaluation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import OperatorError
from ..models import Device, Finding, Waiver
from ..ordering import SEVERITY_RANK, severity_rank, sort_findings
from .facts import KevSource, device_facts
from .inventory import InventoryEntry
from .schema import Rule, RulesFile, WaiverEntry, Zone, parse_rules_file
from .template import render_value

EXPIRING_DAYS = 30
"""A waiver that ends within this many days is listed as expiring (it still applies)."""

WaiverState = Literal["active", "expiring", "expired"]
_IDENTITY_FACTS = frozenset({"maker", "brand", "relation", "covered", "device_class", "model", "confidence"})
_MAX_IDENTITY_EVIDENCE = 6


def waiver_state(expires: dt.date, today: dt.date) -> WaiverState:
    """The waiver applies through ``expires``; within EXPIRING_DAYS of it, it is 'expiring'."""
    if expires < today:
        return "expired"
    return "expiring" if (expires - today).days <= EXPIRING_DAYS else "active"


@dataclass(frozen=True)
class WaiverStatus:
    """A waiver with its state; flat, so ``dataclasses.asdict`` gives the JSON document's entry."""

    device: str
    rule: str
    reason: str
    owner: str
    ticket: str
    expires: str
    state: WaiverState
    matched: bool
    """The waiver names a device of the scan (or was attached to a finding)."""
    source: str
    """``file:line`` of the waiver."""

    @classmethod
    def of(cls, entry: WaiverEntry, state: WaiverState, matched: bool) -> WaiverStatus:
        w = entry.waiver
        return cls(w.device, w.rule, w.reason, w.owner, w.ticket, w.expires, state, matched, entry.source)

    @property
    def waiver(self) -> Waiver:
        return Waiver(self.device, self.rule, self.reason, self.owner, self.ticket, self.expires)

    def as_dict(self) -> dict[str, Any]:
        """The shape of an entry of the JSON document's ``waivers`` list."""
        return {"device": self.device, "rule": self.rule, "reason": self.reason, "owner": self.owner,
                "ticket": self.ticket, "expires": self.expires, "state": self.state, "matched": self.matched}


def _device_ids(device: Device) -> list[str]:
    ids = [device.key.casefold()]
    if device.mac:
        ids.append(device.mac.casefold())
    if device.identity.serial:
        ids.append(device.identity.serial.strip().casefold())
    return ids


@dataclass(frozen=True)
class Policy:
    files: tuple[tuple[str, str], ...]
    """(path, sha256) of every file read: rules files, then inventory CSVs."""
    rules: tuple[Rule, ...]
    """Combined rules (later files override by id), including disabled ones."""
    zones: tuple[Zone, ...]
    inventory: tuple[InventoryEntry, ...] | None
    waivers: tuple[WaiverEntry, ...]

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def zones_of(self, ip: str) -> list[str]:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return []
        return [z.name for z in self.zones if z.contains(address)]

    def inventory_entry(self, device: Device) -> InventoryEntry | None:
        for entry in self.inventory or ():
            if entry.mac and device.mac and entry.mac == device.mac.lower():
                return entry
            if entry.serial and device.identity.serial and \
                    entry.serial.casefold() == device.identity.serial.strip().casefold():
                return entry
        return None

    def policy_facts(self, device: Device) -> dict[str, Any]:
        """The facts this policy supplies: zones and (when an inventory is loaded) inventory membership."""
        # A camera behind a recorder sits on the recorder's own network: it is where the recorder is.
        facts: dict[str, Any] = {"zones": self.zones_of(device.host.recorder_ip or device.ip)}
        if self.inventory is not None:
            entry = self.inventory_entry(device)
            facts["in_inventory"] = entry is not None
            if entry is not None:
                facts["inventory_location"] = entry.location or None
                facts["inventory_owner"] = entry.owner or None
        return facts

    def waiver_status(self, today: dt.date | None = None,
                      matched_by: Iterable[Finding | Device] = ()) -> list[WaiverStatus]:
        """Every waiver with its state on ``today``.

        ``matched`` says whether the waiver names one of the given devices (pass the
        scan's devices) or was attached to one of the given findings (pass findings).
        """
        day = today or dt.date.today()
        used: set[Waiver] = set()
        device_ids: set[str] = set()
        for item in matched_by:
            if isinstance(item, Finding):
                if item.waiver is not None:
                    used.add(item.waiver)
            else:
                device_ids.update(_device_ids(item))
        return [WaiverStatus.of(w, waiver_state(w.expires, day),
                                w.waiver in used or w.waiver.device.casefold() in device_ids)
                for w in self.waivers]


def _combine(parsed: Sequence[RulesFile]) -> Policy:
    always = {str(p.resolve()) for p in always_rule_files()}
    for rf in parsed:
        if str(Path(rf.path).resolve()) in always:
            continue
        for rule in rf.rules:
            if rule.id.startswith(RESERVED_PREFIX):
                where, _, lno = rule.source.rpartition(":")
                raise OperatorError(f"rule id {rule.id!r}: ids starting with {RESERVED_PREFIX!r} belong to the "
                                    "scan-safety rules camaudit always applies", where or rule.source,
                                    int(lno) if lno.isdigit() else None)
        for w in rf.waivers:
            if w.waiver.rule.startswith(RESERVED_PREFIX):
                raise OperatorError(f"waiver names {w.waiver.rule!r}: scan-safety findings cannot be waived (a device "
                                    "that stopped answering needs a person now; --exclude it, or scan with --profile "
                                    "ot)", w.path, w.line)
    rules: dict[str, Rule] = {}
    zones: dict[str, Zone] = {}
    inventory: list[InventoryEntry] | None = None
    files: list[tuple[str, str]] = [(f.path, f.sha256) for f in parsed]
    waivers: list[WaiverEntry] = []
    for rf in parsed:
        for rule in rf.rules:
            rules[rule.id] = rule  # dict keeps the first position; the later file's content wins
        zones.update((z.name, z) for z in rf.zones)
        if rf.inventory is not None:
            inventory = (inventory or []) + list(rf.inventory)
        if rf.inventory_file is not None:
            files.append(rf.inventory_file)
        waivers.extend(rf.waivers)
    for rule in rules.values():
        path = rule.source.rsplit(":", 1)[0]
        for zone, line in rule.zone_refs:
            if zone not in zones:
                raise OperatorError(f"rule {rule.id}: unknown zone {zone!r} (defined: {', '.join(zones) or 'none'})",
                                    path, line)
    for w in waivers:
        if w.waiver.rule not in rules:
            raise OperatorError(f"waiver names unknown rule {w.waiver.rule!r} (load the file that defines it "
                                "before this one)", w.path, w.line)
    return Policy(tuple(files), tuple(rules.values()), tuple(zones.values()),
                  tuple(inventory) if inventory is not None else None, tuple(waivers))


def load_policy(paths: Sequence[Path | str]) -> Policy:
    """Read rules files in order (later ones override rules and zones by id/name)."""
    return _combine([parse_rules_file(Path(p)) for p in paths])


def combine_files(parsed: Sequence[RulesFile]) -> Policy:
    """Combine already-parsed files (``rules check`` parses each alone to report every file's error)."""
    return _combine(parsed)


def _evidence(rule: Rule, device: Device, facts: dict[str, Any]) -> tuple[str, ...]:
    lines = [f"{name}: {render_value(facts.get(name))}" for name in rule.facts]
    if _IDENTITY_FACTS.intersection(rule.facts):
        for e in device.identity.evidence[:_MAX_IDENTITY_EVIDENCE]:
            points = f" → {e.supports}" if e.supports else ""
            note = f": {render_value(e.note)}" if e.note else ""
            lines.append(f"{render_value(e.probe)} {render_value(e.field)} {render_value(e.value)}{points} "
                         f"({e.strength}){note}")
    return tuple(lines)


def evaluate(policy: Policy, devices: Iterable[Device], *, kb: KevSource, today: dt.date | None = None,
             known_facts: Mapping[str, dict[str, Any]] | None = None) -> list[Finding]:
    """Findings of every enabled rule on every device, waivers applied, in a deterministic order.

    ``kb`` (the knowledge base) answers the KEV facts; ``today`` decides waiver states
    (default: the local date). ``known_facts`` (by device key, as ``device_facts(device,
    kb, policy)`` gives them) saves computing them again when the caller already has them.
    """
    day = today or dt.date.today()
    rules = policy.active_rules
    waivers: dict[tuple[str, str], list[WaiverEntry]] = {}
    for w in policy.waivers:
        waivers.setdefault((w.waiver.rule, w.waiver.device.casefold()), []).append(w)
    findings: list[Finding] = []
    for device in devices:
        facts = known_facts[device.key] if known_facts is not None else device_facts(device, kb, policy)
        ids = _device_ids(device)
        for rule in rules:
            if not rule.matcher(facts):
                continue
            candidates = [w for i in ids for w in waivers.get((rule.id, i), ())]
            waiver = max(candidates, key=lambda w: w.expires) if candidates else None
            state = waiver_state(waiver.expires, day) if waiver else None
            message = rule.message.render(facts)
            if waiver is not None and state == "expired":
                message += (f" [waiver {render_value(waiver.waiver.ticket)} expired {waiver.waiver.expires}: "
                            "no longer applies]")
            findings.append(Finding(
                rule_id=rule.id, title=rule.title, severity=rule.severity,  # type: ignore[arg-type]
                device_key=device.key, ip=device.ip, mac=device.mac, message=message,
                remediation=rule.remediation, references=rule.references,
                evidence=_evidence(rule, device, facts),
                waiver=waiver.waiver if waiver else None, waiver_state=state,
            ))
    return sort_findings(findings)


def exceeds(findings: Iterable[Finding], fail_on: str | None) -> bool:
    """True when a finding that is not waived is at or above ``fail_on`` (None/'none': never)."""
    if fail_on is None or fail_on == "none":
        return False
    if fail_on not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {fail_on!r}")
    limit = SEVERITY_RANK[fail_on]
    return any(not f.waived and severity_rank(f.severity) <= limit for f in findings)


def shipped_rule_files(names: Sequence[str] | None = None) -> list[Path]:
    """Shipped rules files: ``names`` (e.g. 'ndaa-889') in order, or all (the defaults first, then by name)."""
    from ..resources import data_dir

    folder = data_dir("rules")
    if names is None:
        first = [folder / f"{n}.yaml" for n in DEFAULT_RULES]
        return first + sorted(p for p in folder.glob("*.yaml") if p not in first)
    return [folder / f"{n}.yaml" for n in names]


DEFAULT_RULES = ("ndaa-889", "hardening")
"""What scan/audit load when the operator names no --rules file."""
ALWAYS_RULES = ("scan-safety",)
"""Loaded after the operator's files in every scan/audit, whatever they are (see rules/README.md)."""
RESERVED_PREFIX = "scan-safety."
"""Rule ids only the always-applied files may define; their findings cannot be waived."""
STOPPED_ANSWERING = "scan-safety.stopped-answering"


def default_rule_files() -> list[Path]:
    return shipped_rule_files(DEFAULT_RULES)


def always_rule_files() -> list[Path]:
    return shipped_rule_files(ALWAYS_RULES)


