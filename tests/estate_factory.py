"""A central database of several sites over several nights, for the estate tests (not a test module).

Each site is audited nightly by its own scanner; its documents are imported, as the central
host does. One site removes covered cameras as the nights go by, one has a hostile name and
device strings, one stopped auditing (stale), one names waivers that expire soon.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from store_factory import T0, device, finding, meta

from auditor.models import Waiver
from auditor.store import Store

DAY = 86400.0
HOSTILE_SITE = '<script>alert("site")</script> & Co'


def _audit(store: Store, site: str, started: float, devices: list[Any], findings: list[Any],
           waivers: list[dict[str, Any]] | None = None, status: str = "complete") -> int:
    scan_id = store.begin_scan(meta(site=site, started_at=started))
    store.record_results(scan_id, devices, {}, findings)
    if waivers:
        store.add_waivers(scan_id, waivers)
    store.finish_scan(scan_id, status, {"devices": len(devices)})
    store.db.execute("UPDATE scans SET finished_at = ? WHERE id = ?", [started + 600, scan_id])
    return scan_id


def _fleet(prefix: str, covered: int, clear: int, *, hostile: bool = False) -> list[Any]:
    out = []
    for i in range(covered):
        dev = device(f"{prefix}.{10 + i}", f"c0:56:e3:00:{i // 256:02x}:{i % 256:02x}", serial=f"SN{prefix}{i}",
                     brand="LTS" if i % 3 == 0 else None)
        if hostile and i == 0:
            dev = dataclasses.replace(dev, identity=dataclasses.replace(
                dev.identity, model='"><img src=x onerror=alert(1)>', firmware="{{ 7*7 }}"))
        out.append(dev)
    out.extend(device(f"{prefix}.{100 + i}", f"00:40:8c:00:{i // 256:02x}:{i % 256:02x}", maker="Axis",
                      covered=False, model="P3245") for i in range(clear))
    return out


def build_estate_db(path: Path, *, nights: int = 5, now: float | None = None,
                    waiver_expires: str = "2026-10-01") -> dict[str, Any]:
    """Write the database; returns what the tests should find in the estate."""
    now = T0 + nights * DAY if now is None else now
    with Store(path) as store:
        for night in range(nights):
            start = now - (nights - night) * DAY + 3600
            # HQ removes one covered camera each night: 4, 3, 2, …
            hq = _fleet("10.1.0", max(0, 4 - night), 3)
            _audit(store, "HQ", start, hq, [finding(d) for d in hq if d.identity.covered])
            # The annex has overlapping addresses with HQ and an expiring waiver on its covered camera.
            annex = _fleet("10.1.0", 2, 2, hostile=True)
            waiver = Waiver(device=annex[0].mac or "", rule="ndaa-889.covered-maker", reason="replacement ordered",
                            owner="facilities", ticket="CHG-1", expires=waiver_expires)
            annex_findings = [finding(annex[0], waiver=waiver, state="expiring"), finding(annex[1])]
            _audit(store, HOSTILE_SITE, start + 60, annex, annex_findings,
                   [{"waiver": waiver, "state": "expiring", "matched": True, "source": "rules/annex.yaml:3"}])
            # The depot was audited on the first two nights only, then its scanner went quiet.
            if night < 2:
                depot = _fleet("192.168.5", 1, 1)
                _audit(store, "Depot", start + 120, depot, [finding(depot[0])])
        # an interrupted run at HQ on the last night never counts
        _audit(store, "HQ", now - 600, _fleet("10.1.0", 0, 1), [], status="interrupted")
    last_hq_covered = max(0, 4 - (nights - 1))
    return {"now": now, "sites": ["Depot", "HQ", HOSTILE_SITE], "stale": ["Depot"],
            "covered": last_hq_covered + 2 + 1, "hq_covered": last_hq_covered, "hq_first": 4}
