"""The estate: every site of a central database in one document and one self-contained HTML file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from estate_factory import DAY, HOSTILE_SITE, build_estate_db
from store_factory import T0, device, meta

from auditor.cli import cli
from auditor.errors import OperatorError
from auditor.estate import build_estate
from auditor.report.estate import build_estate_view, render_estate_html
from auditor.store import Store


@pytest.fixture(scope="module")
def estate_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("estate") / "estate.db"
    return path, build_estate_db(path)


@pytest.fixture(scope="module")
def estate(estate_db) -> dict:
    path, info = estate_db
    with Store(path) as store:
        return build_estate(store, now=info["now"])


def _site(estate: dict, name: str) -> dict:
    return next(s for s in estate["sites"] if s["site"] == name)


def test_sites_totals_and_staleness(estate, estate_db):
    _, info = estate_db
    assert [s["site"] for s in estate["sites"]] == [HOSTILE_SITE, "Depot", "HQ"]  # by name, case-blind
    assert [s["site"] for s in estate["sites"] if s["stale"]] == info["stale"]
    assert estate["totals"]["covered"] == info["covered"] == sum(s["covered"] for s in estate["sites"])
    assert estate["totals"]["sites"] == 3 and estate["totals"]["stale_sites"] == 1
    hq = _site(estate, "HQ")
    # the interrupted last run is the latest run, but the counts are the last complete audit's
    assert hq["last_scan"]["status"] == "interrupted" and hq["last_complete"]["status"] == "complete"
    assert (hq["covered"], hq["covered_first"], hq["devices"]) == (info["hq_covered"], info["hq_first"], 3)
    assert [v for _, v in hq["trend"]] == [4, 3, 2, 1, 0]


def test_the_total_trend_carries_each_site_forward(estate, tmp_path):
    # a short history: a point after every complete audit (HQ 4, + annex 2, + depot 1, then HQ's removals)
    values = [v for _, v in estate["trend"]]
    assert values[:3] == [4, 6, 7] and values[-1] == 3 and len(values) == 12
    # a long one: a point per day; the depot stops after night 2 but keeps counting its last value
    path = tmp_path / "long.db"
    info = build_estate_db(path, nights=10)
    with Store(path) as store:
        long = build_estate(store, now=info["now"])
    assert [v for _, v in long["trend"]] == [7, 6, 5, 4, 3, 3, 3, 3, 3, 3]
    assert all(day.endswith("T23:59:59Z") for day, _ in long["trend"])


def test_covered_devices_and_waivers_come_from_each_sites_last_complete_audit(estate):
    covered = estate["covered_devices"]
    assert sorted({d["site"] for d in covered}) == sorted([HOSTILE_SITE, "Depot"])
    assert all(d["covered"] and d["evidence"] for d in covered)
    # overlapping addresses at two sites: the annex's 10.1.0.10 is not HQ's (HQ has none left)
    assert [d["ip"] for d in covered if d["site"] == HOSTILE_SITE] == ["10.1.0.10", "10.1.0.11"]
    [waiver] = estate["waivers"]
    assert waiver["site"] == HOSTILE_SITE and waiver["days_left"] == 5 and waiver["source"] == "rules/annex.yaml:3"


def test_the_view_counts_removals(estate):
    view = build_estate_view(estate)
    hq = next(r for r in view["sites"] if r["name"] == "HQ")
    assert hq["removed"] == 4 and hq["spark"]
    assert view["removed_total"] == 4 and view["first_covered"] == 7
    assert [line.kind for line in view["chart"].lines] == ["total", "site", "site", "site"]
    assert len({line.color for line in view["chart"].lines if line.kind == "site"}) == 3


def test_html_is_self_contained_and_escaped(estate):
    page = render_estate_html(estate)
    assert "<script>alert" not in page.replace("<script>" + page.split("<script>")[-1], "")
    assert "&lt;script&gt;alert(&#34;site&#34;)&lt;/script&gt; &amp; Co" in page
    assert "onerror=alert(1)>" not in page and "{{ 7*7 }}" in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)
    assert "Content-Security-Policy" in page and "default-src &#39;none&#39;" in page
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert 'data-stale' in page and "3 days" in page


def test_an_unknown_estate_version_is_refused(estate):
    with pytest.raises(OperatorError, match="estate document version"):
        build_estate_view({**estate, "estate_version": 9})


def test_report_estate_command(estate_db, tmp_path):
    path, _ = estate_db
    out = tmp_path / "estate.html"
    result = CliRunner().invoke(cli, ["report", "--estate", "--db", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "estate of 3 site(s)" in result.output and out.read_text().startswith("<!DOCTYPE html>")
    as_json = CliRunner().invoke(cli, ["report", "--estate", "--db", str(path), "--format", "json"])
    assert json.loads(as_json.stdout)["totals"]["sites"] == 3
    for bad in (["--scan", "1"], ["--site", "HQ"], ["--format", "csv"]):
        refused = CliRunner().invoke(cli, ["report", "--estate", "--db", str(path), *bad])
        assert refused.exit_code == 2, bad


def test_stale_days_is_the_operators(estate_db):
    path, info = estate_db
    with Store(path) as store:
        lenient = build_estate(store, now=info["now"], stale_days=10)
    assert lenient["totals"]["stale_sites"] == 0


def test_site_report_draws_its_own_trend(estate_db):
    path, _ = estate_db
    with Store(path) as store:
        scan_id = store.latest_scan(complete_only=True, site="HQ")
        document = store.scan_document(scan_id)
    from auditor.report import render
    from auditor.report.view import build_view

    view = build_view(document)
    covered, blocking = view["trend"].lines
    assert (covered.first, covered.last, blocking.first, blocking.last) == (4, 0, 4, 0)
    page = render(document, "html")
    assert "Trend of the last 5 scans" in page and 'class="line line-covered"' in page


def test_an_inventory_file_never_stands_for_a_network_audit(tmp_path):
    """A classified spreadsheet (kind import) is not what a scan saw: it counts only while a site has no
    complete network audit, and it never makes a site fresh."""
    now = T0 + 10 * DAY
    with Store(tmp_path / "estate.db") as store:
        def record(site: str, started: float, devices: list, kind: str = "scan") -> None:
            extra = {"kind": kind, "source": {"path": "vms.csv", "rows": len(devices)}} if kind == "import" else {}
            scan_id = store.begin_scan(meta(site=site, started_at=started, **extra))
            store.record_results(scan_id, devices, {}, [])
            store.finish_scan(scan_id, "complete", {"devices": len(devices)})
            store.db.execute("UPDATE scans SET finished_at = ? WHERE id = ?", [started + 600, scan_id])

        two_covered = [device("10.9.0.10", "c0:56:e3:00:00:10"), device("10.9.0.11", "c0:56:e3:00:00:11")]
        record("Plant", now - DAY, two_covered)  # the network audit, yesterday
        record("Plant", now - 3600, two_covered[:1], "import")  # an older spreadsheet, classified this morning
        record("Warehouse", now - 3600, two_covered, "import")  # known only from its spreadsheet
        estate = build_estate(store, now=now)
    plant, warehouse = _site(estate, "Plant"), _site(estate, "Warehouse")
    assert plant["last_complete"]["kind"] == "scan" and plant["covered"] == 2 and not plant["stale"]
    assert warehouse["last_complete"]["kind"] == "import" and warehouse["covered"] == 2
    assert warehouse["stale"] and warehouse["age_days"] is None
