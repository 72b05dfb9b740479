"""The numbers and groupings the report shows, computed from scan documents."""

from __future__ import annotations

import copy

import pytest
from fixtures.report.make_doc import make_doc

from auditor.errors import OperatorError
from auditor.report.view import (
    UNKNOWN_MAKER,
    build_view,
    days_until,
    device_rows,
    group_by_rule,
    ip_sort_text,
    limits,
    maker_chart,
    normalize,
    severity_counts,
    verdict,
)


def test_noncompliant_verdict_counts_unwaived_critical_and_high() -> None:
    d = normalize(make_doc())
    v = verdict(d)
    assert not v.compliant and v.label == "Not compliant"
    # 7 covered-maker criticals, 2 waived (active + expiring) → 5; plus 2 unwaived KEV highs.
    assert v.blocking_findings == 7
    # .11 .13 .14 .30 .32.91 (critical) and .12 (high; its critical is waived) → 6 devices.
    assert v.blocking_devices == 6
    assert v.caveat is None


def test_compliant_when_only_waived_or_lower_severity_findings() -> None:
    d = normalize(make_doc(compliant=True))
    v = verdict(d)
    assert v.compliant and v.label == "Compliant"
    assert v.blocking_findings == 0
    assert any(f["severity"] == "critical" and f["waived"] for f in d["findings"])


def test_expired_waiver_does_not_make_a_finding_waived() -> None:
    doc = make_doc(compliant=True)
    expired = copy.deepcopy(next(f for f in doc["findings"] if f["waived"]))
    expired["waived"] = False
    expired["waiver"] = dict(expired["waiver"], state="expired")
    doc["findings"].append(expired)
    assert not verdict(normalize(doc)).compliant


def test_interrupted_scan_carries_a_caveat() -> None:
    v = verdict(normalize(make_doc(status="interrupted")))
    assert v.caveat and "interrupted" in v.caveat


def test_severity_counts() -> None:
    counts = {c.severity: (c.total, c.waived, c.open) for c in severity_counts(normalize(make_doc()))}
    assert counts == {"critical": (7, 2, 5), "high": (2, 0, 2), "medium": (1, 0, 1), "low": (2, 0, 2),
                      "info": (1, 0, 1)}


def test_findings_grouped_by_rule_most_severe_first() -> None:
    groups = group_by_rule(normalize(make_doc()))
    assert [g.rule for g in groups] == ["ndaa-889.covered-maker", "hardening.kev-firmware",
                                        "hardening.onvif-anonymous", "site.unknown-device",
                                        "hardening.http-cleartext"]
    covered = groups[0]
    assert len(covered.findings) == 7 and covered.waived == 2 and covered.open == 5
    assert "Pub. L. 115-232 §889(f)(3)(B)" in covered.references
    ips = [f["ip"] for f in covered.findings]
    assert ips == sorted(ips, key=ip_sort_text)


def test_ip_sort_text_is_numeric() -> None:
    assert ip_sort_text("198.18.0.9") < ip_sort_text("198.18.0.10") < ip_sort_text("198.18.32.1")
    assert ip_sort_text("not-an-ip") > ip_sort_text("255.255.255.255")


def test_maker_chart_largest_first_unknown_last_and_covered_marked() -> None:
    chart = maker_chart(normalize(make_doc()))
    labels = [(b.label, b.count, b.kind) for b in chart.bars]
    assert labels[0] == ("Hikvision", 5, "covered")
    assert labels[-1] == (UNKNOWN_MAKER, 3, "unknown")
    assert ("Axis Communications", 1, "clear") in labels
    widest = max(b.width for b in chart.bars)
    assert widest == chart.plot_width
    assert all(b.width > 0 for b in chart.bars)


def test_maker_chart_folds_the_long_tail() -> None:
    doc = make_doc()
    for i, dev in enumerate(doc["devices"]):
        dev["maker"] = f"Maker {i}"
        dev["covered"] = False
    chart = maker_chart(normalize(doc), max_bars=5)
    assert len(chart.bars) == 5
    assert chart.bars[-1].label == "Other makers" and chart.bars[-1].count == len(doc["devices"]) - 4


