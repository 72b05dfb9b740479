"""Read YAML as nodes so every complaint can name ``file:line``.

PyYAML's ``compose`` keeps each node's start mark; values are built one node at a
time by the schema code, which asks for the type it expects and gets a one-line
``OperatorError`` (``path:line: what``) otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import OperatorError

MAX_BYTES = 2 * 1024 * 1024
"""Rules files are written by people; anything larger is a mistake."""

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


@dataclass(frozen=True)
class Source:
    """One YAML file being read: knows its path for error messages."""

    path: str

    def error(self, node: yaml.Node | None, message: str) -> OperatorError:
        return OperatorError(message, self.path, line_of(node) if node is not None else None)

    def compose(self, data: bytes) -> yaml.Node | None:
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
            raise OperatorError(f"YAML syntax: {what}", self.path, line) from None
        except yaml.YAMLError as exc:
            raise OperatorError(f"YAML syntax: {exc}", self.path) from None

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
            return _CONSTRUCTOR.construct_object(node, deep=True)
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
