"""Turn a scan document (docs/json-schema.md) into what the HTML templates show.

Pure functions, no I/O: the normalised document keeps every field the schema names (missing
optional ones filled with empty values) so templates can run under ``StrictUndefined``;
everything the templates would otherwise compute — the verdict, counts, grouping, the chart's
geometry — is computed here, where it is tested directly.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..errors import OperatorError
from ..models import SEVERITIES
from ..ordering import ip_sort_key
from .charts import LineChart, as_points, line_chart

SUPPORTED_SCHEMA = 1
BLOCKING = ("critical", "high")
"""An unwaived finding at one of these severities makes the scan not compliant."""

_SCAN_DEFAULTS: dict[str, Any] = {
    "id": None, "status": "complete", "started_at": None, "finished_at": None, "duration_s": None,
    "site": None, "targets": [], "excludes": [], "interface": None, "operator": None, "host": None,
    "probes": [], "rules": [], "tool_version": None, "kb_version": None, "stats": {}, "kind": "scan",
    "source": None,
}
_STATS_DEFAULTS: dict[str, Any] = {
    "addresses": None, "hosts_probed": None, "devices": None, "deadline_hit": False, "warnings": None,
    "probe_seconds": {}, "probe_errors": [], "limits": {}, "plan": {}, "sent": {}, "recheck": {},
    "backed_off": [], "degraded": None, "kev_catalog": None, "default_credentials_check": False,
}
_DEVICE_DEFAULTS: dict[str, Any] = {
    "id": "", "ip": "", "ips": [], "mac": None, "maker": None, "brand": None, "relation": None,
    "relation_text": None, "device_class": "unknown", "model": None, "firmware": None, "serial": None,
    "covered": False, "covered_basis": None, "confidence": "low", "evidence": [], "conflicts": [],
    "open_ports": [], "facts": {}, "warnings": [], "finding_count": 0, "behind": None, "channel": None,
}
_EVIDENCE_DEFAULTS: dict[str, Any] = {"probe": "", "field": "", "value": "", "supports": None,
                                      "strength": "medium", "note": ""}
_FINDING_DEFAULTS: dict[str, Any] = {
    "rule": "", "title": "", "severity": "info", "device_id": "", "ip": "", "mac": None, "message": "",
    "remediation": "", "references": [], "evidence": [], "waived": False, "waiver": None,
}
_WAIVER_DEFAULTS: dict[str, Any] = {"device": "", "rule": "", "reason": "", "owner": "", "ticket": "",
                                    "expires": "", "state": "active", "matched": True}
_FINDING_WAIVER_DEFAULTS: dict[str, Any] = {"reason": "", "owner": "", "ticket": "", "expires": "",
                                            "state": "active"}
_WARNING_DEFAULTS: dict[str, Any] = {"ip": "", "probe": "", "message": ""}
_CHANGES_DEFAULTS: dict[str, Any] = {"previous_scan_id": None, "new_devices": [], "gone_devices": [],
                                     "changed_devices": [], "new_findings": [], "resolved_findings": []}
_BRIEF_DEFAULTS: dict[str, Any] = {"id": "", "ip": "", "maker": None, "model": None, "behind": None}
_CHANGED_DEFAULTS: dict[str, Any] = {"id": "", "ip": "", "changes": {}}
_FREF_DEFAULTS: dict[str, Any] = {"rule": "", "device_id": "", "ip": ""}


def _fill(item: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    if isinstance(item, dict):
        out.update(item)
    return out


def _pair(value: Any) -> list[Any]:
    """An (old, new) change as a two-item list whatever shape it arrived in."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return list(value)
    return [None, value]


