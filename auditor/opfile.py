"""Operator files: the one place they are opened and parsed, and the one way they are checked.

Every file a person writes for camaudit — rules, the audit config, the credentials,
the knowledge base seeds, the lab fleet, inventory CSVs and ``@file`` target lists —
is opened by :func:`read_bytes` (size cap, one message for an unreadable file) and,
when it is YAML or TOML, parsed by :func:`load` into plain data whose containers
remember their lines (:class:`LineDict`, :class:`LineList`). Loaders then check that
data through :class:`Value`, whose every complaint is one :class:`OperatorError` line
``file:line: what is wrong``; :meth:`Value.convert` builds a typed dataclass from it.

What the parser hands on: str, int, float, bool, None, lists and mappings with string
keys (duplicate keys refused). YAML timestamps stay text (``Value.date`` reads them):
an impossible date is then the validator's clear error, not the parser's. With
``text_scalars`` every scalar is its text as written (a password ``no`` or ``12345``
stays a string).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .errors import OperatorError

MAX_BYTES = 2 * 1024 * 1024
"""These files are written by people; anything larger is a mistake."""

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STR_TAG = "tag:yaml.org,2002:str"


# ---------------------------------------------------------------- opening


def read_bytes(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of an operator file; ``OperatorError`` if it cannot be read or is too large.

    ``what`` names the file for people ("rules file", "config", …).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise OperatorError(f"cannot read {what}: {exc.strerror or exc}", str(p)) from None
    if len(data) > max_bytes:
        raise OperatorError(f"{what} larger than {max_bytes} bytes", str(p))
    return data


def decode(data: bytes, path: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise OperatorError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None


def read_text(path: str | Path, what: str, max_bytes: int = MAX_BYTES, encoding: str = "utf-8") -> str:
    """:func:`read_bytes`, decoded (CSV inventories use ``utf-8-sig``)."""
    return decode(read_bytes(path, what, max_bytes), str(path), encoding)


# ---------------------------------------------------------------- line-aware data


class LineDict(dict[str, Any]):
    """A mapping from an operator file that remembers its line and each key's line (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}


class LineList(list[Any]):
    """A list from an operator file that remembers its line and each item's line."""

    line: int | None = None
    item_lines: list[int | None]

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines = []


def line_at(data: Any, key: str | int | None = None, fallback: int | None = None) -> int | None:
    """Line of ``key`` (a mapping key or list index) in ``data``, else of ``data`` itself,
    else ``fallback`` (data without lines, e.g. JSON)."""
    if isinstance(data, LineDict):
        if isinstance(key, str) and key in data.key_lines:
            return data.key_lines[key]
        return data.line if data.line is not None else fallback
    if isinstance(data, LineList):
        if isinstance(key, int) and 0 <= key < len(data.item_lines) and data.item_lines[key] is not None:
            return data.item_lines[key]
        return data.line if data.line is not None else fallback
    return fallback


@dataclass(frozen=True)
class Document:
    """One operator file, read and parsed."""

    path: str
    raw: bytes
    root: Value
    """The top-level value (``root.data`` is None for an empty file)."""


# ---------------------------------------------------------------- parsing


def load(path: str | Path, what: str, *, toml: bool = False, text_scalars: bool = False,
         max_bytes: int = MAX_BYTES) -> Document:
    """Read and parse one operator file: TOML when ``toml`` and the name ends in ``.toml``,
    else YAML. ``OperatorError`` (``file:line``) for anything unreadable or malformed."""
    p = Path(path)
    raw = read_bytes(p, what, max_bytes)
    fmt: Literal["yaml", "toml"] = "toml" if toml and p.suffix.lower() == ".toml" else "yaml"
    return Document(str(p), raw, parse(raw, str(p), fmt=fmt, text_scalars=text_scalars))


def parse(data: bytes | str, path: str, *, fmt: Literal["yaml", "toml"] = "yaml",
          text_scalars: bool = False) -> Value:
    """Parse operator-file bytes that :func:`read_bytes` read (see :func:`load`)."""
    text = decode(data, path) if isinstance(data, bytes) else data
    tree = _parse_toml(text, path, text_scalars) if fmt == "toml" else _parse_yaml(text, path, text_scalars)
    return Value(path, tree, line_at(tree, None, 1))


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.line) + 1 if mark is not None else None


