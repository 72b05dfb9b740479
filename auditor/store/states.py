"""History as what changed: a device's state (identity, facts, findings) and its digest.

A scan records, per device, a reference to a *state*: every column the document shows of
the device, plus its findings. A state is stored once per device and reused by every later
scan (of the same site) that sees the device exactly so, so a year of nightly audits of an
unchanged fleet stores each device's state once, not 365 times.

Two states are "the same" when their digests are equal. The digest is taken over a
canonical form that ignores noise a person would not call a change: the order of lists
(evidence, conflicts, warnings, addresses, findings) and clock offsets that moved by less
than ``CLOCK_RESOLUTION_S`` (in the facts, and the seconds a finding's text quotes, such as
"clock is off by 7199.6 s"). What is stored is the first state with that digest; the report
of a later scan then shows the clock offset measured when the state was first stored.

Two ways in, one shape out: ``from_device`` (a scan: assembled hosts, identities and policy
findings) and ``from_entry`` (an imported document's device and finding entries).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..mac import normalise_mac
from ..models import CONFIDENCES, DEVICE_CLASSES, SEVERITIES, Device, Evidence, Finding
from . import rows

CLOCK_RESOLUTION_S = 10.0
"""Clock offsets that differ by less than this (after rounding) are one state."""
_VOLATILE_FACTS = ("clock_offset_s", "clock_skew_s")

STATE_COLUMNS: tuple[str, ...] = (
    "host_key", "ip", "ips", "mac", "maker", "brand", "relation", "relation_text", "device_class", "model",
    "firmware", "serial", "confidence", "covered", "covered_basis", "evidence", "conflicts", "open_ports", "facts",
    "warnings", "behind", "channel",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("behind", "channel")
"""Columns added after v6 (schema v10: a camera behind a recorder): left out of the digest and of the
INSERT while None, so every state stored before keeps its digest (and the v6 migration, which runs
before the columns exist, never names them)."""
_JSON_COLUMNS = ("ips", "evidence", "conflicts", "open_ports", "facts", "warnings")
FINDING_COLUMNS: tuple[str, ...] = (
    "rule_id", "title", "severity", "ip", "mac", "message", "remediation", "refs", "evidence", "waiver",
    "waiver_state",
)


@dataclass(frozen=True)
class DeviceRecord:
    """One device of one scan, ready to store: identity hints, state values, findings."""

    host_key: str
    """The key the scan (or the document) gave the device: ``mac:…``, ``serial:…``, ``epr:…``, ``ip:…``."""
    mac: str | None
    serial: str | None
    endpoint: str | None
    seen: float
    """When the device was last seen in this scan (unix time)."""
    values: dict[str, Any]
    """STATE_COLUMNS as Python values (lists and dicts, not JSON text)."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """FINDING_COLUMNS as Python values."""

    def with_findings(self, findings: Iterable[dict[str, Any]]) -> DeviceRecord:
        return DeviceRecord(self.host_key, self.mac, self.serial, self.endpoint, self.seen, self.values,
                            [*self.findings, *findings])

    def digest(self) -> str:
        return state_digest(self.values, self.findings)

    def columns(self) -> dict[str, Any]:
        """The device_states columns (JSON text where the column holds JSON)."""
        out = {k: v for k, v in self.values.items() if k not in OPTIONAL_COLUMNS or v is not None}
        for name in _JSON_COLUMNS:
            out[name] = rows.dumps(out[name])
        out["covered"] = 1 if out["covered"] else 0
        return out


def finding_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["refs"] = rows.dumps(list(out["refs"]))
    out["evidence"] = rows.dumps(list(out["evidence"]))
    out["waiver"] = None if out["waiver"] is None else rows.dumps(out["waiver"])
    return out


def _canonical_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(facts)
    for name in _VOLATILE_FACTS:
        value = out.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = round(value / CLOCK_RESOLUTION_S) * CLOCK_RESOLUTION_S
    return out


_SECONDS = re.compile(r"(-?\d+(?:\.\d+)?)(\s?s\b)")


_FACT_ECHO = tuple(f"{name}: " for name in _VOLATILE_FACTS)


def _quantise(number: str) -> str:
    return f"{round(float(number) / CLOCK_RESOLUTION_S) * CLOCK_RESOLUTION_S:g}"


def _canonical_message(text: Any) -> Any:
    """Durations a finding's message quotes in seconds (``clock is off by 7199.6 s``), quantised."""
    if not isinstance(text, str) or " s" not in text:
        return text
    return _SECONDS.sub(lambda m: _quantise(m.group(1)) + m.group(2), text)


def _canonical_evidence(text: Any) -> Any:
    """A finding's echo of a volatile fact (``clock_skew_s: 7199.6``), quantised."""
    if isinstance(text, str) and text.startswith(_FACT_ECHO):
        name, _, value = text.partition(": ")
        try:
            return f"{name}: {_quantise(value)}"
        except ValueError:
            return text
    return text


def _canonical_finding(f: Mapping[str, Any]) -> dict[str, Any]:
    return dict(f, message=_canonical_message(f.get("message")), refs=list(f.get("refs") or []),
                evidence=[_canonical_evidence(e) for e in f.get("evidence") or []])


def _ordered(items: Iterable[Any], key: Any = None) -> list[Any]:
    """``items`` in a canonical order, cheaply (this runs for every device of every scan)."""
    listed = list(items)
    try:
        return sorted(listed, key=key)
    except TypeError:  # mixed types: fall back to their text
        return sorted(listed, key=repr)


def _evidence_key(e: Any) -> Any:
    if isinstance(e, Mapping):
        return (str(e.get("probe")), str(e.get("field")), str(e.get("value")), str(e.get("supports")),
                str(e.get("strength")), str(e.get("note")))
    return ("", "", repr(e), "", "", "")