def test_maker_chart_never_folds_covered_makers_or_unknowns() -> None:
    doc = make_doc()
    template = doc["devices"][0]
    devices = []
    for i in range(20):  # 20 clear makers with 3 devices each, then small covered makers and unknowns
        devices += [dict(template, maker=f"Clear {i:02d}", covered=False) for _ in range(3)]
    devices += [dict(template, maker="Hikvision", covered=True), dict(template, maker="Dahua", covered=True)]
    devices += [dict(template, maker=None, covered=False)] * 2
    doc["devices"] = devices
    chart = maker_chart(normalize(doc), max_bars=12)
    labels = {b.label: (b.count, b.kind) for b in chart.bars}
    assert labels["Hikvision"] == (1, "covered") and labels["Dahua"] == (1, "covered")
    assert labels[UNKNOWN_MAKER] == (2, "unknown") and chart.bars[-1].label == UNKNOWN_MAKER
    assert chart.bars[-2].label == "Other makers" and chart.bars[-2].kind == "clear"
    assert sum(b.count for b in chart.bars) == len(devices) and len(chart.bars) == 12


def test_device_rows_worst_open_severity() -> None:
    rows = {r["d"]["ip"]: r for r in device_rows(normalize(make_doc()))}
    assert rows["198.18.0.12"]["worst"] == "high"  # its critical is waived
    assert rows["198.18.0.12"]["count"] == 2
    assert rows["198.18.0.15"]["worst"] is None and rows["198.18.0.15"]["count"] == 1
    assert rows["198.18.0.40"]["sevs"] == "none"


def test_limits_list_what_was_not_seen() -> None:
    lim = limits(normalize(make_doc()))
    assert {d["ip"] for d in lim.no_mac} == {"198.18.32.50", "198.18.32.91"}
    assert [ip for ip, _ in lim.warning_hosts] == ["198.18.0.90", "198.18.0.95", "198.18.0.96", "198.18.32.91"]
    assert len(lim.unmatched_waivers) == 1


def test_days_until() -> None:
    assert days_until("2026-12-10", "2026-11-28T10:41:07Z") == 12
    assert days_until("2026-09-30", "2026-11-28T10:41:07Z") == -59
    assert days_until("someday", "2026-11-28T10:41:07Z") is None


def test_normalize_fills_missing_optional_fields() -> None:
    doc = {"schema_version": 1, "scan": {"id": 1}, "devices": [{"id": "ip:1.2.3.4", "ip": "1.2.3.4"}],
           "findings": [{"rule": "r", "device_id": "ip:1.2.3.4", "severity": "bogus"}]}
    d = normalize(doc)
    assert d["devices"][0]["evidence"] == [] and d["devices"][0]["mac"] is None
    assert d["findings"][0]["severity"] == "info"
    assert d["changes"] is None and d["scan"]["stats"]["deadline_hit"] is False
    assert "evidence" not in doc["devices"][0]  # the input is not modified


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_other_schema_versions_are_refused(version: object) -> None:
    with pytest.raises(OperatorError, match="schema_version"):
        normalize({"schema_version": version})


def test_site_argument_overrides_document_site() -> None:
    assert build_view(make_doc(), site="HQ")["site"] == "HQ"
    assert build_view(make_doc())["site"].startswith("Demo facility")


def test_covered_devices_under_a_waiver_count_only_waived_blocking_findings() -> None:
    """A covered camera whose §889 finding is open is not 'under a waiver' because an unrelated
    medium finding on it (e.g. not in the inventory) is waived: the card must not say so."""
    doc = make_doc()
    assert build_view(doc)["covered_waived"] == 2  # .12 (active) and .15 (expiring) criticals
    open_cov = next(f for f in doc["findings"] if f["ip"] == "198.18.0.11")
    assert open_cov["severity"] == "critical" and not open_cov["waived"]
    doc["findings"].append(dict(open_cov, rule="site.not-in-inventory", severity="medium", waived=True,
                                waiver={"reason": "asset tag pending", "owner": "ops", "ticket": "SEC-1",
                                        "expires": "2027-01-31", "state": "active"}))
    assert build_view(doc)["covered_waived"] == 2
