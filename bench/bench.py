#!/usr/bin/env python3
"""Benchmark: full camaudit scans of the simulated facility at several sizes, against nmap.

For each size the lab is brought up (demo fleet + generic cameras), camaudit scans
it from inside the lab's scanner namespace (a child process, so its CPU time and peak
RSS are measured alone), and, where nmap is installed, `nmap -sn -PR` (bare ARP ping
sweep) runs on the same hosts in the same run; at the smallest size also `nmap -sV`
on the camera ports. Nothing leaves the lab: every command runs inside its namespaces.

    python bench/bench.py [--sizes 20,250,1000] [--rate 2000] [--no-nmap]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import lab_down, lab_up
from auditor.scope import build_scope

CAMERA_PORTS = "80,443,554,8000,8080,8443,37777,23,21,22"


def run_measured(cmd: list[str], timeout: float) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; return (wall s, child CPU s, child peak RSS KiB, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss, proc


def _hosts_up(nmap_output: str) -> int | None:
    m = re.search(r"\((\d+) hosts? up\)", nmap_output)
    return int(m.group(1)) if m else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20,250,1000")
    ap.add_argument("--rate", type=float, default=2000.0, help="camaudit --rate (packets/s)")
    ap.add_argument("--no-nmap", action="store_true")
    ap.add_argument("--tag", default="bench")
    args = ap.parse_args()
    fleet = load_fleet()
    base = len(fleet.devices)
    nmap = None if args.no_nmap else shutil.which("nmap")
    camaudit = str(Path(sys.executable).with_name("camaudit"))
    rows = []
    tmp_root = tempfile.mkdtemp(prefix="camaudit-bench-")
    for size in (int(s) for s in args.sizes.split(",")):
        scale = max(0, size - base)
        targets = list(topology.DEMO_TARGETS)
        if scale:
            targets.append(f"{topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}")
        lab_down(args.tag)
        t0 = time.monotonic()
        state = lab_up(args.tag, fleet, scale=scale)
        up_s = time.monotonic() - t0
        try:
            ns = ["ip", "netns", "exec", state.scanner_ns]
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [*ns, camaudit, "scan", *targets, "-i", topology.SCANNER_IFACE, "--db", f"{tmp}/b.db",
                       "--rate", str(args.rate), "--timeout", "1.5", "--deadline", "120", "--quiet",
                       "--json", f"{tmp}/b.json"]
                wall, cpu, rss, proc = run_measured(cmd, timeout=600)
                if proc.returncode not in (0, 1):
                    print(proc.stderr, file=sys.stderr)
                    return 2
                doc = json.loads(Path(f"{tmp}/b.json").read_text())
            seen_ips = {ip for d in doc["devices"] for ip in d["ips"]}
            found = sum(1 for d in state.fleet.devices if d.ip in seen_ips)
            row = {"devices": len(state.fleet.devices), "lab_up_s": round(up_s, 1),
                   "camaudit_wall_s": round(wall, 2), "camaudit_cpu_s": round(cpu, 2),
                   "camaudit_peak_rss_mb": round(rss / 1024, 1), "found": found,
                   "hosts_in_inventory": len(doc["devices"])}
            if nmap:
                # nmap does not read camaudit's "a.b.c.d-e.f.g.h" ranges: hand it every address in a file.
                arp_file = Path(tmp_root) / f"nmap-{size}.txt"
                arp_file.write_text("".join(f"{a}\n" for a in build_scope(
                    [t for t in targets if not t.startswith("198.18.32.")]).addresses()))
                nwall, _, _, nproc = run_measured([*ns, nmap, "-n", "-sn", "-PR", "-iL", str(arp_file)],
                                                  timeout=900)
                row["nmap_sn_hosts_up"] = _hosts_up(nproc.stdout)
                row["nmap_sn_PR_s"] = round(nwall, 2)
                row["ratio_camaudit_vs_nmap_sn"] = round(wall / nwall, 2) if nwall else None
                if size == min(int(s) for s in args.sizes.split(",")) and size <= 50:  # -sV takes minutes
                    all_file = Path(tmp_root) / "nmap-all.txt"
                    all_file.write_text("".join(f"{a}\n" for a in build_scope(targets).addresses()))
                    vwall, _, _, _ = run_measured([*ns, nmap, "-n", "-sV", "-p", CAMERA_PORTS, "-iL", str(all_file)],
                                                  timeout=1800)
                    row["nmap_sV_s"] = round(vwall, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
        finally:
            lab_down(args.tag)
    shutil.rmtree(tmp_root, ignore_errors=True)
    print()
    header = list(rows[0].keys()) if rows else []
    for extra in ("nmap_sV_s",):
        if rows and extra not in header and any(extra in r for r in rows):
            header.append(extra)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(r.get(h, "")) for h in header) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
