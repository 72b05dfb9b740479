"""``camaudit import``: site documents into one central database; bad files refused one line each."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_factory import device, finding, record_scan

from auditor.cli import cli
from auditor.store import Store


def _site_documents(tmp_path: Path, site: str, ip_base: str = "192.168.1", nights: int = 2,
                    remove_on_night: int | None = None) -> list[Path]:
    """A site's own database, audited ``nights`` times; its exported documents."""
    out = []
    with Store(tmp_path / f"{site}.db") as store:
        for night in range(nights):
            cams = [device(f"{ip_base}.10", "c0:56:e3:00:00:01", serial="SN1"),
                    device(f"{ip_base}.11", "00:40:8c:00:00:02", maker="Axis", covered=False)]
            if remove_on_night is not None and night >= remove_on_night:
                cams = cams[1:]
            scan_id = record_scan(store, cams, [finding(c) for c in cams if c.identity.covered], site=site)
            path = tmp_path / f"{site}-{night}.json"
            path.write_text(json.dumps(store.scan_document(scan_id)), encoding="utf-8")
            out.append(path)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_two_sites_with_overlapping_addresses_stay_apart(tmp_path):
    hq = _site_documents(tmp_path, "HQ")
    annex = _site_documents(tmp_path, "Annex", remove_on_night=1)
    central = tmp_path / "estate.db"
    result = invoke("import", "--db", str(central), *map(str, hq + annex))
    assert result.exit_code == 0, result.output
    assert result.output.count("imported as scan") == 4
    with Store(central) as store:
        assert store.sites() == ["Annex", "HQ"]
        assert store.db.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 4
        scans = store.list_scans()
        assert [(s["site"], s["devices"]) for s in scans] == [("HQ", 2), ("HQ", 2), ("Annex", 2), ("Annex", 1)]
        annex_ids = store.last_complete_scans(2, site="Annex")
        gone = store.diff(*annex_ids)["gone_devices"]
        assert [(g["ip"], g["maker"]) for g in gone] == [("192.168.1.10", "Hikvision")]
        # the imported scan keeps the site's scope and times
        original = json.loads(annex[1].read_text())["scan"]
        mine = store.scan(annex_ids[1])
        assert {k: mine[k] for k in ("site", "targets", "started_at", "finished_at", "status", "host")} == \
               {k: original[k] for k in ("site", "targets", "started_at", "finished_at", "status", "host")}


def test_importing_the_same_scan_twice_changes_nothing(tmp_path):
    docs = _site_documents(tmp_path, "HQ")
    central = tmp_path / "estate.db"
    assert invoke("import", "--db", str(central), *map(str, docs)).exit_code == 0
    before = _sha(central)
    again = invoke("import", "--db", str(central), *map(str, docs))
    assert again.exit_code == 0 and again.output.count("already imported") == 2
    with Store(central) as store:
        assert len(store.list_scans()) == 2
    assert _sha(central) == before


