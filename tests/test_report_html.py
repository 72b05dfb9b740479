"""Structure of the rendered HTML report: sections, counts, verdict, escaping, self-containment."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from fixtures.report.make_doc import HOSTILE, HOSTILE_ATTR, HOSTILE_SCRIPT, HOSTILE_TEMPLATE, make_doc
from lxml import html as lxml_html

from auditor.errors import OperatorError
from auditor.report import render_html


def parse(text: str) -> Any:
    return lxml_html.document_fromstring(text)


@pytest.fixture(scope="module")
def noncompliant() -> str:
    return render_html(make_doc())


@pytest.fixture(scope="module")
def compliant() -> str:
    return render_html(make_doc(compliant=True, with_changes=False))


def text_of(el: Any) -> str:
    return " ".join(el.text_content().split())


# ---- structure ----------------------------------------------------------------------------------

def test_sections_and_landmarks(noncompliant: str) -> None:
    root = parse(noncompliant)
    assert root.get("lang") == "en"
    for section in ("summary", "findings", "devices", "waivers", "method"):
        assert root.xpath(f"//main//section[@id='{section}']"), section
        assert root.xpath(f"//nav//a[@href='#{section}']"), section
    assert len(root.xpath("//header[@class='masthead']")) == 1
    assert len(root.xpath("//main")) == 1 and len(root.xpath("//footer")) == 1
    assert root.xpath("//nav[@aria-label]")


def test_heading_order_never_skips_a_level(noncompliant: str) -> None:
    levels = [int(h.tag[1]) for h in parse(noncompliant).iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in zip(levels, levels[1:], strict=False):
        assert after <= before + 1, levels


def test_every_table_header_has_a_scope(noncompliant: str) -> None:
    root = parse(noncompliant)
    ths = root.xpath("//table//th")
    assert ths
    assert all(th.get("scope") in ("col", "row") for th in ths)
    assert root.xpath("//table[@id='inventory']/tbody/tr[@class='row-main']/th[@scope='row']")


def test_header_names_the_scan(noncompliant: str) -> None:
    root = parse(noncompliant)
    head = text_of(root.xpath("//header[@class='masthead']")[0])
    doc = make_doc()
    assert text_of(root.xpath("//h1")[0]) == f"Demo facility {HOSTILE_TEMPLATE}"
    for needle in ("Scan #3", "2026-11-28 10:40:51 UTC", "14.2 s", "198.18.0.0/24", "198.18.32.0/24",
                   "excluding 198.18.0.1", "lan0", "root on auditbox-1", "camaudit 0.1.0",
                   "knowledge base 2026-11-28"):
        assert needle in head, needle
    for rule in doc["scan"]["rules"]:
        assert rule["path"] in head and rule["sha256"] in head


def test_site_argument_overrides_the_heading() -> None:
    root = parse(render_html(make_doc(), site="Plant 7"))
    assert text_of(root.xpath("//h1")[0]) == "Plant 7"


def test_noncompliant_verdict(noncompliant: str) -> None:
    root = parse(noncompliant)
    (banner,) = root.xpath("//*[@data-verdict]")
    assert banner.get("data-verdict") == "noncompliant"
    text = text_of(banner)
    assert "Not compliant" in text
    assert "7 unwaived critical or high findings on 6 devices" in text
    kpi = {dd.get("data-kpi"): dd.text_content().strip() for dd in root.xpath("//dd[@data-kpi]")}
    assert kpi == {"devices": "12", "covered": "7", "open": "11", "waived": "2"}
    assert root.xpath("//title")[0].text_content().startswith("Not compliant")


def test_compliant_verdict(compliant: str) -> None:
    root = parse(compliant)
    (banner,) = root.xpath("//*[@data-verdict]")
    assert banner.get("data-verdict") == "compliant"
    assert "Compliant" in text_of(banner) and "Not compliant" not in text_of(banner)
    assert "No earlier complete scan" in text_of(root.xpath("//section[@id='summary']")[0])


def test_severity_table_counts(noncompliant: str) -> None:
    root = parse(noncompliant)
    rows = {tr.get("data-severity"): [td.text_content().strip() for td in tr.xpath("td")]
            for tr in root.xpath("//tr[@data-severity]")}
    assert rows == {"critical": ["5", "2", "7"], "high": ["2", "0", "2"], "medium": ["1", "0", "1"],
                    "low": ["2", "0", "2"], "info": ["1", "0", "1"]}


def test_maker_chart_is_inline_svg_with_text(noncompliant: str) -> None:
    root = parse(noncompliant)
    (svg,) = root.xpath("//svg[contains(@class, 'chart')]")
    assert svg.get("role") == "img"
    labels = [t.text_content() for t in svg.xpath(".//*[contains(@class, 'bar-label')]")]
    assert labels == ["Hikvision", "Dahua", "Axis Communications", "Bosch Security Systems", "Unknown maker"]
    values = [t.text_content() for t in svg.xpath(".//*[contains(@class, 'bar-value')]")]
    assert values[0] == "5 · covered"  # not colour alone


def test_findings_grouped_by_rule(noncompliant: str) -> None:
    root = parse(noncompliant)
    rules = root.xpath("//section[@id='findings']//article[@data-group]")
    assert len(rules) == 5
    first = rules[0]
    assert "Covered equipment (NDAA §889)" in text_of(first.xpath(".//h3")[0])
    assert "Critical" in text_of(first.xpath(".//h3")[0])
    assert len(first.xpath(".//tr[@data-item]")) == 7
    body = text_of(first)
    assert "Replace with equipment from a non-covered maker" in body
    assert "Pub. L. 115-232 §889(f)(3)(B)" in body
    states = [text_of(s) for s in first.xpath(".//*[contains(@class, 'wstate')]")]
    assert states.count("Waived") == 1 and states.count("Waived, expiring") == 1
    assert states.count("Waiver expired") == 1 and states.count("Not waived") == 4
    assert len(root.xpath("//section[@id='findings']//tr[@data-item]")) == len(make_doc()["findings"])


def test_inventory_rows_and_evidence(noncompliant: str) -> None:
    root = parse(noncompliant)
    doc = make_doc()
    devices = root.xpath("//table[@id='inventory']/tbody")
    assert len(devices) == len(doc["devices"])
    heads = [text_of(th) for th in root.xpath("//table[@id='inventory']/thead//th")]
    assert heads == ["IP", "MAC", "Maker", "Brand", "Relation", "Class", "Model", "Firmware", "Confidence",
                     "Findings"]
    for tbody, dev in zip(devices, doc["devices"], strict=True):
        main = tbody.xpath("tr[@class='row-main']")[0]
        assert text_of(main.xpath("th")[0]).startswith(dev["ip"])
        details = tbody.xpath(".//details")
        assert len(details) == 1 and details[0].get("open") is None
        assert len(details[0].xpath(".//table[contains(@class, 'evidence')]/tbody/tr")) == len(dev["evidence"])
        assert len(details[0].xpath(".//*[contains(@class, 'callout-warn')]//li")) == len(dev["conflicts"])
    lts = root.xpath("//table[@id='inventory']/tbody[.//th[starts-with(normalize-space(), '198.18.0.12')]]")[0]
    cells = [text_of(td) for td in lts.xpath("tr[@class='row-main']/td")]
    assert cells[:4] == ["bc:ad:28:00:00:12", "Hikvision Covered", "LTS", "OEM relabel"]
    assert cells[-1] == "2 High"  # two findings, the worst unwaived one is high
    routed = root.xpath("//table[@id='inventory']/tbody[.//th[normalize-space()='198.18.32.50']]")[0]
    assert text_of(routed.xpath("tr[@class='row-main']/td")[0]) == "not seen"


def test_waivers_by_state(noncompliant: str) -> None:
    root = parse(noncompliant)
    sec = root.xpath("//section[@id='waivers']")[0]
    heads = [text_of(h) for h in sec.xpath(".//h3")]
    assert heads == ["Active 2", "Expiring within 30 days 1", "Expired 1"]
    tables = sec.xpath(".//table")
    assert [len(t.xpath("tbody/tr")) for t in tables] == [2, 1, 1]
    assert "in 12 days" in text_of(tables[1]) and "59 days ago" in text_of(tables[2])
    assert "no device" in text_of(tables[0])


def test_changes_since_previous_scan(noncompliant: str) -> None:
    summary = text_of(parse(noncompliant).xpath("//section[@id='summary']")[0])
    for needle in ("Changes since scan #2", "2 new devices", "1 device gone", "2 devices changed",
                   "1 new finding", "1 finding resolved", "V5.4.5 build 170124 → V5.5.82 build 190220"):
        assert needle in summary, needle


def test_method_and_limits(noncompliant: str) -> None:
    sec = parse(noncompliant).xpath("//section[@id='method']")[0]
    text = text_of(sec)
    assert len(sec.xpath(".//table[contains(@class, 'probes')]/tbody/tr")) == 8
    assert len(sec.xpath(".//table[contains(@class, 'warnings')]/tbody/tr")) == 5
    for needle in ("2 devices without a MAC address", "198.18.32.50, 198.18.32.91",
                   "1 waiver matched no device", "timed out after 3.0 s (tarpit)"):
        assert needle in text, needle
    facts = {text_of(dt): text_of(dt.getnext()) for dt in sec.xpath(".//dl//dt")}
    assert facts["Addresses in scope"] == "508" and facts["Hosts probed"] == "14"
    assert facts["Deadline"] == "not reached" and facts["Warnings"] == "5"


def test_interrupted_scan_warns_in_verdict_and_method() -> None:
    root = parse(render_html(make_doc(status="interrupted")))
    assert "The scan is interrupted" in text_of(root.xpath("//*[@data-verdict]")[0])
    assert "The deadline was hit" in text_of(root.xpath("//section[@id='method']")[0])


def test_empty_scan_renders() -> None:
    doc = {"schema_version": 1, "generated_at": None, "scan": {"id": 9}, "devices": [], "findings": [],
           "waivers": [], "warnings": [], "changes": None}
    root = parse(render_html(doc))
    assert root.xpath("//*[@data-verdict]")[0].get("data-verdict") == "compliant"
    assert "No devices were found" in text_of(root.xpath("//section[@id='devices']")[0])
    assert "no rules were evaluated" in text_of(root.xpath("//section[@id='findings']")[0])


def test_readable_without_javascript(noncompliant: str) -> None:
    root = parse(noncompliant)
    # The script only adds controls: toolbars start hidden; all data is in the markup.
    toolbars = root.xpath("//*[contains(@class, 'toolbar')]")
    assert toolbars and all(t.get("hidden") is not None for t in toolbars)
    assert not root.xpath("//*[@style]")


# ---- hostile values -----------------------------------------------------------------------------

def test_hostile_strings_are_shown_as_text(noncompliant: str) -> None:
    root = parse(noncompliant)
    scripts = root.xpath("//script")
    assert len(scripts) == 1 and not scripts[0].get("src")
    assert "alert(1)" not in scripts[0].text_content()
    assert not root.xpath("//img") and not root.xpath("//*[@onerror]")
    assert not [el for el in root.iter() if isinstance(el.tag, str) and any(a.startswith("on") for a in el.attrib)]
    assert HOSTILE_SCRIPT not in noncompliant and HOSTILE_ATTR not in noncompliant
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in noncompliant
    text = root.text_content()
    for s in HOSTILE:
        assert s in text, s
    # The template marker stays literal wherever it appears: never evaluated to 49.
    hostile_row = root.xpath("//table[@id='inventory']/tbody[.//th[normalize-space()='198.18.0.90']]")[0]
    cells = [td.text_content().strip() for td in hostile_row.xpath("tr[@class='row-main']/td")]
    assert cells[2] == HOSTILE_SCRIPT and cells[5] == HOSTILE_ATTR and cells[6] == HOSTILE_TEMPLATE
    assert text_of(root.xpath("//h1")[0]) == "Demo facility {{ 7*7 }}"
    assert "Demo facility 49" not in text


# ---- self-contained -----------------------------------------------------------------------------

_URL_ATTRS = ("src", "href", "action", "formaction", "poster", "data", "srcset", "xlink:href",
              "{http://www.w3.org/1999/xlink}href", "background", "manifest", "ping")


def test_no_external_resource_of_any_kind(noncompliant: str) -> None:
    root = parse(noncompliant)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name in _URL_ATTRS:
                assert value.startswith("#") or value == "data:,", (el.tag, name, value)
            assert "://" not in value, (el.tag, name, value)
    for link in root.xpath("//link"):
        assert link.get("rel") == "icon" and link.get("href") == "data:,"
    css = "".join(s.text_content() for s in root.xpath("//style"))
    assert "@import" not in css
    assert re.findall(r"url\(", css) == []
    svg_urls = re.findall(r"url\(([^)]*)\)", noncompliant)
    assert all(u.startswith("#") for u in svg_urls), svg_urls
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", noncompliant, re.IGNORECASE)
    # Reference URLs are shown as plain text, never loaded or linked.
    assert "https://www.fcc.gov/supplychain/coveredlist" in root.text_content()


def test_csp_allows_only_our_inline_style_and_script(noncompliant: str) -> None:
    root = parse(noncompliant)
    (meta,) = root.xpath("//meta[@http-equiv='Content-Security-Policy']")
    csp = meta.get("content")
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    (style,) = root.xpath("//style")
    (script,) = root.xpath("//script")
    assert f"style-src {digest(style.text)}" in csp
    assert f"script-src {digest(script.text)}" in csp


# ---- templates: site overrides, strictness ------------------------------------------------------

def test_site_template_directory_overrides_ours(tmp_path: Path) -> None:
    (tmp_path / "_method.html").write_text('<section id="method"><h2>Our own method text {{ scan.id }}</h2></section>')
    root = parse(render_html(make_doc(), template_dirs=[tmp_path]))
    assert text_of(root.xpath("//section[@id='method']")[0]) == "Our own method text 3"
    assert root.xpath("//section[@id='devices']")  # the rest still comes from ours


def test_templates_are_strict_about_undefined_names(tmp_path: Path) -> None:
    (tmp_path / "_method.html").write_text("{{ no_such_value }}")
    with pytest.raises(OperatorError, match=r"template error \(UndefinedError\): 'no_such_value' is undefined"):
        render_html(make_doc(), template_dirs=[tmp_path])  # a site's template: the operator's to fix, one line


def test_inline_asset_that_closes_its_element_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_script.js").write_text("var x = '</script><script>alert(1)';")
    with pytest.raises(OperatorError, match="closing"):
        render_html(make_doc(), template_dirs=[tmp_path])


def test_probe_that_could_not_run_is_named_in_method_and_limits() -> None:
    doc = make_doc()
    doc["scan"]["stats"]["probe_errors"] = ["arp: Operation not permitted: needs root (CAP_NET_RAW)"]
    page = render_html(doc)
    assert "A probe could not run:</strong> arp: Operation not permitted: needs root (CAP_NET_RAW)" in page
