"""The one reader of operator files (auditor/opfile.py): one place opens and parses them.

Every loader (rules, audit config, credentials, knowledge base, lab fleet, inventory
CSV, @file targets) goes through it, so a limit added here holds for all of them.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import pytest

from auditor import opfile
from auditor.errors import OperatorError
from auditor.opfile import LineDict, LineList, Value

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"
ROOT = PACKAGE.parent


def _parse(text: str, fmt: Literal["yaml", "toml"] = "yaml", text_scalars: bool = False) -> Value:
    return opfile.parse(text.encode(), "f", fmt=fmt, text_scalars=text_scalars)


def test_only_opfile_parses_yaml_or_toml() -> None:
    """No other module may parse operator files its own way (demo.py only writes YAML)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "opfile.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "tomllib" in names or ("yaml" in names and rel != "commands/demo.py"):
                    offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "yaml" \
                    and node.attr in ("load", "safe_load", "compose", "full_load", "unsafe_load"):
                offenders.append(f"{rel}:{node.lineno} yaml.{node.attr}")
    assert offenders == []


def test_yaml_and_toml_give_the_same_line_aware_data() -> None:
    y = _parse("site: s\nlimits:\n  rate: 5\n  ports: [80, 443]\n")
    t = _parse('site = "s"\n[limits]\nrate = 5\nports = [80, 443]\n', "toml")
    assert y.data == t.data == {"site": "s", "limits": {"rate": 5, "ports": [80, 443]}}
    for value in (y, t):
        assert isinstance(value.data, LineDict) and isinstance(value.data["limits"]["ports"], LineList)
        top = value.mapping("file")
        assert top["site"].key_line == 1
        assert top["limits"].mapping("limits")["rate"].line == 3


def test_toml_lines_for_quoted_dotted_and_array_tables() -> None:
    t = _parse('[hosts."10.0.0.1"]\nuser = "a"\n\n[[cams]]\nname = "x"\n[[cams]]\nname = "y"\n', "toml")
    hosts = t.mapping("file")["hosts"].mapping("hosts")
    assert hosts["10.0.0.1"].key_line == 1 and hosts["10.0.0.1"].mapping("h")["user"].line == 2
    cams = t.mapping("file")["cams"].sequence("cams")
    assert [c.line for c in cams] == [4, 6] and cams[1].mapping("cam")["name"].line == 7


def test_timestamps_stay_text_and_text_scalars_keep_what_was_written() -> None:
    v = _parse("when: 2026-13-01\nok: 2026-01-02\n").mapping("f")
    assert v["when"].data == "2026-13-01"
    with pytest.raises(OperatorError, match=r"^f:1: when must be a date YYYY-MM-DD"):
        v["when"].date("when")
    assert str(v["ok"].date("ok")) == "2026-01-02"
    raw = _parse("password: no\npin: 012345\nempty:\n", text_scalars=True).data
    assert raw == {"password": "no", "pin": "012345", "empty": ""}


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
    ("1: x\n", 1, "keys must be strings"),
    ("a: [1,\n", 2, "invalid YAML syntax"),
    ("a: &x [*x]\n", 1, "recursive alias"),
])
def test_parse_errors_are_one_line_with_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(OperatorError) as err:
        _parse(text)
    assert err.value.line == line and words in str(err.value) and "\n" not in str(err.value)


def test_read_refuses_unreadable_oversized_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="cannot read rules file"):
        opfile.load(tmp_path / "absent.yaml", "rules file")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (opfile.MAX_BYTES + 1))
    with pytest.raises(OperatorError, match="config larger than"):
        opfile.load(big, "config")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"site: caf\xe9\n")
    with pytest.raises(OperatorError, match="not UTF-8"):
        opfile.load(latin, "config")


def test_checks_name_the_value_and_its_line() -> None:
    top = _parse("title: 42\nflag: yes\nlist: [a, 3]\nn: x\n").mapping("rule", ("title", "flag", "list", "n"))
    with pytest.raises(OperatorError, match=r"^f:1: title must be a string, not a number \(42\)"):
        top["title"].string("title")
    assert top["flag"].boolean("flag") is True
    with pytest.raises(OperatorError, match=r"^f:3: list item must be a string"):
        top["list"].strings("list")
    with pytest.raises(OperatorError, match=r"^f:4: n must be a number"):
        top["n"].number("n")
    with pytest.raises(OperatorError, match=r"^f:1: unknown key 'title' in rule"):
        _parse("title: 42\n").mapping("rule", ("id",))
    with pytest.raises(OperatorError, match=r"^f:1: missing required key 'id' in rule"):
        _parse("title: 42\n").mapping("rule", required=("id",))