def _parse_yaml(text: str, path: str, text_scalars: bool) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise OperatorError(f"invalid YAML syntax: {what}", path, _mark_line(exc)) from None
    except yaml.YAMLError as exc:
        raise OperatorError(f"invalid YAML syntax: {exc}", path) from None
    if node is None:
        return None
    if text_scalars:
        for scalar in _scalars(node):
            scalar.tag = _STR_TAG
    constructor = _LineConstructor(path)
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid value"
        raise OperatorError(f"invalid YAML value: {what}", path, _mark_line(exc)) from None


def _scalars(node: yaml.Node) -> Iterable[yaml.ScalarNode]:
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            yield n
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend(item for pair in n.value for item in pair)


def _line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _LineConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor building :class:`LineDict` / :class:`LineList`, timestamps as text."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def construct_line_mapping(self, node: yaml.MappingNode) -> LineDict:
        self.flatten_mapping(node)  # YAML merge keys ("<<: *base")
        result = LineDict(_line_of(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise OperatorError(f"keys must be strings, got {key!r}", self.path, _line_of(key_node))
            if key in result:
                raise OperatorError(f"duplicate key {key!r}", self.path, _line_of(key_node))
            try:
                result[key] = self.construct_object(value_node, deep=True)
            except ValueError as exc:
                raise OperatorError(f"{key}: invalid value ({exc})", self.path, _line_of(value_node)) from None
            result.key_lines[key] = _line_of(key_node)
        return result

    def construct_line_sequence(self, node: yaml.SequenceNode) -> LineList:
        result = LineList(_line_of(node))
        for item in node.value:
            result.append(self.construct_object(item, deep=True))
            result.item_lines.append(_line_of(item))
        return result


# Not ``add_constructor``: its stubs want a Loader, and a constructor on its own is all ``load`` needs.
_LineConstructor.yaml_constructors = {
    **yaml.constructor.SafeConstructor.yaml_constructors,
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG: _LineConstructor.construct_line_mapping,
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG: _LineConstructor.construct_line_sequence,
    "tag:yaml.org,2002:timestamp": yaml.constructor.SafeConstructor.construct_yaml_str,
}

_TOML_KEY = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_TOML_DOTTED = re.compile(rf"{_TOML_KEY}(?:\s*\.\s*{_TOML_KEY})*")
_TOML_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_TOML_DOTTED.pattern})\s*\]\]?\s*(?:#.*)?$")
_TOML_ASSIGN = re.compile(rf"^\s*({_TOML_DOTTED.pattern})\s*=")


def _toml_keys(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_TOML_KEY, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _toml_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Where each table and key is (tomllib keeps no positions): path → first line.

    An approximation good for error messages: headers and ``key =`` lines are found by
    pattern (keys in inline tables get their table's line).
    """
    index: dict[tuple[str | int, ...], int] = {}
    arrays: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    for no, line in enumerate(text.splitlines(), 1):
        if header := _TOML_HEADER.match(line):
            keys: tuple[str | int, ...] = _toml_keys(header.group(2))
            if header.group(1) == "[[":
                count = arrays.get(keys, 0)
                arrays[keys] = count + 1
                index.setdefault(keys, no)
                keys = (*keys, count)
            for i in range(1, len(keys) + 1):
                index.setdefault(keys[:i], no)
            table = keys
        elif assign := _TOML_ASSIGN.match(line):
            keys = (*table, *_toml_keys(assign.group(1)))
            for i in range(len(table) + 1, len(keys) + 1):
                index.setdefault(keys[:i], no)
    return index


def _parse_toml(text: str, path: str, text_scalars: bool) -> LineDict:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise OperatorError(f"invalid TOML: {exc}", path, int(m.group(1)) if m else None) from None
    index = _toml_lines(text)

    def wrap(value: Any, where: tuple[str | int, ...], line: int | None) -> Any:
        if isinstance(value, dict):
            out = LineDict(line)
            for k, v in value.items():
                key_line = index.get((*where, k), line)
                out[k] = wrap(v, (*where, k), key_line)
                if key_line is not None:
                    out.key_lines[k] = key_line
            return out
        if isinstance(value, list):
            items = LineList(line)
            for i, v in enumerate(value):
                item_line = index.get((*where, i), line)
                items.append(wrap(v, (*where, i), item_line))
                items.item_lines.append(item_line)
            return items
        if isinstance(value, dt.date | dt.time):
            return value.isoformat()
        if text_scalars and not isinstance(value, str):
            return str(value)
        return value

    root = wrap(data, (), 1)
    assert isinstance(root, LineDict)
    return root


# ---------------------------------------------------------------- checking


def describe(data: Any) -> str:
    """A value as a person would name it in an error message."""
    if isinstance(data, dict):
        return "a mapping"
    if isinstance(data, list):
        return "a list"
    if data is None or data == "":
        return "an empty value"
    if isinstance(data, bool):
        return f"a boolean ({data!r})"
    if isinstance(data, int | float):
        return f"a number ({data!r})"
    return f"the value {data!r}"


@dataclass(frozen=True)
class Value:
    """A value of an operator file with the line it stands on, and the checks that read it.

    Each check returns plain data or raises ``OperatorError`` naming the file and
    the value's line; ``what`` names the value for people ("rule t.x: severity").
    """

    path: str
    data: Any
    line: int | None = None
    key_line: int | None = None
    """Line of the key this value stands under (None at the top level and in lists)."""

    def error(self, message: str, *, at_key: bool = False) -> OperatorError:
        line = self.key_line if at_key and self.key_line is not None else self.line
        return OperatorError(message, self.path, line)

    def _child(self, data: Any, line: int | None, key_line: int | None = None) -> Value:
        own = data.line if isinstance(data, LineDict | LineList) and data.line is not None else None
        return Value(self.path, data, own if own is not None else line, key_line)

    # -- shape

    def is_mapping(self) -> bool:
        return isinstance(self.data, dict)

    def is_list(self) -> bool:
        return isinstance(self.data, list)

    def is_text(self) -> bool:
        return isinstance(self.data, str)

    def mapping(self, what: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> dict[str, Value]:
        """Keys → values; refuses a non-mapping, (if ``allowed``) unknown and missing required keys."""
        if not isinstance(self.data, dict):
            raise self.error(f"{what} must be a mapping, not {describe(self.data)}")
        known = tuple(allowed) if allowed is not None else None
        out: dict[str, Value] = {}
        for key, value in self.data.items():
            key_line = line_at(self.data, key, self.line)
            if not isinstance(key, str):
                raise OperatorError(f"{what}: keys must be strings", self.path, key_line)
            if known is not None and key not in known:
                raise OperatorError(f"unknown key {key!r} in {what} (expected one of: {', '.join(known)})",
                                    self.path, key_line)
            out[key] = self._child(value, key_line, key_line)
        for key in required:
            if key not in out:
                raise self.error(f"missing required key {key!r} in {what}")
        return out

    def get(self, key: str) -> Value | None:
        """The value under ``key`` of a mapping; None when absent or null."""
        if not isinstance(self.data, dict) or self.data.get(key) is None:
            return None
        line = line_at(self.data, key, self.line)
        return self._child(self.data[key], line, line)

    def require(self, key: str) -> Value:
        """The value under ``key``; ``missing 'key'`` when absent or null."""
        found = self.get(key)
        if found is None:
            raise self.error(f"missing {key!r}")
        return found

    def sequence(self, what: str) -> list[Value]:
        if not isinstance(self.data, list):
            raise self.error(f"{what} must be a list, not {describe(self.data)}")
        return [self._child(item, line_at(self.data, i, self.line)) for i, item in enumerate(self.data)]

    def mappings(self, what: str) -> list[Value]:
        """A list whose every item is a mapping."""
        items = self.sequence(what) if isinstance(self.data, list) else None
        if items is None or not all(item.is_mapping() for item in items):
            raise self.error(f"{what} must be a list of mappings")
        return items

    # -- scalars

    def scalar(self, what: str) -> Any:
        if isinstance(self.data, dict | list):
            raise self.error(f"{what} must be a single value, not {describe(self.data)}")
        return self.data

    def string(self, what: str, allow_empty: bool = False) -> str:
        value = self.scalar(what)
        if not isinstance(value, str):
            raise self.error(f"{what} must be a string, not {describe(value)}")
        if not allow_empty and not value.strip():
            raise self.error(f"{what} must not be empty")
        return value

    def text(self, what: str) -> str:
        """Lenient: a string, or a number written where text is meant (a version ``5.5``)."""
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(f"{what} must be text, not {describe(value)}")
        return str(value)

    def texts(self, what: str) -> tuple[str, ...]:
        """One text or a list of them."""
        if isinstance(self.data, list):
            values = self.sequence(what)
            if all(isinstance(v.data, str) for v in values):
                return tuple(v.data for v in values)
        elif isinstance(self.data, str):
            return (self.data,)
        raise self.error(f"{what} must be a list of text")

    def strings(self, what: str) -> list[str]:
        return [item.string(f"{what} item") for item in self.sequence(what)]

    def choice(self, what: str, options: Iterable[str]) -> str:
        value = self.text(what)
        known = tuple(options)
        if value not in known:
            raise self.error(f"{what} is {value!r}, not one of: {', '.join(known)}")
        return value

    def boolean(self, what: str) -> bool:
        value = self.scalar(what)
        if not isinstance(value, bool):
            raise self.error(f"{what} must be true or false, not {describe(value)}")
        return value

    def integer(self, what: str) -> int:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{what} must be a whole number, not {describe(value)}")
        return value

    def number(self, what: str) -> float:
        value = self.scalar(what)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{what} must be a number, not {describe(value)}")
        return float(value)

    def date(self, what: str) -> dt.date:
        value = self.data
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _ISO_DAY.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.error(f"{what} must be a date YYYY-MM-DD, not {describe(value)}")

    def regex(self, what: str, text: str | None = None, *, anchor: str = "",
              flags: re.RegexFlag = re.IGNORECASE) -> re.Pattern[str]:
        """``text`` (default: this value's text) compiled, with ``anchor`` in front."""
        source = self.text(what) if text is None else text
        try:
            return re.compile(anchor + source, flags)
        except re.error as exc:
            raise self.error(f"{what} is not a valid regex ({exc})") from None

    # -- typed records

    def convert(self, tp: Any, what: str, hints: typing.Callable[[type], dict[str, Any]] | None = None) -> Any:
        """This value as type ``tp``: a dataclass (its fields are the allowed keys; those
        without a default are required), ``tuple[X, ...]``, ``dict[K, V]``, ``Literal``,
        ``X | None``, str, int, float, bool or Any. ``hints`` resolves a dataclass's
        field types (default ``typing.get_type_hints``)."""
        resolve = hints or typing.get_type_hints
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any:
            return self.data
        if origin in (Union, types.UnionType):
            if self.data is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise TypeError(f"{what}: unsupported union type {tp}")
            return self.convert(inner[0], what, hints)
        if origin is Literal:
            if self.data not in args:
                raise self.error(f"{what} is {self.data!r}, not one of: {', '.join(repr(a) for a in args)}")
            return self.data
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._record(tp, what, resolve, hints)
        if origin is tuple:
            item_tp = args[0] if args else Any
            return tuple(v.convert(item_tp, f"{what}[{i}]", hints) for i, v in enumerate(self.sequence(what)))
        if origin is dict:
            k_tp, v_tp = args if args else (Any, Any)
            return {Value(self.path, k, v.key_line).convert(k_tp, f"{what} key", hints):
                    v.convert(v_tp, f"{what}.{k}", hints) for k, v in self.mapping(what).items()}
        checks: dict[Any, typing.Callable[[str], Any]] = {
            bool: self.boolean, int: self.integer, float: self.number, str: self.string_any}
        if tp in checks:
            return checks[tp](what)
        raise TypeError(f"{what}: unsupported field type {tp}")

    def string_any(self, what: str) -> str:
        """A string, empty allowed; a number or date where text belongs is refused (quote it)."""
        value = self.scalar(what)
        if not isinstance(value, str):
            raise self.error(f"{what} must be a string (quote it in YAML), not {describe(value)}")
        return value

    def _record(self, cls: type, what: str, resolve: typing.Callable[[type], dict[str, Any]],
                hints: typing.Callable[[type], dict[str, Any]] | None) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if not isinstance(self.data, dict):
            raise self.error(f"{what}: expected a mapping for {cls.__name__}, not {describe(self.data)}")
        for key in self.data:
            if key not in fields:
                raise OperatorError(f"{what}: unknown key {key!r} for {cls.__name__} (known: "
                                    f"{', '.join(sorted(fields))})", self.path, line_at(self.data, key, self.line))
        items = self.mapping(what)
        types_of = resolve(cls)
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in items:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise self.error(f"{what}: missing required key {name!r} for {cls.__name__}")
                continue
            kwargs[name] = items[name].convert(types_of[name], f"{what}.{name}", hints)
        return cls(**kwargs)
