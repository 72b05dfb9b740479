"""The estate: every site of a (central) database in one document.

``build_estate(store)`` answers the security lead's questions — how many covered devices
are left, where, and are they going on schedule — from the scans rows' counts (no sighting
is re-read for the overview or the trend) and from each site's latest complete scan (the
covered devices with their evidence, the waivers). ``report --estate`` renders it as one
HTML file (``auditor.report.estate``) or writes it as JSON; docs/report.md describes both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .document import iso
from .models import SEVERITIES
from .store import Store

ESTATE_VERSION = 1
DEFAULT_STALE_DAYS = 3.0
"""A site whose last complete audit finished longer ago than this is stale (nightly audits: 3 missed nights)."""
EXPIRING_DAYS = 30
_DAY = 86400.0


def _scan_brief(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row["id"], "status": row["status"], "kind": row.get("kind") or "scan",
            "started_at": iso(row["started_at"]), "finished_at": iso(row["finished_at"])}


def _counts(row: Mapping[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    return {
        "devices": int(row.get("device_count") or 0),
        "cameras": int(row.get("camera_count") or 0),
        "recorders": int(row.get("recorder_count") or 0),
        "covered": int(row.get("covered_count") or 0),
        "unknown_maker": int(row.get("unknown_maker_count") or 0),
        "open": {s: int(row.get(f"open_{s}") or 0) for s in SEVERITIES},
        "waived": int(row.get("waived_count") or 0),
    }


DAILY_AFTER_DAYS = 7.0
"""A trend longer than this is drawn a point per day (a year of 50 sites: 365 points, not 18,250)."""


def _total_trend(per_site: Mapping[str, list[tuple[float, int]]]) -> list[list[Any]]:
    """Covered devices in the whole estate after each complete audit, each site counted with its
    latest complete audit so far (carried forward between audits); at the end of each UTC day
    instead when the history is longer than ``DAILY_AFTER_DAYS``."""
    events = sorted((t, site, v) for site, points in per_site.items() for t, v in points)
    if not events:
        return []
    daily = events[-1][0] - events[0][0] > DAILY_AFTER_DAYS * _DAY
    current: dict[str, int] = {}
    out: list[list[Any]] = []
    for t, site, value in events:
        current[site] = value
        stamp = time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(t)) if daily else iso(t)
        total = sum(current.values())
        if out and out[-1][0] == stamp:
            out[-1][1] = total
        else:
            out.append([stamp, total])
    return out


def build_estate(store: Store, *, now: float | None = None, stale_days: float = DEFAULT_STALE_DAYS,
                 with_devices: bool = True) -> dict[str, Any]:
    """The estate document (docs/report.md, 'The estate report')."""
    now = time.time() if now is None else now
    summaries = store.scan_summaries()
    by_site: dict[str, list[dict[str, Any]]] = {}
    for row in summaries:
        by_site.setdefault(row["site"] or "", []).append(row)
    sites = []
    trend_by_site: dict[str, list[tuple[float, int]]] = {}
    covered_devices: list[dict[str, Any]] = []
    waivers: list[dict[str, Any]] = []
    for name in sorted(by_site, key=str.casefold):
        rows = by_site[name]
        complete = [r for r in rows if r["status"] == "complete"]
        # A network audit is the truth about a site; an inventory file classified there (kind import)
        # stands in only while the site has no complete network audit, and never makes it fresh.
        audits = [r for r in complete if (r.get("kind") or "scan") == "scan"]
        complete = audits or complete
        last = rows[-1]
        last_complete = complete[-1] if complete else None
        finished = None if not audits else (audits[-1]["finished_at"] or audits[-1]["started_at"])
        age = None if finished is None else round((now - finished) / _DAY, 2)
        points = [(r["started_at"], int(r["covered_count"])) for r in complete]
        trend_by_site[name] = points
        sites.append({
            "site": name or None,
            "scans": len(rows),
            "last_scan": _scan_brief(last),
            "last_complete": _scan_brief(last_complete),
            "age_days": age,
            "stale": age is None or age > stale_days,
            **_counts(last_complete),
            "covered_first": points[0][1] if points else None,
            "trend": [[iso(t), v] for t, v in points],
        })
        if last_complete is not None and with_devices:
            covered_devices.extend({"site": name or None, "scan_id": last_complete["id"], **d}
                                   for d in store.covered_devices(last_complete["id"]))
        if last_complete is not None:
            for w in store.waivers(last_complete["id"]):
                days = _days_left(w.get("expires"), now)
                if w.get("state") in ("expiring", "expired") or (days is not None and days <= EXPIRING_DAYS):
                    waivers.append({"site": name or None, "scan_id": last_complete["id"], **w, "days_left": days})
    waivers.sort(key=lambda w: (w["days_left"] if w["days_left"] is not None else 10**6, str(w["site"] or "")))
    totals = {"sites": len(sites), "stale_sites": sum(1 for s in sites if s["stale"]),
              **{k: sum(s[k] for s in sites) for k in ("devices", "cameras", "recorders", "covered", "unknown_maker",
                                                       "waived")},
              "open": {sev: sum(s["open"][sev] for s in sites) for sev in SEVERITIES}}
    return {
        "estate_version": ESTATE_VERSION,
        "generated_at": iso(now),
        "stale_after_days": stale_days,
        "sites": sites,
        "totals": totals,
        "trend": _total_trend(trend_by_site),
        "covered_devices": covered_devices,
        "waivers": waivers,
    }


def _days_left(expires: Any, now: float) -> int | None:
    from datetime import UTC, date, datetime

    try:
        end = date.fromisoformat(str(expires)[:10])
    except ValueError:
        return None
    return (end - datetime.fromtimestamp(now, tz=UTC).date()).days
