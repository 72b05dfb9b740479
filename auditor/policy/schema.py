"""One rules file → a ``RulesFile`` (the schema is documented in rules/README.md).

Checks everything that can be checked within the file; what needs all files
(waivers naming rules, terms naming zones) is checked when files are combined.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from .. import opfile
from ..errors import OperatorError
from ..mac import normalise_mac
from ..models import SEVERITIES, Waiver
from ..opfile import Value
from .inventory import InventoryEntry, load_inventory
from .match import Matcher, MatchInfo, compile_match
from .operators import ArgError, parse_networks
from .template import Template, TemplateError

TOP_KEYS = ("description", "rules", "zones", "inventory", "waivers")
RULE_KEYS = ("id", "title", "severity", "match", "message", "remediation", "references", "enabled")
ZONE_KEYS = ("subnets", "exclude", "description")
WAIVER_KEYS = ("device", "rule", "reason", "owner", "ticket", "expires")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_ZONE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    matcher: Matcher
    message: Template
    remediation: str
    references: tuple[str, ...]
    enabled: bool
    facts: tuple[str, ...]
    """Facts the match reads, in order (each becomes an evidence line)."""
    zone_refs: tuple[tuple[str, int], ...]
    source: str
    """``file:line`` where the rule starts."""


@dataclass(frozen=True)
class Zone:
    name: str
    subnets: tuple[Network, ...]
    exclude: tuple[Network, ...]
    description: str
    source: str

    def contains(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in n for n in self.subnets) and not any(address in n for n in self.exclude)


@dataclass(frozen=True)
class WaiverEntry:
    waiver: Waiver
    expires: dt.date
    source: str
    path: str
    line: int


@dataclass(frozen=True)
class RulesFile:
    path: str
    sha256: str
    description: str
    rules: tuple[Rule, ...]
    zones: tuple[Zone, ...]
    inventory: tuple[InventoryEntry, ...] | None
    inventory_file: tuple[str, str] | None
    """(path, sha256) of the inventory CSV, if the file names one."""
    waivers: tuple[WaiverEntry, ...]


def _rule(node: Value) -> Rule:
    fields = node.mapping("rule", RULE_KEYS, required=("id", "title", "severity", "match", "message"))
    rule_id = fields["id"].string("rule id")
    if not _ID.match(rule_id):
        raise fields["id"].error(f"rule id {rule_id!r}: use lower-case letters, digits, '.', '-', '_'")
    where = f"rule {rule_id}"
    severity = fields["severity"].string(f"{where}: severity")
    if severity not in SEVERITIES:
        raise fields["severity"].error(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    message_node = fields["message"]
    try:
        message = Template.parse(message_node.string(f"{where}: message"))
    except TemplateError as exc:
        raise message_node.error(f"{where}: message: {exc}") from None
    info = MatchInfo(where=f"{where}: ")
    matcher = compile_match(fields["match"], info)
    remediation = fields["remediation"].string(f"{where}: remediation") if "remediation" in fields else ""
    references = tuple(fields["references"].strings(f"{where}: references")) if "references" in fields else ()
    enabled = fields["enabled"].boolean(f"{where}: enabled") if "enabled" in fields else True
    return Rule(rule_id, fields["title"].string(f"{where}: title"), severity, matcher, message,
                remediation.strip(), references, enabled, tuple(info.facts), tuple(info.zone_refs),
                f"{node.path}:{node.line}")


def _networks(node: Value, what: str) -> tuple[Network, ...]:
    try:
        return parse_networks([n.scalar(what) for n in node.sequence(what)])
    except ArgError as exc:
        raise node.error(f"{what}: {exc}") from None


def _zones(node: Value) -> list[Zone]:
    zones = []
    for name, value in node.mapping("zones").items():
        if not _ZONE.match(name):
            raise value.error(f"zone name {name!r}: use letters, digits, '.', '-', '_'", at_key=True)
        fields = value.mapping(f"zone {name}", ZONE_KEYS, required=("subnets",))
        zones.append(Zone(
            name,
            _networks(fields["subnets"], f"zone {name}: subnets"),
            _networks(fields["exclude"], f"zone {name}: exclude") if "exclude" in fields else (),
            fields["description"].string(f"zone {name}: description") if "description" in fields else "",
            f"{node.path}:{value.key_line}",
        ))
    return zones


def _waiver(node: Value) -> WaiverEntry:
    fields = node.mapping("waiver", WAIVER_KEYS, required=WAIVER_KEYS)
    text = {k: fields[k].string(f"waiver: {k}") for k in WAIVER_KEYS if k != "expires"}
    device = text["device"].strip()
    text["device"] = normalise_mac(device) or device
    expires = fields["expires"].date("waiver: expires")
    waiver = Waiver(device=text["device"], rule=text["rule"].strip(), reason=text["reason"], owner=text["owner"],
                    ticket=text["ticket"], expires=expires.isoformat())
    return WaiverEntry(waiver, expires, f"{node.path}:{node.line}", node.path, fields["rule"].line or 0)


def parse_rules_file(path: Path) -> RulesFile:
    """Read and check one rules file; raises ``OperatorError`` (``path:line: what``)."""
    doc = opfile.load(path, "rules file")
    root = doc.root
    if root.data is None:
        raise OperatorError("empty rules file (expected a mapping with a 'rules:' list)", doc.path)
    top = root.mapping("rules file", TOP_KEYS)
    if not top:
        raise root.error("rules file has no keys (expected 'rules:')")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for item in top["rules"].sequence("rules") if "rules" in top else []:
        rule = _rule(item)
        if rule.id in seen:
            raise item.error(f"duplicate rule id {rule.id!r} (first defined at {seen[rule.id]})")
        seen[rule.id] = rule.source
        rules.append(rule)
    inventory = inventory_file = None
    if "inventory" in top:
        value = top["inventory"]
        csv_path = path.parent / value.string("inventory")
        try:
            entries, sha = load_inventory(csv_path)
        except OperatorError as exc:
            if not csv_path.exists():
                raise value.error(f"inventory file {str(csv_path)!r} not found") from None
            raise exc
        inventory, inventory_file = tuple(entries), (str(csv_path), sha)
    waivers = [_waiver(w) for w in top["waivers"].sequence("waivers")] if "waivers" in top else []
    return RulesFile(
        path=doc.path,
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        description=top["description"].string("description") if "description" in top else "",
        rules=tuple(rules),
        zones=tuple(_zones(top["zones"])) if "zones" in top else (),
        inventory=inventory,
        inventory_file=inventory_file,
        waivers=tuple(waivers),
    )
