#!/usr/bin/env python3
"""Repeated scans of the unchanged lab: does the same network give the same inventory?

Brings up the lab at one size, scans it ``--runs`` times into one database from inside the
scanner namespace (a child process per scan, as an operator's cron would), and for every
scan prints its status, duration, devices, findings by severity and the diff against the
previous complete scan (devices new/gone/changed, findings new/resolved). Ends with a
one-line verdict: the number of unstable scans (not complete, or any difference at all).

    python bench/stability.py [--size 1000] [--runs 20] [--profile default] [--json out.json]

Nothing leaves the lab: every scan runs inside its namespaces.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import lab_down, lab_up, scanner_argv

CHANGES = ("new_devices", "gone_devices", "changed_devices", "new_findings", "resolved_findings")


def identities(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What a person compares between two inventories, per device id."""
    return {d["id"]: (d["ip"], d["mac"], d["maker"], d["brand"], d["model"], d["firmware"], d["device_class"],
                      d["covered"], tuple(d["open_ports"])) for d in doc["devices"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000, help="devices in the lab (demo fleet + generic cameras)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--profile", default="default", help="camaudit --profile (pacing), as an operator runs it")
    ap.add_argument("--deadline", default="600")
    ap.add_argument("--tag", default="stab")
    ap.add_argument("--json", type=Path, help="write the per-scan figures here")
    args = ap.parse_args()
    fleet = load_fleet()
    scale = max(0, args.size - len(fleet.devices))
    targets = list(topology.DEMO_TARGETS)
    if scale:
        targets.append(f"{topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}")
    camaudit = str(Path(sys.executable).with_name("camaudit"))
    lab_down(args.tag)
    t0 = time.monotonic()
    lab_up(args.tag, fleet, scale=scale)
    print(f"lab of {len(fleet.devices) + scale} devices up in {time.monotonic() - t0:.1f} s", flush=True)
    rows: list[dict[str, Any]] = []
    unstable = 0
    first: dict[str, tuple[Any, ...]] | None = None
    previous: dict[str, tuple[Any, ...]] | None = None
    inventories: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="camaudit-stability-") as tmp:
            for run in range(1, args.runs + 1):
                out = Path(tmp) / f"{run}.json"
                cmd = [camaudit, "scan", *targets, "-i", topology.SCANNER_IFACE, "--db", f"{tmp}/s.db",
                       "--profile", args.profile, "--deadline", args.deadline, "--quiet",
                       "--json", str(out)]
                t0 = time.monotonic()
                proc = subprocess.run(scanner_argv(args.tag, cmd), capture_output=True, text=True, timeout=900)
                took = time.monotonic() - t0
                doc = json.loads(out.read_text())
                changes = doc["changes"] or {}
                severities = Counter(f["severity"] for f in doc["findings"])
                ids = identities(doc)
                first = first or ids
                inventories.add(json.dumps(sorted(ids.items()), default=str))
                row = {"run": run, "rc": proc.returncode, "status": doc["scan"]["status"], "seconds": round(took, 1),
                       "devices": len(doc["devices"]), "findings": dict(sorted(severities.items())),
                       **{k: len(changes.get(k) or []) for k in CHANGES},
                       "differs_from_first": sum(1 for k in ids.keys() | first.keys() if ids.get(k) != first.get(k)),
                       "differs_from_previous": sum(1 for k in ids.keys() | (previous or ids).keys()
                                                    if ids.get(k) != (previous or ids).get(k)),
                       "degraded": doc["scan"]["stats"].get("degraded")}
                previous = ids
                bad = row["status"] != "complete" or any(row[k] for k in CHANGES) or row["differs_from_previous"]
                unstable += bool(bad)
                rows.append(row)
                print(json.dumps(row), flush=True)
                for key in sorted(k for k in ids.keys() | first.keys() if ids.get(k) != first.get(k))[:5]:
                    print(f"  differs from run 1: {key}: {first.get(key)} -> {ids.get(key)}", flush=True)
    finally:
        lab_down(args.tag)
    durations = [r["seconds"] for r in rows]
    print(f"{args.runs} scans of {len(fleet.devices) + scale} devices: {unstable} unstable (not complete, or "
          f"different from the scan before), {len(inventories)} distinct inventories; "
          f"{min(durations):.1f}-{max(durations):.1f} s per scan")
    if args.json:
        args.json.write_text(json.dumps({"size": len(fleet.devices) + scale, "runs": rows, "unstable": unstable,
                                         "inventories": len(inventories)}, indent=2) + "\n")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
