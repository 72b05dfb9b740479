"""The one line-aware YAML reader: every complaint names ``file:line``.

Operator-written YAML (rules, audit config, credentials, knowledge seeds, lab
fleet) is read here so size limits, UTF-8 and syntax errors, duplicate keys and
line numbers behave the same everywhere. Two ways to use a :class:`Source`:

* ``compose`` → nodes, validated one at a time with ``mapping``/``string``/…
  (each asks for the type it expects and raises a one-line ``OperatorError``);
* ``load`` → plain Python data whose mappings are :class:`LineDict` (they
  remember their own line and each key's line; see :func:`line_at`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import OperatorError

MAX_BYTES = 2 * 1024 * 1024
"""These files are written by people; anything larger is a mistake."""

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class LineDict(dict[str, Any]):
    """A mapping loaded from YAML that remembers its line and each key's line (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}


def line_at(data: Any, key: str | None = None, fallback: int | None = None) -> int | None:
    """Line of ``key`` in ``data`` (else of ``data`` itself), or ``fallback`` for data without lines (JSON)."""
    if isinstance(data, LineDict):
        if key is not None and key in data.key_lines:
            return data.key_lines[key]
        return data.line
    return fallback


@dataclass(frozen=True)
class Source:
    """One YAML file being read: knows its path for error messages."""

    path: str

    def error(self, node: yaml.Node | None, message: str) -> OperatorError:
        return OperatorError(message, self.path, line_of(node) if node is not None else None)

    def compose(self, data: bytes | str) -> yaml.Node | None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise OperatorError(f"file larger than {MAX_BYTES} bytes", self.path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OperatorError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", self.path) from None
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
            line = int(mark.line) + 1 if mark is not None else None
            raise OperatorError(f"invalid YAML syntax: {what}", self.path, line) from None
        except yaml.YAMLError as exc:
            raise OperatorError(f"invalid YAML syntax: {exc}", self.path) from None

    def load(self, data: bytes | str) -> Any:
        """Plain data (None for an empty document); mappings are :class:`LineDict`.

        Duplicate and non-string keys are refused, naming the key's line.
        """
        node = self.compose(data)
        if node is None:
            return None
        constructor = _LineConstructor(self)
        try:
            return constructor.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid value"
            raise OperatorError(f"invalid YAML value: {what}", self.path,
                                int(mark.line) + 1 if mark is not None else None) from None

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None,
                required: tuple[str, ...] = ()) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys → (key node, value node); refuses duplicate, non-string and (if ``allowed``) unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping, not {kind_of(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise self.error(key_node, f"{what}: keys must be strings")
            key = str(key_node.value)
            if key in out:
                raise self.error(key_node, f"{what}: duplicate key {key!r}")
            if allowed is not None and key not in allowed:
                raise self.error(key_node, f"{what}: unknown key {key!r} (expected one of: {', '.join(allowed)})")
            out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                raise self.error(node, f"{what}: missing required key {key!r}")
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list, not {kind_of(node)}")
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value, not {kind_of(node)}")
        try:
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            raise self.error(node, f"{what}: invalid value {node.value!r} ({exc})") from None

    def string(self, node: yaml.Node, what: str, allow_empty: bool = False) -> str:
        value = self.scalar(node, what)
        if not isinstance(value, str):
            raise self.error(node, f"{what} must be a string, not {type_name(value)}")
        if not allow_empty and not value.strip():
            raise self.error(node, f"{what} must not be empty")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node, what)
        if not isinstance(value, bool):
            raise self.error(node, f"{what} must be true or false, not {type_name(value)}")
        return value

    def date(self, node: yaml.Node, what: str) -> dt.date:
        if isinstance(node, yaml.ScalarNode) and _ISO_DAY.match(str(node.value).strip()):
            try:
                return dt.date.fromisoformat(str(node.value).strip())
            except ValueError:
                pass
        shown = node.value if isinstance(node, yaml.ScalarNode) else kind_of(node)
        raise self.error(node, f"{what} must be a date YYYY-MM-DD, not {shown!r}")

    def strings(self, node: yaml.Node, what: str) -> list[str]:
        return [self.string(item, f"{what} item") for item in self.sequence(node, what)]


class _LineConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor building mappings as :class:`LineDict`."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source

    def construct_line_mapping(self, node: yaml.MappingNode) -> LineDict:
        self.flatten_mapping(node)  # YAML merge keys ("<<: *base")
        result = LineDict(line_of(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise self.source.error(key_node, f"keys must be strings, got {key!r}")
            if key in result:
                raise self.source.error(key_node, f"duplicate key {key!r}")
            try:
                result[key] = self.construct_object(value_node, deep=True)
            except ValueError as exc:  # e.g. an impossible date such as 2026-13-01
                raise self.source.error(value_node, f"{key}: invalid value ({exc})") from None
            result.key_lines[key] = line_of(key_node)
        return result


# Not ``add_constructor``: its stubs want a Loader, and a constructor on its own is all ``load`` needs.
_LineConstructor.yaml_constructors = {
    **yaml.constructor.SafeConstructor.yaml_constructors,
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG: _LineConstructor.construct_line_mapping,
}


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the value {node.value!r}" if node.value != "" else "an empty value"


def type_name(value: Any) -> str:
    if value is None:
        return "an empty value"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__) + (f" ({value!r})" if not isinstance(value, str) else "")


def read_source(path: Path) -> tuple[Source, bytes]:
    src = Source(str(path))
    try:
        return src, path.read_bytes()
    except OSError as exc:
        raise OperatorError(f"cannot read: {exc.strerror or exc}", str(path)) from None
