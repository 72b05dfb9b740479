"""``camaudit serve``: Datasette on the database, read-only, with the shipped metadata; the canned
queries work in headless chromium against a served instance on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import urllib.error
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from estate_factory import HOSTILE_SITE, build_estate_db
from report_cdp import Chromium, chromium_skip_reason
from serve_support import datasette_skip_reason, get, served

from auditor.cli import cli
from auditor.web.serve import datasette_argv, metadata

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NEEDS = datasette_skip_reason()
CANNED = ("covered_by_site", "covered_devices", "changes_since_previous_audit", "waivers_expiring", "unknown_maker")


def test_metadata_names_the_database_and_every_view_and_query(tmp_path):
    data = metadata(tmp_path / "estate.db")
    [(name, db)] = data["databases"].items()
    assert name == "estate"
    assert set(CANNED) == set(db["queries"])
    for table in ("inventory", "open_findings", "waiver_status", "scans", "devices", "device_states"):
        assert db["tables"][table]["description"], table
    assert {"site", "maker", "covered"} <= set(db["tables"]["inventory"]["facets"])
    assert "severity" in db["tables"]["open_findings"]["facets"]
    assert not any(q.get("write") for q in db["queries"].values())


def test_the_server_binds_where_it_is_told_and_caps_queries(tmp_path):
    argv = datasette_argv(tmp_path / "x.db", tmp_path / "m.json", "127.0.0.1", 8001)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "allow_download" in argv and "sql_time_limit_ms" in argv


def test_serve_refuses_a_missing_database(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no camaudit database" in result.output


@pytest.mark.skipif(NEEDS is not None, reason=NEEDS or "")
def test_canned_queries_answer_over_http_and_nothing_is_written(tmp_path):
    db = tmp_path / "estate.db"
    info = build_estate_db(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with served(db) as base:
        by_site = json.loads(get(f"{base}/estate/covered_by_site.json?_shape=array"))
        assert {r["site"]: r["covered"] for r in by_site} == {HOSTILE_SITE: 2, "Depot": 1}
        changes = json.loads(get(f"{base}/estate/changes_since_previous_audit.json?_shape=array"))
        assert [(c["change"], c["site"], c["ip"]) for c in changes] == [("disappeared", "HQ", "10.1.0.10")]
        assert json.loads(get(f"{base}/estate/unknown_maker.json?_shape=array")) == []
        facets = json.loads(get(f"{base}/estate/inventory.json?_size=0"))["facet_results"]
        assert {"site", "maker", "covered"} <= set(facets)
        # a write through the query page is refused: Datasette only runs SELECT, on a read-only connection
        with pytest.raises(urllib.error.HTTPError):
            get(f"{base}/estate.json?sql=DELETE+FROM+scans")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert info["covered"] == 3


@pytest.mark.browser
@pytest.mark.skipif(NEEDS is not None or chromium_skip_reason() is not None,
                    reason=NEEDS or chromium_skip_reason() or "")
def test_canned_queries_in_headless_chromium(tmp_path):
    db = tmp_path / "estate.db"
    build_estate_db(db, waiver_expires=(date.today() + timedelta(days=10)).isoformat())
    ARTIFACTS.mkdir(exist_ok=True)
    with served(db) as base, Chromium(width=1300, height=900, loopback=True) as browser:
        browser.load_url(f"{base}/estate")
        names = browser.eval("JSON.stringify(Array.from(document.querySelectorAll('a')).map(a => a.textContent))")
        for title in ("Covered devices by site", "Devices that appeared or disappeared since the previous audit",
                      "Waivers expiring within 30 days", "Devices whose maker could not be established"):
            assert title in names, title
        for query in CANNED:
            browser.load_url(f"{base}/estate/{query}")
            assert browser.eval("document.querySelector('table.rows-and-columns') !== null || "
                                "document.querySelector('.zero-results') !== null"), query
            assert not browser.eval("document.querySelector('.message-error') !== null"), query
        browser.load_url(f"{base}/estate/covered_by_site")
        rows = json.loads(browser.eval("""JSON.stringify(Array.from(document.querySelectorAll(
            'table.rows-and-columns tbody tr')).map(r => [r.cells[0].textContent.trim(),
                                                          r.cells[1].textContent.trim()]))"""))
        assert rows == [[HOSTILE_SITE, "2"], ["Depot", "1"]]
        # the hostile site name is shown as text, never run
        assert browser.dialogs() == []
        browser.screenshot(ARTIFACTS / "datasette-covered-by-site.png")
        browser.load_url(f"{base}/estate/waivers_expiring")
        cells = browser.eval("document.querySelector('table.rows-and-columns tbody').textContent")
        assert "CHG-1" in cells and "replacement ordered" in cells
        browser.load_url(f"{base}/estate/changes_since_previous_audit")
        assert "disappeared" in browser.eval("document.querySelector('table.rows-and-columns').textContent")
        browser.load_url(f"{base}/estate/inventory")
        facets = json.loads(browser.eval("""JSON.stringify(Array.from(document.querySelectorAll(
            '.facet-info')).map(f => f.getAttribute('data-column')))"""))
        assert {"site", "maker", "covered"} <= set(facets)
        browser.screenshot(ARTIFACTS / "datasette-inventory.png")
        outside = [u for u in browser.requests() if not u.startswith(base)]
        assert outside == []
