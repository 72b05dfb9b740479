"""The closed registry of report formats, and the JSON and CSV writers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fixtures.report.make_doc import HOSTILE_SCRIPT, make_doc

from auditor.commands.report import report as report_command
from auditor.errors import OperatorError
from auditor.report import (
    FORMATS,
    ReportFormat,
    format_for_path,
    get_format,
    render_csv,
    render_json,
    write_report,
)
from auditor.report.format_csv import DEVICE_COLUMNS, FINDING_COLUMNS


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_registered_format_is_wired(name: str) -> None:
    fmt = get_format(name)
    assert isinstance(fmt, ReportFormat) and fmt.name == name
    assert fmt.suffix.startswith(".") and format_for_path(Path("x" + fmt.suffix.upper())) == name
    text = fmt.render(make_doc())
    assert text.endswith("\n") and len(text) > 100


def test_cli_offers_exactly_the_registered_formats() -> None:
    option = next(p for p in report_command.params if p.name == "fmt")
    assert list(option.type.choices) == list(FORMATS)  # type: ignore[attr-defined]


def test_unknown_format_is_an_operator_error() -> None:
    with pytest.raises(OperatorError, match="unknown report format 'pdf'"):
        get_format("pdf")


def test_format_for_path_defaults_to_html() -> None:
    assert format_for_path(Path("report")) == "html" and format_for_path(Path("r.htm")) == "html"


def test_json_is_the_document_itself() -> None:
    doc = make_doc()
    text = render_json(doc)
    assert json.loads(text) == doc
    assert text == render_json(make_doc())  # deterministic
    assert text.startswith('{\n  "schema_version": 1,')
    assert HOSTILE_SCRIPT in text  # JSON carries data verbatim; escaping is the HTML writer's job


def test_csv_devices_one_row_each() -> None:
    doc = make_doc()
    rows = list(csv.DictReader(io.StringIO(render_csv(doc))))
    assert len(rows) == len(doc["devices"])
    assert tuple(rows[0]) == DEVICE_COLUMNS
    by_ip = {r["ip"]: r for r in rows}
    lts = by_ip["198.18.0.12"]
    assert (lts["maker"], lts["brand"], lts["relation"], lts["covered"], lts["finding_count"]) == \
        ("Hikvision", "LTS", "OEM relabel", "true", "2")
    assert lts["open_ports"] == "80; 554; 8000"
    assert by_ip["198.18.32.50"]["mac"] == "" and by_ip["198.18.32.50"]["scan_id"] == "3"


def test_csv_findings_one_row_each() -> None:
    doc = make_doc()
    rows = list(csv.DictReader(io.StringIO(render_csv(doc, "findings"))))
    assert len(rows) == len(doc["findings"]) and tuple(rows[0]) == FINDING_COLUMNS
    waived = [r for r in rows if r["waived"] == "true"]
    assert {r["waiver_state"] for r in waived} == {"active", "expiring"}
    assert rows[0]["severity"] == "critical" and rows[0]["maker"] == "Hikvision"


def test_csv_defuses_spreadsheet_formulas() -> None:
    doc = make_doc()
    doc["devices"][0]["model"] = "=HYPERLINK(\"http://x\",\"y\")"
    doc["devices"][0]["brand"] = "@SUM(1)"
    row = next(csv.DictReader(io.StringIO(render_csv(doc))))
    assert row["model"].startswith("'=") and row["brand"] == "'@SUM(1)"


def test_csv_rejects_unknown_table() -> None:
    with pytest.raises(ValueError):
        render_csv(make_doc(), "waivers")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(FORMATS))
def test_write_report_is_atomic_and_complete(tmp_path: Path, name: str) -> None:
    target = tmp_path / f"r{FORMATS[name].suffix}"
    assert write_report(make_doc(), target, name) == target
    assert target.read_bytes().decode("utf-8") == get_format(name).render(make_doc())
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


def test_write_report_failure_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(OperatorError):
        write_report({"schema_version": 99}, tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_sample_documents_match_their_generator() -> None:
    from fixtures.report import make_doc as generator

    folder = Path(generator.__file__).parent
    for name, build in generator.SAMPLES.items():
        on_disk = json.loads((folder / name).read_text(encoding="utf-8"))
        assert on_disk == build(), f"{name} is stale: run python tests/fixtures/report/make_doc.py"
        assert 'data-verdict="' in get_format("html").render(on_disk)
