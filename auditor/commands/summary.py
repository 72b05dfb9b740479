"""The one-line summary printed after a scan, audit or demo."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..models import SEVERITIES


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
