"""The versioned JSON document of ``docs/json-schema.md``, built from store rows.

One shape is shared by ``scan --json``, ``export --format json`` and
``report --format json``, and the HTML report renders from it. Fields are only ever
added within a ``schema_version``. ``validate_document`` checks a document against
the documented shape (used by the tests here and by the report's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .models import CONFIDENCES, DEVICE_CLASSES, SEVERITIES
from .ordering import ip_sort_key, sort_devices, sort_findings

SCHEMA_VERSION = 1
SCAN_STATUSES = ("running", "complete", "interrupted", "failed")
WAIVER_STATES = ("active", "expiring", "expired")

Row = Mapping[str, Any]


def loads(text: str | None, default: Any) -> Any:
    """A JSON column's value; ``default`` for NULL/empty."""
    return default if text is None or text == "" else json.loads(text)


def iso(ts: float | None) -> str | None:
    """Unix time → ``2026-11-28T10:41:07Z`` (UTC); None stays None."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def scan_entry(row: Row) -> dict[str, Any]:
    finished = row["finished_at"]
    duration = round(finished - row["started_at"], 1) if finished is not None else None
    return {
        "id": row["id"],
        "status": row["status"],
        "started_at": iso(row["started_at"]),
        "finished_at": iso(finished),
        "duration_s": duration,
        "site": row["site"],
        "targets": loads(row["targets"], []),
        "excludes": loads(row["excludes"], []),
        "interface": row["interface"],
        "operator": row["operator"],
        "host": row["host"],
        "probes": loads(row["probes"], []),
        "rules": loads(row["rules"], []),
        "tool_version": row["tool_version"],
        "kb_version": row["kb_version"],
        "stats": loads(row["stats"], {}),
    }


def device_entry(row: Row, finding_count: int = 0) -> dict[str, Any]:
    """``row``: a scan_devices row, optionally joined with the devices table's
    ``first_scan``/``first_seen`` (added to the document as ``first_seen_scan``/``first_seen``)."""
    entry = {
        "id": row["device_key"],
        "ip": row["ip"],
        "ips": loads(row["ips"], [row["ip"]]),
        "mac": row["mac"],
        "maker": row["maker"],
        "brand": row["brand"],
        "relation": row["relation"],
        "relation_text": row["relation_text"],
        "device_class": row["device_class"],
        "model": row["model"],
        "firmware": row["firmware"],
        "serial": row["serial"],
        "covered": bool(row["covered"]),
        "covered_basis": row["covered_basis"],
        "confidence": row["confidence"],
        "evidence": loads(row["evidence"], []),
        "conflicts": loads(row["conflicts"], []),
        "open_ports": loads(row["open_ports"], []),
        "facts": loads(row["facts"], {}),
        "warnings": loads(row["warnings"], []),
        "finding_count": finding_count,
    }
    if "first_scan" in row.keys():
        entry["first_seen_scan"] = row["first_scan"]
        entry["first_seen"] = iso(row["first_seen"])
    return entry


def finding_entry(row: Row) -> dict[str, Any]:
    state = row["waiver_state"]
    waiver = loads(row["waiver"], None)
    if waiver is not None:
        waiver = {"reason": waiver.get("reason", ""), "owner": waiver.get("owner", ""),
                  "ticket": waiver.get("ticket", ""), "expires": waiver.get("expires", ""), "state": state}
    return {
        "rule": row["rule_id"],
        "title": row["title"],
        "severity": row["severity"],
        "device_id": row["device_key"],
        "ip": row["ip"],
        "mac": row["mac"],
        "message": row["message"],
        "remediation": row["remediation"],
        "references": loads(row["refs"], []),
        "evidence": loads(row["evidence"], []),
        "waived": state in ("active", "expiring"),
        "waiver": waiver,
    }


def waiver_entry(row: Row) -> dict[str, Any]:
    return {name: row[name] for name in ("device", "rule", "reason", "owner", "ticket", "expires", "state")} | {
        "matched": bool(row["matched"]), "source": row["source"] if "source" in row.keys() else None}


def warning_entries(observation_rows: Iterable[Row]) -> list[dict[str, Any]]:
    out = [{"ip": r["ip"], "probe": r["probe"], "message": r["warning"]} for r in observation_rows if r["warning"]]
    out.sort(key=lambda w: (ip_sort_key(w["ip"]), w["probe"]))
    return out


def entries(device_rows: Iterable[Row], finding_rows: Iterable[Row]) -> tuple[list[dict[str, Any]],
                                                                              list[dict[str, Any]]]:
    """(device entries, finding entries) of one scan, in report order; each device counts its findings."""
    findings = sort_findings([finding_entry(r) for r in finding_rows])
    per_device: dict[str, int] = {}
    for f in findings:
        per_device[f["device_id"]] = per_device.get(f["device_id"], 0) + 1
    devices = sort_devices([device_entry(r, per_device.get(r["device_key"], 0)) for r in device_rows])
    return devices, findings


def build_document(scan_row: Row, device_rows: Iterable[Row], finding_rows: Iterable[Row],
                   waiver_rows: Iterable[Row], observation_rows: Iterable[Row],
                   changes: dict[str, Any] | None, generated_at: float | None = None) -> dict[str, Any]:
    """Assemble the whole document. ``observation_rows`` need only ip/probe/warning."""
    devices, findings = entries(device_rows, finding_rows)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(time.time() if generated_at is None else generated_at),
        "scan": scan_entry(scan_row),
        "devices": devices,
        "findings": findings,
        "waivers": [waiver_entry(r) for r in waiver_rows],
        "warnings": warning_entries(observation_rows),
        "changes": changes,
    }


# ---- validation -------------------------------------------------------------------------------

_STR = (str,)
_OPT_STR = (str, type(None))
_INT = (int,)
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_BOOL = (bool,)
_LIST = (list,)
_DICT = (dict,)

# key → (allowed types, allowed values or None)
_SCAN: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "id": (_INT, None), "status": (_STR, SCAN_STATUSES), "started_at": (_STR, None),
    "finished_at": (_OPT_STR, None), "duration_s": (_OPT_NUM, None), "site": (_OPT_STR, None),
    "targets": (_LIST, None), "excludes": (_LIST, None), "interface": (_OPT_STR, None),
    "operator": (_OPT_STR, None), "host": (_OPT_STR, None), "probes": (_LIST, None),
    "rules": (_LIST, None), "tool_version": (_OPT_STR, None), "kb_version": (_OPT_STR, None),
    "stats": (_DICT, None),
}
_DEVICE: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "id": (_STR, None), "ip": (_STR, None), "ips": (_LIST, None), "mac": (_OPT_STR, None),
    "maker": (_OPT_STR, None), "brand": (_OPT_STR, None), "relation": (_OPT_STR, None),
    "relation_text": (_OPT_STR, None), "device_class": (_STR, DEVICE_CLASSES), "model": (_OPT_STR, None),
    "firmware": (_OPT_STR, None), "serial": (_OPT_STR, None), "covered": (_BOOL, None),
    "covered_basis": (_OPT_STR, None), "confidence": (_STR, CONFIDENCES), "evidence": (_LIST, None),
    "conflicts": (_LIST, None), "open_ports": (_LIST, None), "facts": (_DICT, None),
    "warnings": (_LIST, None), "finding_count": (_INT, None),
}
_EVIDENCE: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "probe": (_STR, None), "field": (_STR, None), "value": (_STR, None), "supports": (_OPT_STR, None),
    "strength": (_STR, ("strong", "medium", "weak")), "note": (_STR, None),
}
_FINDING: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "rule": (_STR, None), "title": (_STR, None), "severity": (_STR, SEVERITIES), "device_id": (_STR, None),
    "ip": (_STR, None), "mac": (_OPT_STR, None), "message": (_STR, None), "remediation": (_STR, None),
    "references": (_LIST, None), "evidence": (_LIST, None), "waived": (_BOOL, None),
    "waiver": ((dict, type(None)), None),
}
_WAIVER_REF: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "reason": (_STR, None), "owner": (_STR, None), "ticket": (_STR, None), "expires": (_STR, None),
    "state": (_OPT_STR, WAIVER_STATES + (None,)),
}
_WAIVER: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "device": (_STR, None), "rule": (_STR, None), "reason": (_STR, None), "owner": (_STR, None),
    "ticket": (_STR, None), "expires": (_STR, None), "state": (_OPT_STR, WAIVER_STATES + (None,)),
    "matched": (_BOOL, None), "source": (_OPT_STR, None),
}
_WARNING: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "ip": (_STR, None), "probe": (_STR, None), "message": (_STR, None)}
_CHANGES: dict[str, tuple[tuple[type, ...], tuple[Any, ...] | None]] = {
    "previous_scan_id": (_INT, None), "new_devices": (_LIST, None), "gone_devices": (_LIST, None),
    "changed_devices": (_LIST, None), "new_findings": (_LIST, None), "resolved_findings": (_LIST, None),
}
_MAC_CHARS = set("0123456789abcdef:")
_ISO_LEN = len("2026-11-28T10:41:07Z")


def _check(obj: Any, spec: Mapping[str, tuple[tuple[type, ...], tuple[Any, ...] | None]], where: str,
           errors: list[str]) -> bool:
    if not isinstance(obj, dict):
        errors.append(f"{where}: expected an object, got {type(obj).__name__}")
        return False
    for key, (types, allowed) in spec.items():
        if key not in obj:
            errors.append(f"{where}.{key}: missing")
            continue
        value = obj[key]
        # bool is an int subclass: an int field must not accept True/False
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            errors.append(f"{where}.{key}: {type(value).__name__} not allowed")
        elif allowed is not None and value not in allowed:
            errors.append(f"{where}.{key}: {value!r} not one of {', '.join(map(str, allowed))}")
    return True


def _check_mac(value: Any, where: str, errors: list[str]) -> None:
    if value is not None and (len(value) != 17 or set(value) - _MAC_CHARS or value.count(":") != 5):
        errors.append(f"{where}: {value!r} is not a lower-case colon-separated MAC")


def _check_time(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, str) and (len(value) != _ISO_LEN or not value.endswith("Z") or value[10] != "T"):
        errors.append(f"{where}: {value!r} is not UTC ISO 8601 (YYYY-MM-DDTHH:MM:SSZ)")


def validate_document(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the documented schema; empty when it conforms."""
    errors: list[str] = []
    if not isinstance(doc, dict):
        return ["document: expected an object"]
    if doc.get("schema_version") != SCHEMA_VERSION:
        errors.append(f"schema_version: expected {SCHEMA_VERSION}, got {doc.get('schema_version')!r}")
    _check_time(doc.get("generated_at"), "generated_at", errors)
    if _check(doc.get("scan"), _SCAN, "scan", errors):
        for key in ("started_at", "finished_at"):
            _check_time(doc["scan"].get(key), f"scan.{key}", errors)
        for i, rule in enumerate(doc["scan"].get("rules") or []):
            _check(rule, {"path": (_STR, None), "sha256": (_STR, None)}, f"scan.rules[{i}]", errors)
    for name, spec in (("devices", _DEVICE), ("findings", _FINDING), ("waivers", _WAIVER),
                       ("warnings", _WARNING)):
        items = doc.get(name)
        if not isinstance(items, list):
            errors.append(f"{name}: expected a list")
            continue
        for i, item in enumerate(items):
            where = f"{name}[{i}]"
            if not _check(item, spec, where, errors):
                continue
            if "mac" in item:
                _check_mac(item.get("mac"), f"{where}.mac", errors)
            if name == "devices":
                for j, ev in enumerate(item.get("evidence") or []):
                    _check(ev, _EVIDENCE, f"{where}.evidence[{j}]", errors)
                if not all(isinstance(p, int) for p in item.get("open_ports") or []):
                    errors.append(f"{where}.open_ports: not all integers")
            if name == "findings" and isinstance(item.get("waiver"), dict):
                _check(item["waiver"], _WAIVER_REF, f"{where}.waiver", errors)
    changes = doc.get("changes", "missing")
    if changes == "missing":
        errors.append("changes: missing")
    elif changes is not None:
        _check(changes, _CHANGES, "changes", errors)
    return errors
