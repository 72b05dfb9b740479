"""The versioned JSON document of ``docs/json-schema.md``, built from store rows.

One shape is shared by ``scan --json``, ``export --format json`` and
``report --format json``, and the HTML report renders from it. Fields are only ever
added within a ``schema_version``. ``validate_document`` checks a document against
the published JSON Schema (``schemas/``, see ``auditor.docschema``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .models import SEVERITIES
from .ordering import ip_sort_key, sort_devices, sort_findings

SCHEMA_VERSION = 1
SCAN_STATUSES = ("running", "complete", "degraded", "interrupted", "failed")
SCAN_KINDS = ("scan", "import")
"""A network scan, or an inventory a site already had (``camaudit classify``)."""
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
        "site": row["site"] or None,  # the store keeps '' for a scan that named no site
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
        "kind": row.get("kind") or "scan",
        "source": loads(row.get("source"), None),
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
        "behind": row["behind"] if "behind" in row.keys() else None,
        "channel": row["channel"] if "channel" in row.keys() else None,
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


def history_entry(row: Row) -> dict[str, Any]:
    """One scan of the site's recent history (the report's trend): its counts from the scans row."""
    return {
        "scan_id": row["id"],
        "status": row["status"],
        "started_at": iso(row["started_at"]),
        "devices": row["device_count"],
        "covered": row["covered_count"],
        "open": {s: row[f"open_{s}"] for s in SEVERITIES},
    }


def build_document(scan_row: Row, device_rows: Iterable[Row], finding_rows: Iterable[Row],
                   waiver_rows: Iterable[Row], observation_rows: Iterable[Row],
                   changes: dict[str, Any] | None, generated_at: float | None = None,
                   history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Assemble the whole document. ``observation_rows`` need only ip/probe/warning;
    ``history`` (the site's recent scans, oldest first) is added when given."""
    devices, findings = entries(device_rows, finding_rows)
    out = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(time.time() if generated_at is None else generated_at),
        "scan": scan_entry(scan_row),
        "devices": devices,
        "findings": findings,
        "waivers": [waiver_entry(r) for r in waiver_rows],
        "warnings": warning_entries(observation_rows),
        "changes": changes,
    }
    if history is not None:
        out["history"] = history
    return out


# ---- validation -------------------------------------------------------------------------------

def validate_document(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the published JSON Schema; empty when it conforms."""
    from .docschema import validate_document as check

    return check(doc)
