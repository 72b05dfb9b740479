"""The one-line summary printed after a scan, audit or demo."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from ..models import SEVERITIES
from ..pipeline import AuditResult


def summary_line(doc: dict[str, Any]) -> str:
    scan = doc["scan"]
    devices = doc["devices"]
    open_findings = [f for f in doc["findings"] if not f.get("waived")]
    by_sev = Counter(f["severity"] for f in open_findings)
    sev = ", ".join(f"{by_sev[s]} {s}" for s in SEVERITIES if by_sev[s]) or "none"
    covered = sum(1 for d in devices if d.get("covered"))
    cams = sum(1 for d in devices if d.get("device_class") in ("camera", "recorder"))
    return (f"scan {scan['id']} {scan['status']}: {len(devices)} devices ({cams} cameras/recorders, "
            f"{covered} covered), findings: {sev}")


def exit_code(result: AuditResult) -> int:
    """2 for a scan that did not complete or is degraded (its results are stored), else 1 on findings (or a
    device that stopped answering during the audit, whatever --fail-on says), else 0."""
    dark = result.went_dark
    if dark:
        click.echo(f"camaudit: {len(dark)} device{'s' if len(dark) != 1 else ''} stopped answering during the "
                   f"audit: {', '.join(dark[:10])}{' …' if len(dark) > 10 else ''} (see the report)", err=True)
    if result.status == "degraded":
        reason = result.document["scan"]["stats"].get("degraded", "")
        click.echo(f"camaudit: scan {result.scan_id} degraded: {reason}; its results are stored and reported, "
                   "but it is not a complete audit (nor the next diff's baseline)", err=True)
        return 2
    if result.status != "complete":
        click.echo(f"camaudit: scan {result.scan_id} {result.status}: partial results are stored and "
                   "reported, but the audit is incomplete", err=True)
        return 2
    return 1 if result.failed else 0