def normalize(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``doc`` with every schema field present; refuses other schema versions."""
    if not isinstance(doc, dict):
        raise OperatorError("scan document is not a JSON object")
    version = doc.get("schema_version")
    if version != SUPPORTED_SCHEMA:
        raise OperatorError(f"scan document has schema_version {version!r}; this camaudit renders "
                            f"version {SUPPORTED_SCHEMA}")
    out = copy.deepcopy(doc)
    out.setdefault("generated_at", None)
    scan = _fill(doc.get("scan"), _SCAN_DEFAULTS)
    scan["stats"] = _fill(scan.get("stats"), _STATS_DEFAULTS)
    scan["rules"] = [_fill(r, {"path": "", "sha256": ""}) for r in scan["rules"] or []]
    out["scan"] = scan
    devices = []
    for d in doc.get("devices") or []:
        dev = _fill(d, _DEVICE_DEFAULTS)
        dev["evidence"] = [_fill(e, _EVIDENCE_DEFAULTS) for e in dev["evidence"] or []]
        devices.append(dev)
    out["devices"] = devices
    findings = []
    for f in doc.get("findings") or []:
        fin = _fill(f, _FINDING_DEFAULTS)
        if fin["waiver"] is not None:
            fin["waiver"] = _fill(fin["waiver"], _FINDING_WAIVER_DEFAULTS)
        if fin["severity"] not in SEVERITIES:
            fin["severity"] = "info"
        findings.append(fin)
    out["findings"] = findings
    out["waivers"] = [_fill(w, _WAIVER_DEFAULTS) for w in doc.get("waivers") or []]
    out["warnings"] = [_fill(w, _WARNING_DEFAULTS) for w in doc.get("warnings") or []]
    changes = doc.get("changes")
    if changes is not None:
        ch = _fill(changes, _CHANGES_DEFAULTS)
        ch["new_devices"] = [_fill(x, _BRIEF_DEFAULTS) for x in ch["new_devices"] or []]
        ch["gone_devices"] = [_fill(x, _BRIEF_DEFAULTS) for x in ch["gone_devices"] or []]
        ch["changed_devices"] = [_fill(x, _CHANGED_DEFAULTS) for x in ch["changed_devices"] or []]
        for x in ch["changed_devices"]:
            pairs = x["changes"] if isinstance(x["changes"], dict) else {}
            x["changes"] = {str(k): _pair(v) for k, v in pairs.items()}
        ch["new_findings"] = [_fill(x, _FREF_DEFAULTS) for x in ch["new_findings"] or []]
        ch["resolved_findings"] = [_fill(x, _FREF_DEFAULTS) for x in ch["resolved_findings"] or []]
        out["changes"] = ch
    else:
        out["changes"] = None
    return out


@dataclass(frozen=True)
class Verdict:
    compliant: bool
    blocking_findings: int
    """Unwaived critical/high findings."""
    blocking_devices: int
    """Devices carrying at least one of them."""
    caveat: str | None = None
    """Why the verdict may not tell the whole story (interrupted scan, deadline hit)."""

    @property
    def label(self) -> str:
        return "Compliant" if self.compliant else "Not compliant"

    @property
    def key(self) -> str:
        return "compliant" if self.compliant else "noncompliant"


def verdict(doc: dict[str, Any]) -> Verdict:
    """Not compliant when any unwaived critical or high finding exists; else compliant."""
    blocking = [f for f in doc["findings"] if f["severity"] in BLOCKING and not f["waived"]]
    scan = doc["scan"]
    caveat = None
    if scan["status"] == "degraded":
        caveat = (f"The scan is degraded: {scan['stats'].get('degraded', 'a discovery probe heard nothing')}. "
                  "Devices only that probe finds may be missing from this report.")
    elif scan["status"] != "complete":
        caveat = f"The scan is {scan['status']}: devices it did not reach are not in this report."
    elif scan["stats"].get("deadline_hit"):
        caveat = "The scan hit its deadline: some hosts may not have been probed completely."
    return Verdict(compliant=not blocking, blocking_findings=len(blocking),
                   blocking_devices=len({f["device_id"] for f in blocking}), caveat=caveat)


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    total: int
    waived: int

    @property
    def open(self) -> int:
        return self.total - self.waived


def severity_segments(counts: list[SeverityCount]) -> list[dict[str, Any]]:
    """Stacked-bar segments (x and width in percent) of all findings by severity."""
    total = sum(c.total for c in counts)
    out, x = [], 0.0
    for c in counts:
        if c.total:
            width = 100.0 * c.total / total
            out.append({"severity": c.severity, "x": round(x, 2), "width": round(width, 2)})
            x += width
    return out


def severity_counts(doc: dict[str, Any]) -> list[SeverityCount]:
    total = Counter(f["severity"] for f in doc["findings"])
    waived = Counter(f["severity"] for f in doc["findings"] if f["waived"])
    return [SeverityCount(s, total[s], waived[s]) for s in SEVERITIES]


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    kind: str
    """covered | clear | unknown: drives colour and the text label beside the bar."""
    y: float
    width: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    plot_width: int
    bar_height: int
    ticks: list[tuple[float, int]] = field(default_factory=list)


UNKNOWN_MAKER = "Unknown maker"
LONG_LIST = 25
"""A rule with more affected devices than this shows its device list collapsed."""


def maker_chart(doc: dict[str, Any], *, max_bars: int = 12) -> Chart:
    """Horizontal bar chart of devices per maker, largest first; the tail folds into 'Other makers'.

    Covered makers and "Unknown maker" always keep their own bars (in a blue "Other makers"
    bar a covered maker would vanish from the chart a reader looks at first): only makers
    neither covered nor unknown fold."""
    counts: Counter[str] = Counter()
    covered: set[str] = set()
    for d in doc["devices"]:
        name = d["maker"] or UNKNOWN_MAKER
        counts[name] += 1
        if d["covered"]:
            covered.add(name)
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] == UNKNOWN_MAKER, -kv[1], kv[0].lower()))
    if len(ordered) > max_bars:
        keep = [kv for kv in ordered if kv[0] in covered or kv[0] == UNKNOWN_MAKER]
        clear = [kv for kv in ordered if kv not in keep]
        room = max(0, max_bars - 1 - len(keep))
        tail = clear[room:]
        ordered = sorted([*keep, *clear[:room]], key=lambda kv: (kv[0] == UNKNOWN_MAKER, -kv[1], kv[0].lower()))
        if tail:
            unknown = [kv for kv in ordered if kv[0] == UNKNOWN_MAKER]
            ordered = [kv for kv in ordered if kv[0] != UNKNOWN_MAKER]
            ordered += [("Other makers", sum(c for _, c in tail)), *unknown]
    label_width, plot_width, bar_height, gap, top = 190, 330, 22, 10, 6
    peak = max((c for _, c in ordered), default=1) or 1
    bars = []
    for i, (name, count) in enumerate(ordered):
        kind = "covered" if name in covered else ("unknown" if name == UNKNOWN_MAKER else "clear")
        bars.append(Bar(label=name, count=count, kind=kind, y=top + i * (bar_height + gap),
                        width=round(max(2.0, plot_width * count / peak), 1)))
    height = top + max(1, len(ordered)) * (bar_height + gap) + 18
    step = _nice_step(peak)
    ticks = [(round(plot_width * v / peak, 1), v) for v in range(0, peak + 1, step)]
    return Chart(bars=bars, width=label_width + plot_width + 120, height=height, label_width=label_width,
                 plot_width=plot_width, bar_height=bar_height, ticks=ticks)


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if peak / step <= 5:
            return step
    return max(1, peak // 5)


@dataclass(frozen=True)
class RuleGroup:
    rule: str
    title: str
    severity: str
    findings: list[dict[str, Any]]
    remediations: list[str]
    references: list[str]

    @property
    def waived(self) -> int:
        return sum(1 for f in self.findings if f["waived"])

    @property
    def open(self) -> int:
        return len(self.findings) - self.waived


def group_by_rule(doc: dict[str, Any]) -> list[RuleGroup]:
    """Findings grouped per rule, most severe rule first, devices by IP within a rule."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        groups.setdefault(f["rule"], []).append(f)
    out = []
    for rule, items in groups.items():
        items = sorted(items, key=lambda f: ip_sort_key(f["ip"]))
        sev = min((f["severity"] for f in items), key=SEVERITIES.index)
        out.append(RuleGroup(rule=rule, title=items[0]["title"] or rule, severity=sev, findings=items,
                             remediations=_unique(f["remediation"] for f in items),
                             references=_unique(r for f in items for r in f["references"])))
    out.sort(key=lambda g: (SEVERITIES.index(g.severity), -g.open, g.rule))
    return out


def _unique(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(str(v), None)
    return list(seen)


def ip_sort_text(ip: str) -> str:
    """:func:`~auditor.ordering.ip_sort_key` as text that sorts the same way (the table sort's ``data-v``)."""
    version, number, text = ip_sort_key(ip)
    return "z" + text if text or version == 9 else f"{version}{number:039d}"


def device_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Devices with what the inventory shows beside them: their findings and worst severity. Cameras
    behind a recorder come right after it (``recorder``: its row's device; ``cameras``: on the
    recorder's row, the cameras behind it); a camera whose recorder is not in the document stays
    where it was."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for f in doc["findings"]:
        by_device.setdefault(f["device_id"], []).append(f)
    index = {d["id"]: d for d in doc["devices"]}
    behind: dict[str, list[dict[str, Any]]] = {}
    for d in doc["devices"]:
        if d.get("behind") in index and d["behind"] != d["id"]:
            behind.setdefault(d["behind"], []).append(d)
    ordered: list[dict[str, Any]] = []
    for d in doc["devices"]:
        if d.get("behind") in index and d["behind"] != d["id"]:
            continue
        ordered.append(d)
        ordered += sorted(behind.get(d["id"], []), key=lambda c: (c.get("channel") or 0, c["id"]))
    rows = []
    for d in ordered:
        fs = by_device.get(d["id"], [])
        open_sevs = [f["severity"] for f in fs if not f["waived"]]
        worst = min(open_sevs, key=SEVERITIES.index) if open_sevs else None
        recorder = index.get(d["behind"]) if d.get("behind") else None
        rows.append({"d": d, "findings": fs, "worst": worst,
                     "sevs": " ".join(sorted({f["severity"] for f in fs}, key=SEVERITIES.index)) or "none",
                     "count": len(fs), "ip_key": ip_sort_text((recorder or d)["ip"]),
                     "sev_rank": SEVERITIES.index(worst) if worst else len(SEVERITIES),
                     "recorder": recorder, "cameras": behind.get(d["id"], [])})
    return rows


@dataclass(frozen=True)
class Recorders:
    """What the summary says of recorders and the cameras behind them."""

    recorders: int
    cameras_behind: int
    covered_behind: int
    not_enumerated: list[dict[str, Any]]
    """Recorders whose channel list could not be read (their cameras are not in this report)."""


def recorders(doc: dict[str, Any]) -> Recorders:
    devices = doc["devices"]
    cams = [d for d in devices if d.get("behind")]
    recs = [d for d in devices if d["device_class"] == "recorder" and not d.get("behind")]
    missing = [d for d in recs if (d.get("facts") or {}).get("channels_enumerated") is False]
    return Recorders(len(recs), len(cams), sum(1 for d in cams if d["covered"]), missing)


def waivers_by_state(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"active": [], "expiring": [], "expired": []}
    for w in doc["waivers"]:
        out.setdefault(w["state"], []).append(w)
    for items in out.values():
        items.sort(key=lambda w: (str(w["expires"]), str(w["device"])))
    return out


def days_until(expires: str, generated_at: str | None) -> int | None:
    """Days from the document's date to a waiver's expiry (None when either is unreadable)."""
    try:
        end = date.fromisoformat(str(expires)[:10])
        ref = datetime.fromisoformat(str(generated_at).replace("Z", "+00:00")).date()
    except ValueError:
        return None
    return (end - ref).days


@dataclass(frozen=True)
class Limits:
    """What the scan could not see, for the method-and-limits section."""

    no_mac: list[dict[str, Any]]
    unknown_maker: list[dict[str, Any]]
    low_confidence: list[dict[str, Any]]
    conflicted: list[dict[str, Any]]
    warning_hosts: list[tuple[str, list[dict[str, Any]]]]
    unmatched_waivers: list[dict[str, Any]]


def limits(doc: dict[str, Any]) -> Limits:
    hosts: dict[str, list[dict[str, Any]]] = {}
    for w in doc["warnings"]:
        hosts.setdefault(w["ip"], []).append(w)
    devs = doc["devices"]
    return Limits(
        no_mac=[d for d in devs if not d["mac"] and not d.get("behind")],
        unknown_maker=[d for d in devs if not d["maker"]],
        low_confidence=[d for d in devs if d["confidence"] == "low"],
        conflicted=[d for d in devs if d["conflicts"]],
        warning_hosts=sorted(hosts.items(), key=lambda kv: ip_sort_key(kv[0])),
        unmatched_waivers=[w for w in doc["waivers"] if not w["matched"]],
    )


@dataclass(frozen=True)
class Safety:
    """How hard the scan hit the network and each device, and the proof it harmed none."""

    pacing: str | None
    """The limits in force, for people; None for scans recorded before pacing was reported."""
    sent: str | None
    rechecked: int | None
    """Devices re-checked at the end (None: no re-check recorded)."""
    answered: int
    dark: list[str]
    """Addresses that did not answer the re-check."""
    service_silent: list[str]
    """Addresses that answered only an ARP request at the re-check, not the question they had answered."""
    skipped: str | None
    not_possible: int
    backed_off: list[dict[str, Any]]


def _count(n: Any, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def safety(doc: dict[str, Any]) -> Safety:
    st = doc["scan"]["stats"]
    lim = st.get("limits") or {}
    pacing = None
    if lim:
        conns = lim.get("host_connections")
        over = lim.get("overrides") or []
        explicit = f" ({', '.join(o.replace('_', '-') for o in over)} set)" if over else ""
        pacing = (f"profile {lim.get('profile', '?')}{explicit}: {lim.get('rate', 0):g}/s overall; "
                  f"per device at most {_count(conns, 'connection')} at once and "
                  f"{lim.get('host_rate', 0):g} new connections or requests per second")
    sent_d = st.get("sent") or {}
    sent = ", ".join(_count(sent_d[k], k[:-1]) for k in ("connections", "requests", "datagrams")
                     if sent_d.get(k)) or None
    rc = st.get("recheck") or {}
    return Safety(pacing=pacing, sent=sent, rechecked=rc.get("checked") if rc else None,
                  answered=int(rc.get("answered") or 0), dark=list(rc.get("silent") or []),
                  service_silent=list(rc.get("service_silent") or []),
                  skipped=rc.get("skipped"), not_possible=int(rc.get("not_possible") or 0),
                  backed_off=[b for b in st.get("backed_off") or [] if isinstance(b, dict)])


def trend_chart(doc: dict[str, Any]) -> LineChart:
    """The site's recent scans (the document's ``history``): covered devices and open critical +
    high findings per complete scan (and this scan, whatever its status)."""
    this = doc["scan"]["id"]
    entries = [h for h in doc.get("history") or []
               if isinstance(h, dict) and (h.get("status") == "complete" or h.get("scan_id") == this)]
    blocking = [{"started_at": h.get("started_at"),
                 "v": sum(int((h.get("open") or {}).get(s) or 0) for s in BLOCKING)} for h in entries]
    return line_chart([("Covered devices", "covered", as_points(entries, "covered")),
                       ("Open critical and high findings", "open", as_points(blocking, "v"))],
                      width=900, height=220)


def build_view(doc: dict[str, Any], *, site: str | None = None) -> dict[str, Any]:
    """Everything report.html needs, from a raw scan document."""
    d = normalize(doc)
    devices = d["devices"]
    classes = Counter(x["device_class"] for x in devices)
    makers = sorted({x["maker"] or UNKNOWN_MAKER for x in devices},
                    key=lambda m: (m == UNKNOWN_MAKER, m.lower()))
    covered = [x for x in devices if x["covered"]]
    sevs = severity_counts(d)
    # A covered device is "under a waiver" when a waiver keeps a blocking finding (the covered-maker
    # one) out of the verdict, not when some unrelated medium finding on it is waived.
    waived_ids = {f["device_id"] for f in d["findings"] if f["waived"] and f["severity"] in BLOCKING}
    return {
        "doc": d,
        "scan": d["scan"],
        "site": site or d["scan"]["site"],
        "verdict": verdict(d),
        "severities": sevs,
        "sev_segments": severity_segments(sevs),
        "severity_names": SEVERITIES,
        "chart": maker_chart(d),
        "groups": group_by_rule(d),
        "devices": device_rows(d),
        "recorders": recorders(d),
        "device_index": {x["id"]: x for x in devices},
        "makers": makers,
        "classes": {c: classes.get(c, 0) for c in ("camera", "recorder", "other", "unknown")},
        "covered_count": len(covered),
        "covered_waived": sum(1 for x in covered if x["id"] in waived_ids),
        "waivers": waivers_by_state(d),
        "limits": limits(d),
        "safety": safety(d),
        "changes": d["changes"],
        "trend": trend_chart(d),
        "trend_scans": len([h for h in d.get("history") or [] if isinstance(h, dict)]),
        "unknown_maker": UNKNOWN_MAKER,
        "long_list": LONG_LIST,
    }
