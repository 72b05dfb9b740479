"""``camaudit report`` against a real store and against a stand-in holding a sample document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixtures.report.make_doc import make_doc

from auditor.cli import cli
from auditor.commands import report as report_module
from auditor.store import Store


class FakeStore:
    def __init__(self, docs: dict[int, dict[str, Any]]) -> None:
        self.docs = docs
        self.asked: list[int] = []

    def __enter__(self) -> FakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def latest_scan(self, complete_only: bool = False, site: str | None = None) -> int | None:
        ids = [i for i, d in self.docs.items() if (not complete_only or d["scan"]["status"] == "complete")
               and (site is None or d["scan"]["site"] == site)]
        return max(ids, default=None)

    def sites(self) -> list[str]:
        return sorted({d["scan"]["site"] or "" for d in self.docs.values()})

    def site_of(self, scan_id: int) -> str:
        return self.docs[scan_id]["scan"]["site"] or ""

    def scan(self, scan_id: int) -> dict[str, Any]:
        return self.docs[scan_id]["scan"]

    def scan_document(self, scan_id: int) -> dict[str, Any]:
        self.asked.append(scan_id)
        return self.docs[scan_id]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    store = FakeStore({3: make_doc(), 4: make_doc(status="interrupted")})
    monkeypatch.setattr(report_module, "open_store", lambda db, **kw: store)
    return store


def test_default_is_latest_complete_scan_as_html_on_stdout(fake: FakeStore) -> None:
    result = CliRunner().invoke(cli, ["report"])
    assert result.exit_code == 0, result.output
    assert fake.asked == [3]
    assert result.output.startswith("<!DOCTYPE html>") and "Not compliant" in result.output


def test_format_follows_the_output_suffix(fake: FakeStore, tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    result = CliRunner().invoke(cli, ["report", "--scan", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["scan"]["status"] == "interrupted"
    assert fake.asked == [4]


def test_csv_findings_table_and_site(fake: FakeStore, tmp_path: Path) -> None:
    out = tmp_path / "f.txt"
    result = CliRunner().invoke(cli, ["report", "--format", "csv", "--table", "findings", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("scan_id,severity,rule")
    html_out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--site-label", "Plant 7", "-o", str(html_out)])
    assert "<h1>Plant 7</h1>" in html_out.read_text()
    # before sites were a dimension, --site relabelled the report: a one-site database still does
    result = CliRunner().invoke(cli, ["report", "--site", "Plant 8", "-o", str(html_out)])
    assert result.exit_code == 0 and "<h1>Plant 8</h1>" in html_out.read_text() and "--site-label" in result.output


def test_unwritable_output_is_an_operator_error(fake: FakeStore, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "-o", str(tmp_path / "missing-dir" / "r.html")])
    assert result.exit_code == 2 and "cannot write the report" in result.output


def test_missing_database_is_an_operator_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no camaudit database" in result.output


def _meta() -> dict[str, Any]:
    return {"targets": ["198.18.0.0/24"], "excludes": [], "interface": "lan0", "probes": ["arp"],
            "rules": [], "site": "Lab", "operator": "tester", "host": "box", "tool_version": "0.1.0",
            "kb_version": "test"}


def test_real_store_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with Store(db) as store:
        first = store.begin_scan(_meta())
        store.finish_scan(first, "complete", {"addresses": 256})
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--db", str(db), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "<h1>Lab</h1>" in page and 'data-verdict="compliant"' in page
    result = runner.invoke(cli, ["report", "--db", str(db), "--scan", "99"])
    assert result.exit_code == 2 and "no scan 99" in result.output


def test_real_store_document_with_a_device_and_a_finding(tmp_path: Path) -> None:
    """The report renders what the real store produces (extra fields and all), escaping device text."""
    from auditor.models import Device, Evidence, Finding, Host, Identity, Observation

    obs = Observation(ip="198.18.0.5", probe="http", fields={"title": "<script>x</script>"}, warning="bad <b>")
    host = Host(key="mac:c0:56:e3:00:00:01", ip="198.18.0.5", mac="c0:56:e3:00:00:01", ips=("198.18.0.5",),
                observations=(obs,))
    identity = Identity(maker="Hikvision", brand="<script>x</script>", relation="OEM relabel",
                        device_class="camera", model="DS-2CD2143G2-I", covered=True, confidence="high",
                        evidence=(Evidence("http", "server", "App-webs/", "Hikvision", "strong", "banner"),))
    finding = Finding(rule_id="ndaa-889.covered-maker", title="Covered equipment", severity="critical",
                      device_key=host.key, ip=host.ip, mac=host.mac, message="covered")
    db = tmp_path / "c.db"
    with Store(db) as store:
        scan_id = store.begin_scan(_meta())
        store.add_observations(scan_id, [obs])
        store.add_devices(scan_id, [Device(host=host, identity=identity)], {host.key: {}})
        store.add_findings(scan_id, [finding])
        store.finish_scan(scan_id, "complete", {"addresses": 256})
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert 'data-verdict="noncompliant"' in page and "1 unwaived critical or high finding" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "bad &lt;b&gt;" in page