def _finding_key(f: Mapping[str, Any]) -> Any:
    return (str(f.get("rule_id")), str(f.get("message")), str(f.get("severity")), repr(f.get("waiver_state")))


def state_digest(values: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]) -> str:
    """The digest two states share when a person would call them the same (see the module doc)."""
    canon = {k: v for k, v in values.items() if k not in OPTIONAL_COLUMNS or v is not None}
    canon["facts"] = _canonical_facts(values.get("facts") or {})
    canon["evidence"] = _ordered(values.get("evidence") or [], _evidence_key)
    for name in ("ips", "conflicts", "warnings", "open_ports"):
        canon[name] = _ordered(values.get(name) or [])
    canon["covered"] = bool(values.get("covered"))
    fcanon = _ordered((_canonical_finding(f) for f in findings), _finding_key)
    text = json.dumps([canon, fcanon], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


_EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))
"""Evidence is flat (text and None): a shallow copy is ``asdict``'s result at a tenth of its cost."""


# ---- from a scan ------------------------------------------------------------------------------


def from_device(device: Device, facts: Mapping[str, Any] | None, default_seen: float) -> DeviceRecord:
    """A scanned device (assembled host + identity) with its policy facts; findings come later."""
    ident = device.identity
    values = {
        "host_key": device.key,
        "ip": device.ip,
        "ips": list(device.host.ips) or [device.ip],
        "mac": normalise_mac(device.mac),
        "maker": ident.maker,
        "brand": ident.brand,
        "relation": ident.relation,
        "relation_text": ident.relation_text,
        "device_class": ident.device_class if ident.device_class in DEVICE_CLASSES else "unknown",
        "model": ident.model,
        "firmware": ident.firmware,
        "serial": ident.serial,
        "confidence": ident.confidence if ident.confidence in CONFIDENCES else "low",
        "covered": bool(ident.covered),
        "covered_basis": ident.covered_basis,
        "evidence": [{name: getattr(ev, name) for name in _EVIDENCE_FIELDS} for ev in ident.evidence],
        "conflicts": list(ident.conflicts),
        "open_ports": rows.open_ports(device),
        "facts": dict(facts) if facts else {},
        "warnings": rows.host_warnings(device),
        "behind": device.host.behind,
        "channel": device.host.channels[0] if device.host.channels else None,
    }
    return DeviceRecord(host_key=device.key, mac=normalise_mac(device.mac), serial=ident.serial,
                        endpoint=rows.endpoint_of(device), seen=rows.seen_at(device, default_seen), values=values)


def from_finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "title": finding.title,
        "severity": finding.severity if finding.severity in SEVERITIES else "info",
        "ip": finding.ip,
        "mac": normalise_mac(finding.mac),
        "message": finding.message,
        "remediation": finding.remediation,
        "refs": list(finding.references),
        "evidence": list(finding.evidence),
        "waiver": asdict(finding.waiver) if finding.waiver is not None else None,
        "waiver_state": finding.waiver_state,
    }


# ---- from an imported document ----------------------------------------------------------------


def from_entry(entry: Mapping[str, Any], seen: float) -> DeviceRecord:
    """A document's device entry (already schema-valid)."""
    key = str(entry["id"])
    values = {
        "host_key": key,
        "ip": entry["ip"],
        "ips": list(entry.get("ips") or [entry["ip"]]),
        "mac": entry.get("mac"),  # the schema allows only the normal form
        **{name: entry.get(name) for name in ("maker", "brand", "relation", "relation_text", "device_class",
                                               "model", "firmware", "serial", "confidence", "covered_basis")},
        "covered": bool(entry.get("covered")),
        "evidence": [dict(ev) for ev in entry.get("evidence") or []],
        "conflicts": list(entry.get("conflicts") or []),
        "open_ports": list(entry.get("open_ports") or []),
        "facts": dict(entry.get("facts") or {}),
        "warnings": list(entry.get("warnings") or []),
        "behind": entry.get("behind"),
        "channel": entry.get("channel"),
    }
    endpoint = key[4:] if key.startswith("epr:") else None
    return DeviceRecord(host_key=key, mac=values["mac"], serial=entry.get("serial"), endpoint=endpoint,
                        seen=seen, values=values)


def from_finding_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A document's finding entry; its waiver keeps the fields the document shows."""
    waiver = entry.get("waiver")
    stored_waiver = None
    state = None
    if isinstance(waiver, Mapping):
        stored_waiver = {k: str(waiver.get(k, "")) for k in ("reason", "owner", "ticket", "expires")}
        state = waiver.get("state")
    return {
        "rule_id": entry["rule"],
        "title": entry["title"],
        "severity": entry["severity"],
        "ip": entry["ip"],
        "mac": entry.get("mac"),  # the schema allows only the normal form
        "message": entry["message"],
        "remediation": entry.get("remediation", ""),
        "refs": list(entry.get("references") or []),
        "evidence": list(entry.get("evidence") or []),
        "waiver": stored_waiver,
        "waiver_state": state,
    }


# ---- back out of the store --------------------------------------------------------------------


def row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A device_states row as STATE_COLUMNS values (a row of a table from before schema v10 has no
    ``behind``/``channel``: None)."""
    keys = set(row.keys())
    out = {name: row[name] if name in keys else None for name in STATE_COLUMNS}
    for name in _JSON_COLUMNS:
        out[name] = rows.loads(out[name], {} if name == "facts" else [])
    out["covered"] = bool(out["covered"])
    return out


def row_finding(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: row[name] for name in FINDING_COLUMNS}
    out["refs"] = rows.loads(out["refs"], [])
    out["evidence"] = rows.loads(out["evidence"], [])
    out["waiver"] = rows.loads(out["waiver"], None)
    return out
