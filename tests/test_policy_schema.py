"""Rules files: every mistake is one line naming file:line, and nothing loads half-checked."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from auditor.errors import OperatorError
from auditor.policy import load_policy

RULE = """\
rules:
  - id: t.rule
    title: A rule
    severity: low
    match:
{match}
    message: "{message}"
"""


def _write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _rule(match: str = "      covered: is_true", message: str = "{ip}") -> str:
    return RULE.format(match=match, message=message)


# (rules file text, line the error must name, words the message must hold)
BAD: list[tuple[str, int, str]] = [
    ("rulez: []\n", 1, "unknown key 'rulez'"),
    ("rules:\n  - id: x\n", 2, "missing required key 'title'"),
    (_rule().replace("    title: A rule\n", "    title: A rule\n    colour: red\n"), 4, "unknown key 'colour'"),
    (_rule().replace("severity: low", "severity: severe"), 4, "severity 'severe' is not one of"),
    (_rule().replace("title: A rule", "title: [a, b]"), 3, "title must be a single value"),
    (_rule().replace("title: A rule", "title: 42"), 3, "title must be a string"),
    (_rule().replace("id: t.rule", "id: Bad Id"), 2, "rule id 'Bad Id'"),
    (_rule("      makr: {equals: Axis}"), 6, "unknown fact or combinator 'makr'"),
    (_rule("      maker: {eqals: Axis}"), 6, "unknown operator 'eqals'"),
    (_rule("      maker: {gt: 3}"), 6, "operator 'gt' does not apply to a str fact"),
    (_rule("      open_ports: {regex: '2.'}"), 6, "operator 'regex' does not apply"),
    (_rule("      maker: {regex: '(unclosed'}"), 6, "not a valid RE2 regular expression"),
    (_rule("      maker: {in: Axis}"), 6, "needs a non-empty list"),
    (_rule("      maker: {equals: [a, b]}"), 6, "needs a single value"),
    (_rule("      covered: {is_true: yes please}"), 6, "needs true or false"),
    (_rule("      covered: maybe"), 6, "expected {operator: argument}"),
    (_rule("      clock_skew_s: {gt: soon}"), 6, "needs a number"),
    (_rule("      firmware: {version_lt: latest}"), 6, "holds no version number"),
    (_rule("      ip: {in_subnet: [198.18.0.1/24]}"), 6, "bad subnet"),
    (_rule("      all: []"), 6, "needs at least one condition"),
    (_rule("      any: {maker: {equals: Axis}}"), 6, "must be a list"),
    (_rule("      not: [{maker: {equals: Axis}}]"), 6, "must be a mapping"),
    (_rule("      maker: {equals: Axis, equals: Bosch}"), 6, "duplicate key 'equals'"),
    (_rule(message="{ip.__class__}"), 7, "unknown placeholder {ip.__class__}"),
    (_rule(message="{0}"), 7, "unknown placeholder {0}"),
    (_rule(message="{ip!r}"), 7, "format specs and conversions"),
    (_rule(message="{ip"), 7, "literal braces"),
    (_rule() + "  - id: t.rule\n    title: again\n    severity: low\n    match: {covered: is_true}\n"
     "    message: m\n", 8, "duplicate rule id 't.rule' (first defined at"),
    ("zones:\n  cams:\n    subnets: [198.18.0.0/33]\n", 3, "bad subnet"),
    ("zones:\n  cams:\n    subnet: [198.18.0.0/24]\n", 3, "unknown key 'subnet'"),
    (_rule("      zones: {contains: cameras}"), 6, "unknown zone 'cameras'"),
    (_rule() + "waivers:\n  - {device: 'aa:bb:cc:dd:ee:ff', rule: t.rule, reason: r, owner: o, ticket: T-1,"
     " expires: 2026-13-01}\n", 9, "expires must be a date"),
    (_rule() + "waivers:\n  - {device: 'aa:bb:cc:dd:ee:ff', rule: t.rule, reason: r, owner: o}\n", 9,
     "missing required key 'ticket'"),
    (_rule() + "waivers:\n  - device: 'aa:bb:cc:dd:ee:ff'\n    rule: t.rul\n    reason: r\n    owner: o\n"
     "    ticket: T-1\n    expires: 2027-01-01\n", 10, "waiver names unknown rule 't.rul'"),
    ("rules:\n  - id: a\n   title: x\n", 3, "YAML syntax"),
    ("rules: [\n", 2, "YAML syntax"),
    ("- just\n- a list\n", 1, "rules file must be a mapping"),
    (_rule() + "inventory: missing.csv\n", 8, "inventory file"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD, ids=[b[2][:40] for b in BAD])
def test_schema_error_is_one_line_with_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(OperatorError) as info:
        load_policy([path])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert info.value.path == str(path) and info.value.line == line


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing\n")
    with pytest.raises(OperatorError, match="empty rules file"):
        load_policy([path])


def test_missing_file_is_an_operator_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="cannot read"):
        load_policy([tmp_path / "nope.yaml"])


def test_bad_inventory_row_names_the_csv_line(tmp_path: Path) -> None:
    (tmp_path / "inv.csv").write_text("mac,serial,location,owner\naa:bb:cc:dd:ee:ff,,a,b\nnot-a-mac,,c,d\n")
    path = _write(tmp_path, _rule() + "inventory: inv.csv\n")
    with pytest.raises(OperatorError) as info:
        load_policy([path])
    assert str(info.value).startswith(f"{tmp_path / 'inv.csv'}:3: bad MAC address 'not-a-mac'")


def test_inventory_row_without_mac_or_serial(tmp_path: Path) -> None:
    (tmp_path / "inv.csv").write_text("mac,serial,location,owner\n,,desk,me\n")
    path = _write(tmp_path, _rule() + "inventory: inv.csv\n")
    with pytest.raises(OperatorError, match=r"inv.csv:2: row has neither a mac nor a serial"):
        load_policy([path])


def test_inventory_without_header(tmp_path: Path) -> None:
    (tmp_path / "inv.csv").write_text("aa:bb:cc:dd:ee:ff,,desk,me\n")
    path = _write(tmp_path, _rule() + "inventory: inv.csv\n")
    with pytest.raises(OperatorError, match=r"inv.csv:1: inventory needs a header row"):
        load_policy([path])


def test_policy_records_files_and_hashes(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "inv.csv").write_text("mac,serial,location,owner\nAA-BB-CC-DD-EE-FF,,desk,me\n,SN1,shelf,you\n")
    path = _write(tmp_path, _rule() + "inventory: inv.csv\n")
    policy = load_policy([path])
    csv_path = tmp_path / "inv.csv"
    assert policy.files == ((str(path), hashlib.sha256(path.read_bytes()).hexdigest()),
                            (str(csv_path), hashlib.sha256(csv_path.read_bytes()).hexdigest()))
    assert policy.inventory is not None
    assert [(e.mac, e.serial) for e in policy.inventory] == [("aa:bb:cc:dd:ee:ff", None), (None, "SN1")]
