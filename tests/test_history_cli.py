"""The history commands through click: scans, devices, diff, export, and --db / CAMAUDIT_DB."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from store_factory import device, finding, meta, record_scan

from auditor.cli import cli
from auditor.document import validate_document
from auditor.store import Store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "camaudit.db"
    kept = device("198.18.0.11", "c0:56:e3:00:00:01", brand="LTS")
    removed = device("198.18.0.12", "00:40:8c:00:00:02", maker="Axis", model="=HYPERLINK(\"x\")", covered=False)
    added = device("198.18.0.13", "bc:32:5f:00:00:03", maker="Dahua", model="IPC-\x1b[2JHDW")
    with Store(path) as store:
        record_scan(store, [kept, removed], [finding(kept)])
        moved = device("198.18.0.21", "c0:56:e3:00:00:01", brand="LTS")
        record_scan(store, [moved, added], [finding(moved), finding(added)])
    return path


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_scans_table_and_json(db):
    result = run("scans", "--db", str(db))
    assert result.exit_code == 0
    header, rule, first, second = result.output.splitlines()
    assert header.split()[:5] == ["ID", "STARTED", "STATUS", "SECS", "DEVICES"] and set(rule) <= {"-", " "}
    assert first.split()[0] == "1" and "complete" in first and "198.18.0.0/24" in first
    data = json.loads(run("scans", "--json", "--db", str(db)).output)
    assert [(s["id"], s["devices"], s["findings"]["critical"]) for s in data["scans"]] == [(1, 2, 1), (2, 2, 2)]


def test_db_from_environment(db):
    result = run("scans", env={"CAMAUDIT_DB": str(db)})
    assert result.exit_code == 0 and "complete" in result.output


def test_missing_database_is_exit_2_and_not_created(tmp_path):
    missing = tmp_path / "nothing.db"
    for command in ("scans", "devices", "diff", "export"):
        result = CliRunner().invoke(cli, [command, "--db", str(missing)])
        assert result.exit_code == 2, command
        assert "no camaudit database" in result.output
    assert not missing.exists()


def test_devices_table_filters_and_escapes_control_characters(db):
    result = run("devices", "--db", str(db))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["198.18.0.13", "198.18.0.21"]
    assert "\x1b" not in result.output and "IPC-?[2JHDW" in result.output
    covered = run("devices", "--scan", "1", "--covered", "--db", str(db)).output
    assert "198.18.0.11" in covered and "198.18.0.12" not in covered
    lts = run("devices", "--scan", "1", "--maker", "lts", "--db", str(db)).output
    assert "198.18.0.11" in lts and "Axis" not in lts


def test_devices_json_and_csv(db):
    data = json.loads(run("devices", "--json", "--db", str(db)).output)
    assert data["schema_version"] == 1 and data["scan_id"] == 2
    assert [d["mac"] for d in data["devices"]] == ["bc:32:5f:00:00:03", "c0:56:e3:00:00:01"]
    rows = list(csv.DictReader(io.StringIO(run("devices", "--scan", "1", "--csv", "--db", str(db)).output)))
    assert [r["ip"] for r in rows] == ["198.18.0.11", "198.18.0.12"]
    assert rows[1]["model"] == "'=HYPERLINK(\"x\")"  # never a live spreadsheet formula
    assert rows[0]["covered"] == "true" and rows[0]["open_ports"] == "80; 554"
    both = CliRunner().invoke(cli, ["devices", "--json", "--csv", "--db", str(db)])
    assert both.exit_code == 2


def test_diff_defaults_to_the_last_two_complete_scans(db):
    result = run("diff", "--db", str(db))
    assert result.exit_code == 0
    out = result.output
    assert out.startswith("scan 1 -> scan 2")
    assert "new devices (1):" in out and "198.18.0.13" in out
    assert "gone devices (1):" in out and "198.18.0.12" in out
    assert "ip 198.18.0.11 -> 198.18.0.21" in out
    assert "new findings (1):" in out
    data = json.loads(run("diff", "1", "2", "--json", "--db", str(db)).output)
    assert [d["id"] for d in data["gone_devices"]] == ["mac:00:40:8c:00:00:02"]
    same = run("diff", "2", "2", "--db", str(db)).output
    assert "no changes" in same


def test_diff_needs_two_complete_scans(tmp_path):
    path = tmp_path / "one.db"
    with Store(path) as store:
        record_scan(store, [])
        store.begin_scan(meta())  # still running: not comparable by default
    result = CliRunner().invoke(cli, ["diff", "--db", str(path)])
    assert result.exit_code == 2 and "need two complete scans" in result.output
    unknown = CliRunner().invoke(cli, ["diff", "1", "9", "--db", str(path)])
    assert unknown.exit_code == 2 and "no scan 9" in unknown.output


def test_export_json_document_to_file_and_csv(db, tmp_path):
    out = tmp_path / "scan1.json"
    result = run("export", "--scan", "1", "--format", "json", "-o", str(out), "--db", str(db))
    assert result.exit_code == 0
    document = json.loads(out.read_text())
    assert validate_document(document) == [] and document["scan"]["id"] == 1
    text = run("export", "--format", "csv", "--table", "findings", "--db", str(db)).output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["ip"] for r in rows} == {"198.18.0.13", "198.18.0.21"}
    assert rows[0]["severity"] == "critical" and rows[0]["waived"] == "false"


def test_scans_marks_a_scan_left_running_by_a_dead_run(tmp_path):
    path = tmp_path / "dead.db"
    store = Store(path)
    store.begin_scan(meta())
    store._lock.release()  # as if the process had died: the kernel drops its lock
    result = run("scans", "--db", str(path))
    store.db.close()
    assert "interrupted" in result.output
