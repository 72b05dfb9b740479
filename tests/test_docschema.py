"""The scan document's JSON Schema (schemas/) is the one description: valid as a schema,
met by every document camaudit writes and by the shapes earlier releases wrote."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fixtures.report.make_doc import make_doc
from jsonschema import Draft202012Validator

from auditor.docschema import SCHEMA_FILE, first_departure, schema, validate_document
from auditor.resources import data_dir

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "report").glob("*.json"))


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())
    assert (data_dir("schemas") / SCHEMA_FILE).is_file()
    assert schema()["properties"]["schema_version"] == {"const": 1, "description": schema()["properties"][
        "schema_version"]["description"]}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_documents_validate(path: Path) -> None:
    assert validate_document(json.loads(path.read_text(encoding="utf-8"))) == []


def test_generated_documents_validate() -> None:
    assert validate_document(make_doc(300)) == []


def test_the_shape_of_the_first_release_validates() -> None:
    """Before waivers kept their source and devices their first sighting, documents had neither."""
    doc = make_doc()
    for waiver in doc["waivers"]:
        waiver.pop("source", None)
    for device in doc["devices"]:
        device.pop("first_seen_scan", None)
        device.pop("first_seen", None)
    doc["scan"].pop("kind", None)  # before `camaudit classify`, every document was a network scan's
    doc["scan"].pop("source", None)
    doc.pop("history", None)
    assert validate_document(doc) == []


def test_an_inventory_import_document_validates_and_its_source_is_checked() -> None:
    doc = make_doc()
    doc["scan"].update(kind="import", source={
        "path": "vms-export.csv", "sha256": "ab" * 32, "format": "csv", "rows": 2,
        "columns": {"ip": ["IP Address"], "model": ["Model Number"]}, "ignored": ["Location"]})
    assert validate_document(doc) == []
    doc["scan"].update(kind="scan", source=None)
    assert validate_document(doc) == []
    bad = copy.deepcopy(doc)
    bad["scan"]["kind"] = "inventory"
    assert any(e.startswith("scan.kind") for e in validate_document(bad)), validate_document(bad)
    bad = copy.deepcopy(doc)
    bad["scan"].update(kind="import", source={"path": "x.csv", "columns": "ip"})
    assert any(e.startswith("scan.source") for e in validate_document(bad)), validate_document(bad)


def test_unknown_keys_are_allowed_within_a_version() -> None:
    doc = make_doc()
    doc["devices"][0]["behind"] = "mac:00:11:22:33:44:55"
    doc["scan"]["something_new"] = {"x": 1}
    assert validate_document(doc) == []


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.pop("scan"), "scan: missing"),
    (lambda d: d["devices"][0].update(open_ports=[80, 70000]), "devices[0].open_ports[1]"),
    (lambda d: d["devices"][0].update(ip=""), "devices[0].ip"),
    (lambda d: d["scan"].update(id="3"), "scan.id"),
    (lambda d: d["devices"][0]["evidence"][0].update(strength="huge"), "devices[0].evidence[0].strength"),
    (lambda d: d["changes"]["changed_devices"].append({"id": "x", "ip": "1", "changes": {"ip": [1]}}),
     "changes.changed_devices"),
])
def test_departures_name_where(mutate, where) -> None:
    doc = copy.deepcopy(make_doc())
    mutate(doc)
    found = first_departure(doc)
    assert found is not None
    assert any(e.startswith(where) for e in validate_document(doc)), validate_document(doc)


def test_a_hostile_value_is_cut_in_the_message() -> None:
    doc = make_doc()
    doc["devices"][0]["confidence"] = "x" * 5000
    errors = validate_document(doc)
    assert errors and all(len(e) < 300 for e in errors)


def test_not_an_object() -> None:
    assert validate_document([1, 2]) == ["document: [1, 2] is not of type 'object'"]
