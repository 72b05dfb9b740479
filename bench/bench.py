#!/usr/bin/env python3
"""Benchmark: full camaudit scans of the simulated facility at the default profile, nmap side by side.

Runs (each in its own lab, torn down after; every command runs inside the lab's scanner
namespace against lab addresses, so nothing leaves the lab):

* ``N`` devices on the LAN for each of ``--sizes`` (the demo fleet plus generic cameras, every
  50th of them fragile): ``camaudit scan`` of the demo LAN range plus the cameras, and
  ``nmap -sn -PR`` (a bare ARP ping sweep) of the same addresses. At the first size also
  ``--profile ot`` and ``--profile fast``, and last a deliberately aggressive setting
  (``--profile fast --host-connections 8 --host-rate 500``) that must be caught: the fragile
  devices it hangs must be reported by the end-of-scan re-check.
* a routed /24 (the demo fleet's routed segment: 3 cameras and the router among 254
  addresses) against ``nmap -sn`` of the same /24;
* a routed /16 holding ``--sparse`` cameras (198.19.0.0/16 behind the lab router), against
  ``nmap -sn`` of the same /16 with ``--nmap-sparse`` (it takes nmap about ten minutes).

After every run the fragile devices must still answer (the emulator reports any that locked
up), except after the aggressive one. camaudit runs at its defaults: no ``--rate`` unless given.
nmap is only needed here, never by the tests: ``apt-get install nmap``.

    python bench/bench.py [--sizes 290,1000] [--sparse 300] [--no-routed] [--no-profiles]
                          [--no-nmap] [--nmap-sparse] [--rate R] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import LabState, crashed_devices, lab_down, lab_up
from auditor.scope import build_scope

FRAGILE_EVERY = 50
AGGRESSIVE = ("--profile", "fast", "--host-connections", "8", "--host-rate", "500")
ROUTED_TARGET = str(topology.ROUTED)
SPARSE_TARGET = str(topology.SPARSE)


def run_measured(cmd: list[str], timeout: float) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; return (wall s, its CPU s, its peak RSS KiB, result), for that process alone.

    ``ip netns exec`` execs the command in place, so the child's own rusage (``wait4``) is the scan's.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, result


def hosts_up(nmap_output: str) -> int | None:
    m = re.search(r"\((\d+) hosts? up\)", nmap_output)
    return int(m.group(1)) if m else None


@dataclass
class Row:
    run: str
    devices: int
    profile: str
    target: str
    """What this run must show (the issue's benchmark target)."""
    values: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    notes: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.ok = False
        self.notes.append(why)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.camaudit = str(Path(sys.executable).with_name("camaudit"))
        self.nmap = None if args.no_nmap else shutil.which("nmap")
        self.tmp = Path(tempfile.mkdtemp(prefix="camaudit-bench-"))
        self.rows: list[Row] = []

    def scan(self, lab: LabState, targets: Sequence[str], extra: Sequence[str], row: Row,
             timeout: float = 900) -> dict[str, Any]:
        db, js = self.tmp / f"{len(self.rows)}.db", self.tmp / f"{len(self.rows)}.json"
        rate = ["--rate", str(self.args.rate)] if self.args.rate else []
        cmd = ["ip", "netns", "exec", lab.scanner_ns, self.camaudit, "scan", *targets, "-i",
               topology.SCANNER_IFACE, "--db", str(db), "--json", str(js), "--quiet", *rate, *extra]
        row.values["load_1min"] = round(os.getloadavg()[0], 2)
        wall, cpu, rss, proc = run_measured(cmd, timeout)
        if proc.returncode not in (0, 1):
            row.fail(f"camaudit exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        empty: dict[str, Any] = {"devices": [], "findings": [], "scan": {"stats": {}}}
        doc: dict[str, Any] = json.loads(js.read_text()) if js.exists() else empty
        stats = doc["scan"].get("stats", {})
        row.values.update(camaudit_wall_s=round(wall, 2), camaudit_cpu_s=round(cpu, 2),
                          peak_rss_mb=round(rss / 1024, 1), scan_s=stats.get("elapsed_s"),
                          status=doc["scan"].get("status"))
        return doc

    def found(self, lab: LabState, doc: dict[str, Any], targets: Sequence[str], row: Row) -> None:
        scope = build_scope(targets)
        expected = [d for d in lab.fleet.devices if d.ip in scope]
        seen = {ip for d in doc["devices"] for ip in d["ips"]}
        hit = sum(1 for d in expected if d.ip in seen)
        row.values["found"] = f"{hit}/{len(expected)}"
        if hit < len(expected):
            missing = [d.name for d in expected if d.ip not in seen][:5]
            row.fail(f"not found: {', '.join(missing)}")

    def fragile(self, lab: LabState, doc: dict[str, Any], targets: Sequence[str], row: Row,
                aggressive: bool = False) -> None:
        scope = build_scope(targets)
        fragile = {d.name: d.ip for d in lab.fleet.devices if d.fragile is not None and d.ip in scope}
        crashed = crashed_devices(lab)
        dark = {f["ip"] for f in doc["findings"] if f["rule"] == "scan-safety.stopped-answering"}
        hung = {name for name in fragile if name in crashed}
        row.values["fragile_alive"] = f"{len(fragile) - len(hung)}/{len(fragile)}"
        if not aggressive:
            if hung:
                row.fail(f"fragile devices hung: {', '.join(sorted(hung))}")
            if dark:
                row.fail(f"re-check reports devices dark: {', '.join(sorted(dark))}")
            return
        caught = {name for name in hung if fragile[name] in dark}
        row.values["caught_by_recheck"] = f"{len(caught)}/{len(hung)}"
        if not hung:
            row.fail("the aggressive setting hung no fragile device (it should exceed their limits)")
        elif caught != hung:
            row.fail(f"hung but not reported: {', '.join(sorted(hung - caught))}")

    def nmap_run(self, lab: LabState, args: Sequence[str], row: Row, timeout: float = 1800) -> float | None:
        if not self.nmap:
            return None
        cmd = ["ip", "netns", "exec", lab.scanner_ns, self.nmap, "-n", *args]
        wall, _, _, proc = run_measured(cmd, timeout)
        row.values["nmap_hosts_up"] = hosts_up(proc.stdout)
        row.values["nmap_s"] = round(wall, 2)
        row.values["ratio"] = round(row.values["camaudit_wall_s"] / wall, 2) if wall else None
        return wall

    def finish(self, row: Row) -> None:
        self.rows.append(row)
        print(json.dumps({"run": row.run, "devices": row.devices, "profile": row.profile, **row.values,
                          "ok": row.ok, "notes": row.notes}), flush=True)

    # ------------------------------------------------------------------ runs

    def lan(self, size: int, profiles: bool) -> None:
        fleet = load_fleet()
        scale = max(0, size - len(fleet.devices))
        # On-link addresses only, for both tools: the routed segment has its own run (nmap -PR cannot
        # ARP it, and a LAN row that also swept a routed /24 would not compare the same hosts).
        targets = [t for t in topology.DEMO_TARGETS if t != ROUTED_TARGET]
        if scale:
            targets.append(f"{topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}")
        tag = self.args.tag
        lab_down(tag)
        t0 = time.monotonic()
        lab = lab_up(tag, fleet, scale=scale, fragile_every=FRAGILE_EVERY)
        up_s = round(time.monotonic() - t0, 1)
        try:
            scope = build_scope(targets)
            n = sum(1 for d in lab.fleet.devices if d.ip in scope)
            target = "≤ 4× nmap -sn -PR, every device found" if n < 500 else "≤ 30 s, every device found, RSS ≤ 300 MB"
            row = Row(f"LAN {n}", n, "default", target, {"lab_up_s": up_s})
            doc = self.scan(lab, targets, [], row)
            self.found(lab, doc, targets, row)
            self.fragile(lab, doc, targets, row)
            on_link = self.tmp / f"on-link-{n}.txt"
            on_link.write_text("".join(f"{a}\n" for a in scope.addresses()))
            nmap_s = self.nmap_run(lab, ["-sn", "-PR", "-iL", str(on_link)], row)
            if n < 500 and nmap_s and row.values["camaudit_wall_s"] > 4 * nmap_s:
                row.fail(f"{row.values['ratio']}× nmap -sn -PR (target ≤ 4×)")
            if n >= 500 and (row.values["camaudit_wall_s"] > 30 or row.values["peak_rss_mb"] > 300):
                row.fail("over 30 s or 300 MB")
            self.finish(row)
            if not profiles:
                return
            for profile in ("ot", "fast"):
                row = Row(f"LAN {n}", n, profile, "fragile devices alive, every device found")
                doc = self.scan(lab, targets, ["--profile", profile], row)
                self.found(lab, doc, targets, row)
                self.fragile(lab, doc, targets, row)
                self.finish(row)
            row = Row(f"LAN {n}", n, "aggressive", "fragile devices hang and the re-check reports each")
            doc = self.scan(lab, targets, list(AGGRESSIVE), row)
            self.fragile(lab, doc, targets, row, aggressive=True)
            self.finish(row)
        finally:
            lab_down(tag)

    def routed(self) -> None:
        tag = self.args.tag
        lab_down(tag)
        lab = lab_up(tag, load_fleet())
        try:
            row = Row("routed /24", sum(1 for d in lab.fleet.devices if d.segment == "routed"), "default",
                      "≤ 2× nmap -sn of the same /24, every device found")
            doc = self.scan(lab, [ROUTED_TARGET], [], row)
            self.found(lab, doc, [ROUTED_TARGET], row)
            self.fragile(lab, doc, [ROUTED_TARGET], row)
            nmap_s = self.nmap_run(lab, ["-sn", ROUTED_TARGET], row)
            if nmap_s and row.values["camaudit_wall_s"] > 2 * nmap_s:
                row.fail(f"{row.values['ratio']}× nmap -sn (target ≤ 2×)")
            self.finish(row)
        finally:
            lab_down(tag)

    def sparse(self, count: int) -> None:
        tag = self.args.tag
        lab_down(tag)
        lab = lab_up(tag, load_fleet(), sparse=count, fragile_every=FRAGILE_EVERY)
        try:
            row = Row("routed /16", count, "default", "≤ 180 s, every device found")
            doc = self.scan(lab, [SPARSE_TARGET], [], row, timeout=1800)
            self.found(lab, doc, [SPARSE_TARGET], row)
            self.fragile(lab, doc, [SPARSE_TARGET], row)
            if row.values["camaudit_wall_s"] > 180:
                row.fail("over 180 s")
            if self.args.nmap_sparse:
                self.nmap_run(lab, ["-sn", SPARSE_TARGET], row, timeout=3600)
            self.finish(row)
        finally:
            lab_down(tag)

    def table(self) -> str:
        cols = ["run", "profile", "camaudit_wall_s", "scan_s", "camaudit_cpu_s", "peak_rss_mb", "found",
                "fragile_alive", "nmap_s", "ratio", "load_1min", "ok"]
        head = ("| run | profile | camaudit wall (s) | scan (s) | CPU (s) | peak RSS (MB) | found | fragile alive "
                "| nmap (s) | camaudit / nmap | load (1 min) | target met |")
        lines = [head, "|" + "---|" * len(cols)]
        for r in self.rows:
            vals = {"run": r.run, "profile": r.profile, "ok": ("yes" if r.ok else "**no**: " + "; ".join(r.notes)),
                    **r.values}
            if r.profile == "aggressive":
                caught = r.values.get("caught_by_recheck", "-")
                vals["fragile_alive"] = f"{r.values.get('fragile_alive', '')} (re-check caught {caught})"
            ratio = vals.get("ratio")
            vals["ratio"] = f"{ratio}×" if ratio is not None else ""
            cells = ("" if vals.get(c) is None else str(vals[c]) for c in cols)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="290,1000", help="LAN sizes (devices), comma-separated; '' for none")
    ap.add_argument("--sparse", type=int, default=300, help="cameras in the routed /16 (0: skip that run)")
    ap.add_argument("--no-routed", action="store_true", help="skip the routed /24 run")
    ap.add_argument("--no-profiles", action="store_true", help="skip the ot/fast/aggressive runs")
    ap.add_argument("--rate", type=float, default=None, help="pass --rate to camaudit (default: the profile's)")
    ap.add_argument("--no-nmap", action="store_true")
    ap.add_argument("--nmap-sparse", action="store_true", help="also nmap -sn the /16 (about ten minutes)")
    ap.add_argument("--tag", default="bench")
    ap.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = ap.parse_args()
    bench = Bench(args)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    try:
        for i, size in enumerate(sizes):
            bench.lan(size, profiles=i == 0 and not args.no_profiles)
        if not args.no_routed:
            bench.routed()
        if args.sparse:
            bench.sparse(args.sparse)
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    print()
    print(bench.table())
    if args.json:
        args.json.write_text(json.dumps([{"run": r.run, "devices": r.devices, "profile": r.profile, "target": r.target,
                                          **r.values, "ok": r.ok, "notes": r.notes} for r in bench.rows], indent=2))
    return 0 if all(r.ok for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
