"""The report in a real browser (Debian's headless chromium over the DevTools protocol).

It loads with no console error and no request beyond its own file, no hostile value runs,
sorting / filtering / search work, and a screenshot lands in ``test-artifacts/report.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.report.make_doc import make_doc
from report_cdp import Chromium, chromium_skip_reason

from auditor.report import write_report

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SKIP = chromium_skip_reason()

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

VISIBLE_DEVICE_IPS = """JSON.stringify(Array.from(document.querySelectorAll('#inventory > tbody'))
  .filter(function (t) { return !t.classList.contains('is-hidden') && t.offsetParent !== null; })
  .map(function (t) { return t.rows[0].cells[0].textContent.trim(); }))"""
MAKER_COLUMN = """JSON.stringify(Array.from(document.querySelectorAll('#inventory > tbody'))
  .map(function (t) { return t.rows[0].cells[2].textContent.trim(); }))"""


def _set(browser: Chromium, selector: str, value: str) -> None:
    browser.eval(f"""(function () {{
      var el = document.querySelector({json.dumps(selector)});
      el.value = {json.dumps(value)};
      el.dispatchEvent(new Event('input', {{bubbles: true}}));
      el.dispatchEvent(new Event('change', {{bubbles: true}}));
    }}())""")


def _ips(browser: Chromium) -> list[str]:
    return [ip.split("+")[0] for ip in json.loads(browser.eval(VISIBLE_DEVICE_IPS))]


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    doc = make_doc()
    page = tmp_path / "report.html"
    write_report(doc, page)
    with Chromium(width=1400, height=1000) as browser:
        browser.load(page)

        # Loaded cleanly, nothing fetched, no hostile value ran (alert() would open a dialog).
        browser.assert_self_contained(page)
        assert browser.eval("document.querySelector('.toolbar[data-target=inventory]').hidden") is False

        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "report.png", full_page=True)
        browser.screenshot(ARTIFACTS / "report-top.png")

        # Sorting: the Maker column, ascending then descending.
        initial = _ips(browser)
        assert initial == [d["ip"] for d in doc["devices"]]
        browser.eval("document.querySelector('#inventory thead th:nth-child(3) button').click()")
        makers = json.loads(browser.eval(MAKER_COLUMN))
        assert _ips(browser) != initial
        named = [m for m in makers if m != "Unknown"]
        assert named == sorted(named, key=str.lower) and makers[-1] == "Unknown"
        assert browser.eval("document.querySelector('#inventory thead th:nth-child(3)')"
                            ".getAttribute('aria-sort')") == "ascending"
        browser.eval("document.querySelector('#inventory thead th:nth-child(3) button').click()")
        assert json.loads(browser.eval(MAKER_COLUMN))[0] == "Unknown"
        # Sorting by IP puts the numeric order back (198.18.0.9 < 198.18.0.10 would break a text sort).
        browser.eval("document.querySelector('#inventory thead th:nth-child(1) button').click()")
        assert _ips(browser) == initial

        # Search hides what does not match; the evidence behind a device counts as its text.
        _set(browser, ".toolbar[data-target=inventory] input[type=search]", "dahua")
        assert _ips(browser) == ["198.18.0.13", "198.18.0.14"]
        assert "Showing 2 of 12" in browser.eval(
            "document.querySelector('.toolbar[data-target=inventory] output').textContent")
        _set(browser, ".toolbar[data-target=inventory] input[type=search]", "")
        _set(browser, ".toolbar[data-target=inventory] select[data-f=maker]", "Axis Communications")
        assert _ips(browser) == ["198.18.0.21"]
        _set(browser, ".toolbar[data-target=inventory] select[data-f=maker]", "")
        _set(browser, ".toolbar[data-target=inventory] select[data-f=sev]", "none")
        assert _ips(browser) == ["198.18.0.40"]
        _set(browser, ".toolbar[data-target=inventory] select[data-f=sev]", "")
        assert len(_ips(browser)) == len(doc["devices"])

        # Findings filter by severity: only the KEV rule's two rows remain.
        _set(browser, ".toolbar[data-target=findings-list] select[data-f=sev]", "high")
        visible_rules = browser.eval("""Array.from(document.querySelectorAll('#findings-list > article'))
            .filter(function (a) { return a.offsetParent !== null; }).length""")
        visible_rows = browser.eval("""Array.from(document.querySelectorAll('#findings-list tr[data-item]'))
            .filter(function (r) { return r.offsetParent !== null; }).length""")
        assert (visible_rules, visible_rows) == (1, 2)

        # Expand all opens every evidence chain.
        browser.eval("document.querySelector('[data-expand=inventory]').click()")
        assert browser.eval("document.querySelectorAll('#inventory details[open]').length") == len(doc["devices"])
        top = browser.eval("document.getElementById('devices').getBoundingClientRect().top + scrollY")
        browser.screenshot(ARTIFACTS / "report-devices-expanded.png", y=top, height=1400)
        assert browser.errors() == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