@pytest.mark.parametrize("mutate, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON (truncated?)"),
    (lambda text: "", "empty file"),
    (lambda text: text.replace('"schema_version": 1', '"schema_version": 2', 1), "schema_version 2 is newer"),
    (lambda text: text.replace('"status": "complete"', '"status": "finished"', 1),
     "does not match the document schema: scan.status"),
    (lambda text: text.replace('"covered": true', '"covered": "yes"', 1), "devices[0].covered"),
    (lambda text: text.replace('"status": "complete"', '"status": "running"', 1), "still running"),
    (lambda text: "[1, 2, 3]", "not a camaudit scan document"),
    (lambda text: text.replace('"device_id": "mac:c0:56:e3:00:00:01"', '"device_id": "mac:00:00:00:00:00:99"', 1),
     "names device"),
    (lambda text: text.replace('"schema_version": 1', '"schema_version": NaN', 1), "not a JSON number"),
    (lambda text: "[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_a_bad_document_is_one_line_exit_2_and_changes_nothing(tmp_path, mutate, message):
    good, bad_source = _site_documents(tmp_path, "HQ")
    central = tmp_path / "estate.db"
    assert invoke("import", "--db", str(central), str(good)).exit_code == 0
    before = _sha(central)
    bad = tmp_path / "bad.json"
    bad.write_text(mutate(json.dumps(json.loads(bad_source.read_text()), indent=1)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "--db", str(central), str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and message in lines[0], result.stderr
    assert len(lines[0]) < 400
    assert _sha(central) == before


def test_the_good_files_of_a_batch_are_imported_and_the_bad_one_named(tmp_path):
    docs = _site_documents(tmp_path, "HQ")
    bad = tmp_path / "cut.json"
    bad.write_text(docs[1].read_text()[:100])
    central = tmp_path / "estate.db"
    result = CliRunner().invoke(cli, ["import", "--db", str(central), str(docs[0]), str(bad)])
    assert result.exit_code == 2 and "cut.json" in result.stderr and "imported as scan 1" in result.stdout


def test_a_document_without_a_site_needs_one(tmp_path):
    with Store(tmp_path / "local.db") as store:
        scan_id = record_scan(store, [device("10.0.0.5", "c0:56:e3:00:00:05")], site=None)
        doc = store.scan_document(scan_id)
    assert doc["scan"]["site"] is None
    path = tmp_path / "nosite.json"
    path.write_text(json.dumps(doc))
    central = tmp_path / "estate.db"
    result = invoke("import", "--db", str(central), str(path))
    assert result.exit_code == 2 and "--site NAME" in result.output
    result = invoke("import", "--db", str(central), "--site", "Depot", str(path))
    assert result.exit_code == 0
    with Store(central) as store:
        assert store.sites() == ["Depot"]


def test_documents_of_the_first_release_import(tmp_path):
    """v0.1.0 wrote no waiver source, no first_seen and no history: still accepted."""
    [path] = _site_documents(tmp_path, "HQ", nights=1)
    doc = json.loads(path.read_text())
    old = copy.deepcopy(doc)
    old.pop("history", None)
    for d in old["devices"]:
        d.pop("first_seen", None)
        d.pop("first_seen_scan", None)
    path.write_text(json.dumps(old))
    result = invoke("import", "--db", str(tmp_path / "estate.db"), str(path))
    assert result.exit_code == 0, result.output


def test_history_commands_ask_for_a_site_in_a_database_of_several(tmp_path):
    central = tmp_path / "estate.db"
    docs = _site_documents(tmp_path, "HQ") + _site_documents(tmp_path, "Annex", remove_on_night=1)
    assert invoke("import", "--db", str(central), *map(str, docs)).exit_code == 0
    for command in (["devices"], ["diff"], ["export"], ["report"]):
        result = invoke(*command, "--db", str(central))
        assert result.exit_code == 2 and "--site NAME" in result.output and "2 sites" in result.output, command
    listing = invoke("scans", "--db", str(central))
    assert listing.exit_code == 0 and "SITE" in listing.output and "Annex" in listing.output
    only = invoke("scans", "--db", str(central), "--site", "HQ")
    assert "Annex" not in only.output and "SITE" not in only.output
    devices = invoke("devices", "--db", str(central), "--site", "Annex", "--json")
    assert [d["maker"] for d in json.loads(devices.output)["devices"]] == ["Axis"]
    diff = invoke("diff", "--db", str(central), "--site", "Annex")
    assert diff.exit_code == 0 and "gone devices (1)" in diff.output and "Hikvision" in diff.output
    export = invoke("export", "--db", str(central), "--site", "HQ")
    assert json.loads(export.output)["scan"]["site"] == "HQ"
    across = invoke("diff", "--db", str(central), "1", "3")
    assert across.exit_code == 2 and "not 'HQ'" in across.output
    unknown = invoke("devices", "--db", str(central), "--site", "Nowhere")
    assert unknown.exit_code == 2 and "no scans of site 'Nowhere'" in unknown.output
    wrong = invoke("devices", "--db", str(central), "--site", "HQ", "--scan", "3")
    assert wrong.exit_code == 2 and "scan 3 is of site 'Annex'" in wrong.output


def test_the_same_scan_exported_again_is_recognised_by_its_identity(tmp_path):
    """A re-export (another generated_at, so other bytes) of an imported scan changes nothing either."""
    [path] = _site_documents(tmp_path, "HQ", nights=1)
    central = tmp_path / "estate.db"
    assert invoke("import", "--db", str(central), str(path)).exit_code == 0
    doc = json.loads(path.read_text())
    doc["generated_at"] = "2030-01-01T00:00:00Z"
    again = tmp_path / "again.json"
    again.write_text(json.dumps(doc))
    before = _sha(central)
    result = invoke("import", "--db", str(central), str(again))
    assert result.exit_code == 0 and "already imported (scan 1)" in result.output
    assert _sha(central) == before
