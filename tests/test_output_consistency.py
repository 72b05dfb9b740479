"""One CSV writer and one JSON renderer behind every command that writes CSV or JSON.

``devices --csv``, ``export --format csv`` and ``report --format csv`` used to differ in
columns, line endings and booleans; ``scan --json -`` escaped non-ASCII where ``export``
did not. Here the same scan goes through every command and the bytes must agree.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from store_factory import device, finding, record_scan

from auditor.cli import cli
from auditor.pipeline import AuditResult
from auditor.report import render_json
from auditor.report.format_csv import DEVICE_COLUMNS, FINDING_COLUMNS
from auditor.store import Store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    hostile = device("198.18.0.12", "00:40:8c:00:00:02", maker="Axis", model="=cmd|' /C calc'!A0", covered=False)
    named = device("198.18.0.13", "bc:32:5f:00:00:03", maker="Dahua", model="IPC-HDW\x1b[31m-Überwachung")
    with Store(path) as store:
        devices = [device("198.18.0.11", "c0:56:e3:00:00:01", brand="LTS"), hostile, named]
        record_scan(store, devices, [finding(devices[0]), finding(named, severity="high")])
    return path


def _out(*argv: str) -> str:
    result = CliRunner().invoke(cli, list(argv), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")  # .output would fold CRLF into LF


def test_the_three_csv_outputs_are_the_same_bytes(db: Path) -> None:
    devices = _out("devices", "--scan", "1", "--csv", "--db", str(db))
    assert devices == _out("export", "--scan", "1", "--format", "csv", "--db", str(db))
    assert devices == _out("report", "--scan", "1", "--format", "csv", "--db", str(db))
    findings = _out("export", "--scan", "1", "--format", "csv", "--table", "findings", "--db", str(db))
    assert findings == _out("report", "--scan", "1", "--format", "csv", "--table", "findings", "--db", str(db))

    assert devices.count("\r\n") == 4 and "\n" not in devices.replace("\r\n", "")  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(devices)))
    assert tuple(rows[0]) == DEVICE_COLUMNS and tuple(next(csv.DictReader(io.StringIO(findings)))) == FINDING_COLUMNS
    by_ip = {r["ip"]: r for r in rows}
    assert by_ip["198.18.0.11"]["covered"] == "true" and by_ip["198.18.0.12"]["covered"] == "false"
    assert by_ip["198.18.0.12"]["model"].startswith("'=")  # never a live formula
    assert by_ip["198.18.0.13"]["model"] == "IPC-HDW?[31m-Überwachung"  # no escape sequence, UTF-8 kept
    assert by_ip["198.18.0.11"]["scan_id"] == "1" and by_ip["198.18.0.11"]["open_ports"] == "80; 554"


def test_filtered_devices_csv_is_a_subset_of_the_same_rows(db: Path) -> None:
    every = _out("devices", "--scan", "1", "--csv", "--db", str(db)).split("\r\n")
    covered = _out("devices", "--scan", "1", "--csv", "--covered", "--db", str(db)).split("\r\n")
    assert covered[0] == every[0] and set(covered) < set(every)


def test_every_json_output_is_the_one_renderer(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exported = _out("export", "--scan", "1", "--db", str(db))
    reported = _out("report", "--scan", "1", "--format", "json", "--db", str(db))

    def strip(text: str) -> dict[str, Any]:
        doc = json.loads(text)
        doc.pop("generated_at")
        return doc

    assert strip(exported) == strip(reported)
    assert exported == render_json(json.loads(exported))  # the renderer's exact bytes
    assert "Überwachung" in exported and "\\u00dc" not in exported
    for argv in (("scans", "--json"), ("devices", "--json"), ("diff", "1", "1", "--json")):
        text = _out(*argv, "--db", str(db))
        assert text == render_json(json.loads(text)), argv
    oui = _out("oui", "c0:56:e3:00:00:01", "--json")
    assert oui == render_json(json.loads(oui))

    # scan --json - : the pipeline's document, through the same renderer
    document = json.loads(exported)
    monkeypatch.setattr("auditor.commands.scan.run_audit", lambda request, progress: AuditResult(
        1, "complete", document, [], False, []))
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "lo", "--json", "-", "--db", str(db)])
    assert result.exit_code == 0
    assert result.stdout_bytes.decode("utf-8") == render_json(document) == exported