@dataclasses.dataclass(frozen=True)
class _Port:
    number: int
    proto: Literal["tcp", "udp"] = "tcp"


@dataclasses.dataclass(frozen=True)
class _Host:
    name: str
    ports: tuple[_Port, ...] = ()
    note: str | None = None


def test_convert_builds_typed_records_and_refuses_what_does_not_fit() -> None:
    host = _parse("name: cam\nports:\n  - {number: 80}\n  - {number: 53, proto: udp}\n").convert(_Host, "host")
    assert host == _Host("cam", (_Port(80), _Port(53, "udp")))
    for text, line, words in [("name: cam\nports: [{number: http}]\n", 2, "must be a whole number"),
                              ("name: cam\nports: [{number: 1, proto: sctp}]\n", 2, "not one of"),
                              ("name: cam\ncolour: red\n", 2, "unknown key 'colour' for _Host"),
                              ("ports: []\n", 1, "missing required key 'name' for _Host")]:
        with pytest.raises(OperatorError) as err:
            _parse(text).convert(_Host, "host")
        assert err.value.line == line and words in str(err.value), str(err.value)


def test_toml_lines_are_right_or_absent_never_guessed() -> None:
    """A ``key = …`` inside a multi-line string is text, not a key; items of a multi-line
    array each get the line they start on (the old pattern scan put them elsewhere)."""
    t = _parse('note = """\nsite = 1\n[other]\n"""\nsite = "S"\ntargets = [\n  "a",  # x, y\n\n  "b,c",\n]\n'
               '[other]\nk = [1,\n 2]\n', "toml")
    top = t.mapping("file")
    assert top["site"].key_line == 5 and top["note"].key_line == 1
    assert [v.line for v in top["targets"].sequence("targets")] == [7, 9]
    other = top["other"].mapping("other")
    assert other["k"].key_line == 12 and [v.line for v in other["k"].sequence("k")] == [12, 13]


def _python_only(text: str, path: str, text_scalars: bool = False) -> object:
    """What PyYAML's own composer (the checked one) makes of ``text``."""
    with mock.patch.object(opfile, "_compose_fast", return_value=False):
        return opfile._parse_yaml(text, path, text_scalars)


@pytest.mark.parametrize("path", sorted(str(p) for d in ("seeds", "rules", "tests/real/manifest", "examples")
                                        for p in (ROOT / d).rglob("*.yaml")), ids=lambda p: Path(p).name)
def test_the_libyaml_fast_path_reads_every_shipped_file_as_the_checked_composer_does(path: str) -> None:
    """Values, types and the lines every error will name: the same with and without libyaml."""
    text = Path(path).read_text(encoding="utf-8")
    assert opfile._compose_fast(text) is not False, "a shipped file should need none of the slow path's checks"
    for text_scalars in (False, True):
        fast, slow = opfile._parse_yaml(text, path, text_scalars), _python_only(text, path, text_scalars)
        assert fast == slow and _lines(fast) == _lines(slow)


def _lines(value: Any) -> list[Any]:
    """Every line a parsed file remembers (of each mapping, key, list and item), in document order."""
    if isinstance(value, opfile.LineDict):
        return [value.line, *((k, value.key_lines.get(k), _lines(v)) for k, v in value.items())]
    if isinstance(value, opfile.LineList):
        return [value.line, *((line, _lines(v)) for line, v in zip(value.item_lines, value, strict=True))]
    return []


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: *x\n",  # an alias: counted and bounded by the Python composer
    "a: !!python/object:os.system x\n",  # a tag to refuse
    "a: " + "[" * (opfile.MAX_DEPTH + 1) + "]" * (opfile.MAX_DEPTH + 1) + "\n",  # too deep, empty innermost
    "a: b\x85c\n",  # a character PyYAML's reader refuses
    "a: [1, 2\n",  # a syntax error, reported with its line
])
def test_what_needs_a_check_or_an_error_line_goes_to_the_checked_composer(text: str) -> None:
    assert opfile._compose_fast(text) is False
