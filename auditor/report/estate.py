"""The estate report: one self-contained HTML file for every site of a database.

Rendered from the estate document (``auditor.estate.build_estate``) with the same
environment, stylesheet, script and Content-Security-Policy as the site report: autoescaped,
nothing loaded from anywhere, readable without JavaScript. ``build_estate_view`` computes
everything the templates show (pure, tested directly).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import OperatorError
from ..models import SEVERITIES
from ..ordering import ip_sort_key
from .charts import PALETTE, as_points, line_chart, sparkline
from .templates import inline_asset, make_environment

ESTATE_TEMPLATE = "estate.html"
SUPPORTED_ESTATE = 1
NO_SITE = "(no site named)"


def _label(site: str | None) -> str:
    return site or NO_SITE


EVIDENCE_SHOWN = 3
"""Evidence items shown per covered device: the strongest for its maker. The estate lists every
covered device of every site (12,500 at 50 sites × 1,000 devices with a quarter covered), so each
keeps to about a kilobyte; the site report has the whole chain."""


def _maker_evidence(device: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """The strongest evidence items for the device's maker (why it is covered), how many items
    support the maker in all, and how many the device has in all."""
    order = {"strong": 0, "medium": 1, "weak": 2}
    evidence = [e for e in device.get("evidence") or [] if isinstance(e, dict)]
    mine = [e for e in evidence if e.get("supports") and e.get("supports") == device.get("maker")]
    mine.sort(key=lambda e: order.get(str(e.get("strength")), 3))
    return mine[:EVIDENCE_SHOWN], len(mine), len(evidence)


def ip_key(ip: str) -> str:
    """A short text key that sorts addresses numerically (IPv4 before IPv6, junk last)."""
    version, number, text = ip_sort_key(ip)
    if text or version == 9:
        return "z" + text
    return f"{version}{number:010d}" if version == 4 else f"{version}{number:039d}"


def build_estate_view(estate: dict[str, Any]) -> dict[str, Any]:
    """Everything estate.html needs, from an estate document."""
    version = estate.get("estate_version") if isinstance(estate, dict) else None
    if version != SUPPORTED_ESTATE:
        raise OperatorError(f"estate document version {version!r} is not {SUPPORTED_ESTATE}")
    sites = estate["sites"]
    series: list[tuple[str, str, Any]] = [("Whole estate", "total", as_points(
        [{"started_at": t, "v": v} for t, v in estate["trend"]], "v"))]
    rows = []
    for i, s in enumerate(sites):
        points = as_points([{"started_at": t, "v": v} for t, v in s["trend"]], "v")
        series.append((_label(s["site"]), "site", points))
        first = s.get("covered_first")
        rows.append({
            "s": s,
            "name": _label(s["site"]),
            "color": PALETTE[i % len(PALETTE)] if points else None,
            "spark": sparkline(points),
            "removed": (first - s["covered"]) if first is not None else None,
            "blocking": s["open"]["critical"] + s["open"]["high"],
        })
    chart = line_chart(series, width=900, height=280)
    devices = sorted(estate["covered_devices"], key=lambda d: (_label(d.get("site")).casefold(),
                                                               ip_sort_key(str(d.get("ip")))))
    device_rows = []
    for d in devices:
        shown, for_maker, total = _maker_evidence(d)
        brand = d.get("brand")
        device_rows.append({
            # flat and pre-formatted: the template prints thousands of these rows
            "site": _label(d.get("site")), "ip": d.get("ip"), "ip_key": ip_key(str(d.get("ip"))),
            "mac": d.get("mac") or "—", "maker": d.get("maker") or "—",
            "brand": brand if brand and brand != d.get("maker") else None,
            "oem": d.get("relation") == "OEM relabel", "model": d.get("model") or "—",
            "firmware": d.get("firmware") or "—", "first_seen": (d.get("first_seen") or "")[:10] or "—",
            "confidence": d.get("confidence"), "basis": d.get("covered_basis") or "—", "scan_id": d.get("scan_id"),
            "evidence": [(e.get("probe"), e.get("field"), e.get("value"), e.get("strength"), e.get("note"))
                         for e in shown],
            "for_maker": for_maker, "more": total - len(shown),
        })
    totals = estate["totals"]
    firsts = [s for s in sites if s.get("covered_first") is not None]
    return {
        "estate": estate,
        "sites": rows,
        "totals": totals,
        "removed_total": sum(s["covered_first"] - s["covered"] for s in firsts) if firsts else None,
        "first_covered": sum(s["covered_first"] for s in firsts),
        "trend_from": min((s["trend"][0][0] for s in firsts if s["trend"]), default=None),
        "chart": chart,
        "covered": device_rows,
        "site_names": [r["name"] for r in rows],
        "waivers": estate["waivers"],
        "severity_names": SEVERITIES,
        "stale_days": estate["stale_after_days"],
    }


def render_estate_html(estate: dict[str, Any], *, template_dirs: Sequence[Path] = ()) -> str:
    """The estate report: same CSP, stylesheet and script as the site report."""
    env = make_environment(template_dirs)
    css, css_hash = inline_asset(env, "_style.css")
    js, js_hash = inline_asset(env, "_script.js")
    csp = (f"default-src 'none'; style-src {css_hash}; script-src {js_hash}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    view = build_estate_view(estate)
    return env.get_template(ESTATE_TEMPLATE).render(**view, css=css, js=js, csp=csp, tool_version=__version__)
