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

import yaml

from ..errors import OperatorError
from ..mac import normalise_mac
from ..models import SEVERITIES, Waiver
from ..yamlsrc import Source, line_of, read_source
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


def _rule(src: Source, node: yaml.Node) -> Rule:
    fields = src.mapping(node, "rule", RULE_KEYS, required=("id", "title", "severity", "match", "message"))
    rule_id = src.string(fields["id"][1], "rule id")
    if not _ID.match(rule_id):
        raise src.error(fields["id"][1], f"rule id {rule_id!r}: use lower-case letters, digits, '.', '-', '_'")
    where = f"rule {rule_id}"
    severity = src.string(fields["severity"][1], f"{where}: severity")
    if severity not in SEVERITIES:
        raise src.error(fields["severity"][1],
                        f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    message_node = fields["message"][1]
    try:
        message = Template.parse(src.string(message_node, f"{where}: message"))
    except TemplateError as exc:
        raise src.error(message_node, f"{where}: message: {exc}") from None
    info = MatchInfo(where=f"{where}: ")
    matcher = compile_match(src, fields["match"][1], info)
    remediation = src.string(fields["remediation"][1], f"{where}: remediation") if "remediation" in fields else ""
    references = tuple(src.strings(fields["references"][1], f"{where}: references")) if "references" in fields \
        else ()
    enabled = src.boolean(fields["enabled"][1], f"{where}: enabled") if "enabled" in fields else True
    return Rule(rule_id, src.string(fields["title"][1], f"{where}: title"), severity, matcher, message,
                remediation.strip(), references, enabled, tuple(info.facts), tuple(info.zone_refs),
                f"{src.path}:{line_of(node)}")


def _networks(src: Source, node: yaml.Node, what: str) -> tuple[Network, ...]:
    try:
        return parse_networks([src.scalar(n, what) for n in src.sequence(node, what)])
    except ArgError as exc:
        raise src.error(node, f"{what}: {exc}") from None


def _zones(src: Source, node: yaml.Node) -> list[Zone]:
    zones = []
    for name, (key, value) in src.mapping(node, "zones").items():
        if not _ZONE.match(name):
            raise src.error(key, f"zone name {name!r}: use letters, digits, '.', '-', '_'")
        fields = src.mapping(value, f"zone {name}", ZONE_KEYS, required=("subnets",))
        zones.append(Zone(
            name,
            _networks(src, fields["subnets"][1], f"zone {name}: subnets"),
            _networks(src, fields["exclude"][1], f"zone {name}: exclude") if "exclude" in fields else (),
            src.string(fields["description"][1], f"zone {name}: description") if "description" in fields else "",
            f"{src.path}:{line_of(key)}",
        ))
    return zones


def _waiver(src: Source, node: yaml.Node) -> WaiverEntry:
    fields = src.mapping(node, "waiver", WAIVER_KEYS, required=WAIVER_KEYS)
    text = {k: src.string(fields[k][1], f"waiver: {k}") for k in WAIVER_KEYS if k != "expires"}
    device = text["device"].strip()
    text["device"] = normalise_mac(device) or device
    expires = src.date(fields["expires"][1], "waiver: expires")
    waiver = Waiver(device=text["device"], rule=text["rule"].strip(), reason=text["reason"], owner=text["owner"],
                    ticket=text["ticket"], expires=expires.isoformat())
    return WaiverEntry(waiver, expires, f"{src.path}:{line_of(node)}", src.path, line_of(fields["rule"][1]))


def parse_rules_file(path: Path) -> RulesFile:
    """Read and check one rules file; raises ``OperatorError`` (``path:line: what``)."""
    src, data = read_source(path)
    root = src.compose(data)
    if root is None:
        raise OperatorError("empty rules file (expected a mapping with a 'rules:' list)", src.path)
    top = src.mapping(root, "rules file", TOP_KEYS)
    if not top:
        raise src.error(root, "rules file has no keys (expected 'rules:')")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for item in src.sequence(top["rules"][1], "rules") if "rules" in top else []:
        rule = _rule(src, item)
        if rule.id in seen:
            raise src.error(item, f"duplicate rule id {rule.id!r} (first defined at {seen[rule.id]})")
        seen[rule.id] = rule.source
        rules.append(rule)
    inventory = inventory_file = None
    if "inventory" in top:
        key, value = top["inventory"]
        csv_path = path.parent / src.string(value, "inventory")
        try:
            entries, sha = load_inventory(csv_path)
        except OperatorError as exc:
            if not csv_path.exists():
                raise src.error(value, f"inventory file {str(csv_path)!r} not found") from None
            raise exc
        inventory, inventory_file = tuple(entries), (str(csv_path), sha)
    waivers = [_waiver(src, w) for w in src.sequence(top["waivers"][1], "waivers")] if "waivers" in top else []
    return RulesFile(
        path=src.path,
        sha256=hashlib.sha256(data).hexdigest(),
        description=src.string(top["description"][1], "description") if "description" in top else "",
        rules=tuple(rules),
        zones=tuple(_zones(src, top["zones"][1])) if "zones" in top else (),
        inventory=inventory,
        inventory_file=inventory_file,
        waivers=tuple(waivers),
    )
