#!/usr/bin/env python3
"""Benchmark: a year of nightly audits of an estate in one central database (issue 15).

Simulates ``--sites`` sites × ``--devices`` devices audited every night for ``--nights``
nights and loads each night's document through the store's import path
(``Store.import_document``, as ``camaudit import`` does after validating), then reports:

- the database's size (targets: ≤ 5 GB for 50 sites × 1,000 devices × 365 nights), with
  the stored device states and sightings behind it;
- the estate report (``report --estate``): build + render time and HTML size after the
  first night (the most covered devices) and at the end (targets: ≤ 5 s, ≤ 20 MB);
- a full ``camaudit import`` of one site's document (read, parse, JSON Schema, store).

Devices are the lab's real device and finding entries (bench/data/lab-document.json, what
``camaudit demo`` writes), copied with per-device addresses, MACs and serials: every site uses
the same private range (identity is per site). A quarter are covered. What changes, per site
and night: 3 devices change address (DHCP), 1 gets new firmware, 2 hostile devices answer
with different garbage, every ONVIF device's clock drifts by up to 3 s, 1 covered camera is
replaced by a non-covered one on 7 nights out of 10 (the removal programme), a monthly
firmware roll-out touches 5 % of the fleet, waivers on 5 covered devices go expiring then
expired; 1 % of runs are interrupted.

    python bench/estate_bench.py                      # the full year: about half an hour
    python bench/estate_bench.py --sites 5 --nights 30 --json
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.document import iso  # noqa: E402
from auditor.document_import import import_files  # noqa: E402
from auditor.estate import build_estate  # noqa: E402
from auditor.report.estate import render_estate_html  # noqa: E402
from auditor.store import Store  # noqa: E402

DAY = 86400.0
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
GB = 1e9
MB = 1e6
SIZE_BUDGET = 5 * GB
RENDER_BUDGET_S = 5.0
RENDER_BUDGET_BYTES = 20 * 1024 * 1024


def _templates() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    data = json.loads((ROOT / "bench" / "data" / "lab-document.json").read_text(encoding="utf-8"))
    findings: dict[str, list[dict[str, Any]]] = {}
    for f in data["findings"]:
        findings.setdefault(f["device_id"], []).append(f)
    covered = [d for d in data["devices"] if d["covered"]]
    clear = [d for d in data["devices"] if not d["covered"]]
    return covered, clear, findings


class Site:
    """One site's fleet: device entries and their findings, mutated night by night."""

    def __init__(self, index: int, n: int, rng: random.Random, templates: Any) -> None:
        self.name = f"Site {index:02d}"
        self.index = index
        self.rng = rng
        self.covered_t, self.clear_t, self.findings_t = templates
        self.serial = 0
        self.devices: dict[str, dict[str, Any]] = {}
        self.findings: dict[str, list[dict[str, Any]]] = {}
        for i in range(n):
            self._add(covered=i % 4 == 0)
        covered_ids = [k for k, d in self.devices.items() if d["covered"]]
        self.waived = covered_ids[:5]
        self.hostile = rng.sample(list(self.devices), 2)
        # devices whose clock the audit reads (ONVIF), drifting within one 10-second bucket
        self.clocks = {k: round((d["facts"].get("clock_offset_s") or 0.0) / 10) * 10.0
                       for k, d in self.devices.items() if d["facts"].get("clock_offset_s") is not None}

    def _new_address(self) -> tuple[str, str]:
        self.serial += 1
        n = self.serial
        ip = f"10.20.{n // 250}.{n % 250 + 2}"  # the same private range at every site
        mac = f"02:{self.index:02x}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}:01"
        return ip, mac

    def _add(self, covered: bool) -> str:
        pool = self.covered_t if covered else self.clear_t
        template = pool[self.serial % len(pool)]
        ip, mac = self._new_address()
        key = f"mac:{mac}"
        text = json.dumps(template)
        for old, new in ((template["ip"], ip), (template.get("mac") or "\0", mac), (template["id"], key)):
            text = text.replace(json.dumps(old)[1:-1], new)
        entry = json.loads(text)
        entry.update(id=key, ip=ip, ips=[ip], mac=mac, serial=f"SN{self.index:02d}{self.serial:07d}")
        found = []
        for f in self.findings_t.get(template["id"], []):
            g = copy.deepcopy(f)
            g.update(device_id=key, ip=ip, mac=mac, message=g["message"].replace(template["ip"], ip))
            found.append(g)
        self.devices[key] = entry
        self.findings[key] = found
        return key

    def _readdress(self, key: str) -> None:
        ip, _ = self._new_address()
        entry = self.devices[key]
        old = entry["ip"]
        entry.update(ip=ip, ips=[ip])
        entry["facts"] = dict(entry["facts"], ip=ip, ips=[ip])
        for f in self.findings[key]:
            f.update(ip=ip, message=f["message"].replace(old, ip))

    def night(self, n: int) -> None:
        rng = self.rng
        keys = list(self.devices)
        for key in rng.sample(keys, 3):
            self._readdress(key)
        for key in rng.sample(keys, 1) + (rng.sample(keys, len(keys) // 20) if n % 30 == 29 else []):
            entry = self.devices[key]
            entry["firmware"] = f"{(entry.get('firmware') or 'V1.0')} r{n}"
            entry["facts"] = dict(entry["facts"], firmware=entry["firmware"])
        for key in (k for k in self.hostile if k in self.devices):
            self.devices[key]["warnings"] = [f"sadp: malformed XML: line 1, column {rng.randrange(80)}"]
        for key, base in self.clocks.items():
            if key in self.devices:
                offset = round(base + rng.uniform(-3.0, 3.0), 1)
                entry = self.devices[key]
                entry["facts"] = dict(entry["facts"], clock_offset_s=offset, clock_skew_s=abs(offset))
        if rng.random() < 0.7:
            covered = [k for k, d in self.devices.items() if d["covered"] and k not in self.waived]
            if covered:
                gone = rng.choice(covered)
                del self.devices[gone]
                del self.findings[gone]
                self._add(covered=False)
        for key in self.waived:
            if key in self.findings:
                state = "active" if n < 170 else ("expiring" if n < 200 else "expired")
                for f in self.findings[key]:
                    if f["rule"] == "ndaa-889.covered-maker":
                        f["waiver"] = {"reason": "replacement ordered", "owner": "facilities", "ticket": "CHG-1",
                                       "expires": iso(START + 200 * DAY)[:10], "state": state}
                        f["waived"] = state != "expired"

    def document(self, n: int) -> dict[str, Any]:
        started = START + n * DAY + 3 * 3600 + self.index * 60
        devices = list(self.devices.values())
        findings = [f for key in self.devices for f in self.findings[key]]
        status = "interrupted" if self.rng.random() < 0.01 else "complete"
        waivers = [{"device": self.devices[k]["mac"], "rule": "ndaa-889.covered-maker", "reason": "replacement ordered",
                    "owner": "facilities", "ticket": "CHG-1", "expires": iso(START + 200 * DAY)[:10],
                    "state": "active" if n < 170 else ("expiring" if n < 200 else "expired"), "matched": True,
                    "source": "rules/site.yaml:12"} for k in self.waived if k in self.devices]
        return {
            "schema_version": 1, "generated_at": iso(started + 900),
            "scan": {"id": n + 1, "status": status, "started_at": iso(started), "finished_at": iso(started + 600),
                     "duration_s": 600.0, "site": self.name, "targets": ["10.20.0.0/22"], "excludes": [],
                     "interface": "eth1", "operator": "root", "host": f"scanner-{self.index:02d}",
                     "probes": ["arp", "wsdiscovery", "sadp", "dhip", "ports", "http", "rtsp", "onvif"],
                     "rules": [], "tool_version": "0.1.0", "kb_version": "bench", "stats": {"devices": len(devices)}},
            "devices": devices, "findings": findings, "waivers": waivers, "warnings": [], "changes": None,
        }


def _render(db: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    with Store(db) as store:
        estate = build_estate(store)
    t1 = time.perf_counter()
    html = render_estate_html(estate)
    t2 = time.perf_counter()
    size = len(html.encode("utf-8"))
    return {"build_s": round(t1 - t0, 2), "render_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "html_bytes": size, "covered_devices": len(estate["covered_devices"]),
            "within_budget": (t2 - t0) <= RENDER_BUDGET_S and size <= RENDER_BUDGET_BYTES}


def _db_size(db: Path) -> dict[str, Any]:
    with Store(db) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        q = store.db.execute
        out = {
            "file_bytes": db.stat().st_size,
            "free_pages": q("PRAGMA freelist_count").fetchone()[0],
            "scans": q("SELECT COUNT(*) FROM scans").fetchone()[0],
            "devices": q("SELECT COUNT(*) FROM devices").fetchone()[0],
            "device_states": q("SELECT COUNT(*) FROM device_states").fetchone()[0],
            "state_findings": q("SELECT COUNT(*) FROM state_findings").fetchone()[0],
            "sightings": q("SELECT COUNT(*) FROM scan_devices").fetchone()[0],
        }
        try:
            tables = {r[0]: r[1] for r in q("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")}
            out["bytes_by_table"] = dict(sorted(tables.items(), key=lambda kv: -kv[1])[:10])
        except Exception:  # dbstat is optional in SQLite builds
            pass
    return out


def _full_import(doc: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="camaudit-import-bench-") as tmp:
        return _time_import(doc, Path(tmp))


def _time_import(doc: dict[str, Any], workdir: Path) -> dict[str, Any]:
    path = workdir / "one-site.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    db = workdir / "import-timing.db"
    with Store(db) as store:
        t0 = time.perf_counter()
        done, errors = import_files(store, [path])
        t1 = time.perf_counter()
        again, _ = import_files(store, [path])
        t2 = time.perf_counter()
    assert not errors and done[0].new and not again[0].new
    return {"document_bytes": path.stat().st_size, "devices": len(doc["devices"]), "import_s": round(t1 - t0, 2),
            "reimport_same_file_s": round(t2 - t1, 3)}


def run(sites: int, devices: int, nights: int, db: Path, seed: int, progress: bool) -> dict[str, Any]:
    rng = random.Random(seed)
    templates = _templates()
    fleet = [Site(i + 1, devices, random.Random(rng.random()), templates) for i in range(sites)]
    result: dict[str, Any] = {"sites": sites, "devices_per_site": devices, "nights": nights}
    result["full_import_one_document"] = _full_import(fleet[0].document(0))
    t0 = time.perf_counter()
    store_s = 0.0
    with Store(db, keep_observations=None) as store:
        for n in range(nights):
            for site in fleet:
                if n:
                    site.night(n)
                doc = site.document(n)
                t = time.perf_counter()
                store.import_document(doc)
                store_s += time.perf_counter() - t
            if n == 0:
                store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                result["after_first_night"] = {"file_bytes": db.stat().st_size}
            if progress and (n % 10 == 9 or n == nights - 1):
                size = db.stat().st_size + Path(f"{db}-wal").stat().st_size if Path(f"{db}-wal").exists() else 0
                print(f"night {n + 1}/{nights}: {size / MB:.0f} MB, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)
            if n == 0:
                result["estate_report_first_night"] = _render(db)
    result["simulate_s"] = round(time.perf_counter() - t0, 1)
    result["store_import_s_per_document"] = round(store_s / (sites * nights), 3)
    result["database"] = _db_size(db)
    result["estate_report_end"] = _render(db)
    size = result["database"]["file_bytes"]
    first = result["after_first_night"]["file_bytes"]
    result["bytes_per_device_night"] = round(size / (sites * devices * nights), 1)
    # linear in sites and devices: the first night (every state once), then the nightly growth
    per_site_night = (size - first) / (sites * max(1, nights - 1))
    extrapolated = first * (50 * 1000) / (sites * devices) + per_site_night * (1000 / devices) * 50 * 364
    result["extrapolated_50x1000x365_bytes"] = int(extrapolated)
    result["within_size_budget"] = (size if (sites, devices, nights) == (50, 1000, 365) else extrapolated) \
        <= SIZE_BUDGET
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--db", type=Path, help="where to write the database (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="camaudit-estate-bench-") as tmp:
        db = args.db or Path(tmp) / "estate.db"
        if db.exists():
            parser.error(f"{db} exists; name a new file")
        result = run(args.sites, args.devices, args.nights, db, args.seed, progress=not args.json)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    d = result["database"]
    print(f"{args.sites} sites x {args.devices} devices x {args.nights} nights: {d['scans']} scans")
    print(f"database: {d['file_bytes'] / GB:.2f} GB ({result['bytes_per_device_night']} bytes per device-night); "
          f"{d['device_states']} states, {d['state_findings']} state findings, {d['sightings']} sightings")
    print(f"  50 x 1000 x 365 extrapolated: {result['extrapolated_50x1000x365_bytes'] / GB:.2f} GB "
          f"(budget 5 GB: {'ok' if result['within_size_budget'] else 'OVER'})")
    for label in ("estate_report_first_night", "estate_report_end"):
        r = result[label]
        print(f"{label}: {r['total_s']} s (build {r['build_s']} s, render {r['render_s']} s), "
              f"{r['html_bytes'] / MB:.1f} MB, {r['covered_devices']} covered devices "
              f"({'ok' if r['within_budget'] else 'OVER'})")
    fi = result["full_import_one_document"]
    print(f"camaudit import of one {fi['devices']}-device document ({fi['document_bytes'] / MB:.1f} MB): "
          f"{fi['import_s']} s; the same file again: {fi['reimport_same_file_s']} s; "
          f"store path alone: {result['store_import_s_per_document']} s per document")
    return 0


if __name__ == "__main__":
    sys.exit(main())
