"""The estate report in a real browser (headless chromium over the DevTools protocol): loads with
no console error and no request beyond its own file, no hostile value runs, the covered-device
filter and the site table's sorting work; screenshots land in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from estate_factory import HOSTILE_SITE, build_estate_db
from report_cdp import Chromium, chromium_skip_reason

from auditor.estate import build_estate
from auditor.report import write_text
from auditor.report.estate import render_estate_html
from auditor.store import Store

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SKIP = chromium_skip_reason()

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

VISIBLE_COVERED = """JSON.stringify(Array.from(document.querySelectorAll('#covered-list tbody tr'))
  .filter(function (r) { return !r.classList.contains('is-hidden'); })
  .map(function (r) { return [r.cells[0].textContent.trim(), r.cells[1].textContent.trim()]; }))"""
SITE_ORDER = """JSON.stringify(Array.from(document.querySelectorAll('#site-table tbody tr'))
  .map(function (r) { return r.getAttribute('data-site'); }))"""


def test_estate_report_in_headless_chromium(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    info = build_estate_db(db)
    with Store(db) as store:
        estate = build_estate(store, now=info["now"])
    page = tmp_path / "estate.html"
    write_text(page, render_estate_html(estate))
    with Chromium(width=1400, height=1000) as browser:
        browser.load(page)
        browser.assert_self_contained(page)
        kpi = browser.eval("document.querySelector('#overview [data-kpi=covered]').textContent")
        assert kpi == str(info["covered"])
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "estate.png", full_page=True)

        # The trend chart has the estate's line and one per site.
        assert browser.eval("document.querySelectorAll('svg.trend g.line-site').length") == 3
        assert browser.eval("document.querySelectorAll('svg.trend g.line-total').length") == 1
        # Stale sites are flagged.
        stale = browser.eval("""JSON.stringify(Array.from(document.querySelectorAll('#site-table tr.is-stale'))
            .map(function (r) { return r.getAttribute('data-site'); }))""")
        assert json.loads(stale) == ["Depot"]

        # Filtering the covered devices by site.
        assert len(json.loads(browser.eval(VISIBLE_COVERED))) == 3
        browser.eval("""(function () { var el = document.querySelector('.toolbar[data-target=covered-list] select');
            el.value = 'Depot'; el.dispatchEvent(new Event('change', {bubbles: true})); }())""")
        assert json.loads(browser.eval(VISIBLE_COVERED)) == [["Depot", "192.168.5.10"]]
        browser.eval("""(function () { var el = document.querySelector('.toolbar[data-target=covered-list] select');
            el.value = ''; el.dispatchEvent(new Event('change', {bubbles: true}));
            var q = document.querySelector('.toolbar[data-target=covered-list] input');
            q.value = 'LTS'; q.dispatchEvent(new Event('input', {bubbles: true})); }())""")
        assert [row[0] for row in json.loads(browser.eval(VISIBLE_COVERED))] == [HOSTILE_SITE, "Depot"]

        # Sorting the site table by covered devices, descending: the annex (2) first.
        browser.eval("document.querySelector('#site-table thead th:nth-child(6) button').click()")
        browser.eval("document.querySelector('#site-table thead th:nth-child(6) button').click()")
        assert json.loads(browser.eval(SITE_ORDER))[0] == HOSTILE_SITE
        assert browser.errors() == []
