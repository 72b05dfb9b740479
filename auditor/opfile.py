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

What is refused, for every operator file alike (one line each, never a traceback or a
hang): anything but a regular file (a FIFO, ``/dev/zero``, a directory) and a file over
the size cap — both checked before a byte is read; bytes that are not UTF-8; YAML
nested deeper than :data:`MAX_DEPTH`, aliases that expand past :data:`MAX_ALIAS_NODES`
values ("billion laughs") or refer to themselves, tags other than the plain ones
(``!!binary``, ``!!set``, ``!foo``…); non-finite numbers (``.nan``, ``.inf``, ``1e999``)
and integers beyond 64 bits. ``secret`` files (credentials) are also checked for their
owner and mode before reading, and their errors never quote the file's content.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import stat
import tomllib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .errors import OperatorError, shown
from .pattern import Pattern, PatternError, compile_pattern

MAX_BYTES = 2 * 1024 * 1024
"""These files are written by people; anything larger is a mistake."""
MAX_DEPTH = 64
"""Nesting levels a YAML/TOML file may have (the deepest shipped file has 7)."""
MAX_ALIAS_NODES = 200_000
"""Values a YAML file may hold once its aliases (``*name``) are expanded."""
MAX_INT = 2**63
"""Integers are at most 64-bit (a longer run of digits is a mistake, or an attack)."""

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STR_TAG = "tag:yaml.org,2002:str"


# ---------------------------------------------------------------- opening


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path: str | Path, what: str, max_bytes: int = MAX_BYTES, *, secret: bool = False) -> bytes:
    """The bytes of an operator file; ``OperatorError`` if it cannot be read or is too large.

    ``what`` names the file for people ("rules file", "config", …). Only a regular file
    is read, and its size is checked before reading (a FIFO or ``/dev/zero`` never blocks
    or fills memory). ``secret``: see :func:`check_private`.
    """
    p = Path(path)
    if secret:
        check_private_link(p, what)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise OperatorError(f"cannot read {what}: {exc.strerror or exc}", str(p)) from None
    st = os.fstat(fd)  # before fdopen, which refuses a directory with IsADirectoryError
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OperatorError(f"{what} is {_kind(st.st_mode)}, not a regular file", str(p))
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if secret:
            check_private(st, str(p), what)
        if st.st_size > max_bytes:
            raise OperatorError(f"{what} larger than {max_bytes} bytes", str(p))
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise OperatorError(f"cannot read {what}: {exc.strerror or exc}", str(p)) from None
    if data is None or len(data) > max_bytes:  # None: nothing to read yet (cannot happen for a regular file)
        raise OperatorError(f"{what} larger than {max_bytes} bytes", str(p))
    return data


def check_private_link(path: Path, what: str) -> None:
    """A secret file reached through symbolic links: each link must belong to the running user."""
    current, hops = path, 0
    while True:
        try:
            st = os.lstat(current)
        except OSError:
            return  # opening it names the problem
        if not stat.S_ISLNK(st.st_mode):
            return
        if st.st_uid != os.geteuid():
            raise OperatorError(f"{what} is reached through a symbolic link owned by another user "
                                f"(uid {st.st_uid}); refused", str(path))
        hops += 1
        if hops > 40:
            raise OperatorError(f"{what}: too many levels of symbolic links", str(path))
        current = current.parent / os.readlink(current)


def check_private(st: os.stat_result, path: str, what: str) -> None:
    """A secret file (credentials) must be owned by the running user, with no group/other bit."""
    if st.st_uid != os.geteuid():
        raise OperatorError(f"{what} is owned by uid {st.st_uid}, not by the user running camaudit "
                            f"(uid {os.geteuid()}); refused", path)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise OperatorError(f"{what} has mode {mode:04o}: group/others may read or change it; chmod 600 it", path)


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
         max_bytes: int = MAX_BYTES, secret: bool = False) -> Document:
    """Read and parse one operator file: TOML when ``toml`` and the name ends in ``.toml``,
    else YAML. ``OperatorError`` (``file:line``) for anything unreadable or malformed.
    ``secret``: owner and mode checked, and no error quotes the file's content."""
    p = Path(path)
    raw = read_bytes(p, what, max_bytes, secret=secret)
    fmt: Literal["yaml", "toml"] = "toml" if toml and p.suffix.lower() == ".toml" else "yaml"
    return Document(str(p), raw, parse(raw, str(p), fmt=fmt, text_scalars=text_scalars, secret=secret))


def parse(data: bytes | str, path: str, *, fmt: Literal["yaml", "toml"] = "yaml",
          text_scalars: bool = False, secret: bool = False) -> Value:
    """Parse operator-file bytes that :func:`read_bytes` read (see :func:`load`)."""
    text = decode(data, path) if isinstance(data, bytes) else data
    if fmt == "toml":
        tree = _parse_toml(text, path, text_scalars, secret)
    else:
        tree = _parse_yaml(text, path, text_scalars, secret)
    return Value(path, tree, line_at(tree, None, 1))


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.line) + 1 if mark is not None else None


_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                        ("str", "int", "float", "bool", "null", "timestamp", "merge", "map", "seq"))


class _Composer(yaml.SafeLoader):
    """PyYAML's composer with limits: nesting depth, plain tags only (checked as nodes are made)."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.path = path
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            return super().compose_node(parent, index)
        event = self.peek_event()
        collection = isinstance(event, yaml.CollectionStartEvent)
        if collection:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else None
                raise OperatorError(f"nested deeper than {MAX_DEPTH} levels", self.path, line)
        try:
            node = super().compose_node(parent, index)
        finally:
            if collection:
                self.depth -= 1
        if node is not None and node.tag not in _PLAIN_TAGS:
            raise OperatorError(f"YAML tag {shown(node.tag, 40)} is not allowed here (write a plain value)",
                                self.path, _line_of(node))
        return node


def _expanded_size(root: yaml.Node, path: str) -> int:
    """How many values the document holds with every alias expanded; refuses an alias inside itself."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), MAX_ALIAS_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise OperatorError("a YAML alias refers to the value it stands in (recursive alias)",
                                path, _line_of(node))
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _compose_fast(text: str) -> yaml.Node | None | Literal[False]:
    """The document's nodes composed by libyaml (C: about 15 times faster than PyYAML's own composer,
    which is most of the time a command spends loading the knowledge base and rules) when they need
    none of the checks :class:`_Composer` makes: no control character, no alias, no tag but the plain
    ones, no nesting past :data:`MAX_DEPTH`. False when the Python composer must read the file (one of
    those, any error, or PyYAML built without libyaml): it then gives the same answer and error it
    always did, with its line."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None or yaml.reader.Reader.NON_PRINTABLE.search(text):
        return False
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
    except Exception:  # noqa: BLE001 - any complaint: the Python composer says it, with its line
        return False
    finally:
        loader.dispose()
    if root is None:
        return None
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or node.tag not in _PLAIN_TAGS:
            return False  # an alias (a node met twice), or a tag to refuse
        seen.add(id(node))
        if isinstance(node, yaml.CollectionNode) and depth > MAX_DEPTH:
            return False
        stack.extend((kid, depth + 1) for kid in _children(node))
    return root


def _parse_yaml(text: str, path: str, text_scalars: bool, secret: bool = False) -> Any:
    fast = _compose_fast(text)
    if fast is not False:
        return _construct(fast, path, text_scalars, secret) if fast is not None else None
    composer: _Composer | None = None
    try:
        composer = _Composer(text, path)  # the reader refuses control characters here
        node = composer.get_single_node()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        what = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "a byte"
        raise OperatorError(f"invalid character {what} (control characters are not allowed)", path, line) from None
    except yaml.MarkedYAMLError as exc:
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise OperatorError("invalid YAML syntax" if secret else f"invalid YAML syntax: {what}",
                            path, _mark_line(exc)) from None
    except yaml.YAMLError as exc:
        raise OperatorError("invalid YAML syntax" if secret else f"invalid YAML syntax: {exc}", path) from None
    finally:
        if composer is not None:
            composer.dispose()
    if node is None:
        return None
    if composer is not None and composer.aliases and _expanded_size(node, path) > MAX_ALIAS_NODES:
        raise OperatorError(f"YAML aliases expand this file past {MAX_ALIAS_NODES:,} values; write it out instead",
                            path, _line_of(node))
    return _construct(node, path, text_scalars, secret)


def _construct(node: yaml.Node, path: str, text_scalars: bool, secret: bool) -> Any:
    if text_scalars:
        for scalar in _scalars(node):
            scalar.tag = _STR_TAG
    constructor = _LineConstructor(path, secret)
    try:
        return constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid value"
        raise OperatorError("invalid YAML value" if secret else f"invalid YAML value: {what}",
                            path, _mark_line(exc)) from None
    except (ValueError, TypeError, yaml.YAMLError):  # a value PyYAML resolved but cannot build
        raise OperatorError("invalid YAML value", path) from None


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


def _bad_number(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


class _LineConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor building :class:`LineDict` / :class:`LineList`, timestamps as text,
    numbers finite and at most 64-bit."""

    def __init__(self, path: str, secret: bool = False) -> None:
        super().__init__()
        self.path = path
        self.secret = secret

    def construct_line_mapping(self, node: yaml.MappingNode) -> LineDict:
        self.flatten_mapping(node)  # YAML merge keys ("<<: *base")
        result = LineDict(_line_of(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise OperatorError("keys must be strings" if self.secret else
                                    f"keys must be strings, got {shown(key)}", self.path, _line_of(key_node))
            if key in result:
                raise OperatorError("duplicate key" if self.secret else f"duplicate key {shown(key)}",
                                    self.path, _line_of(key_node))
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = _line_of(key_node)
        return result

    def construct_line_sequence(self, node: yaml.SequenceNode) -> LineList:
        result = LineList(_line_of(node))
        for item in node.value:
            result.append(self.construct_object(item, deep=True))
            result.item_lines.append(_line_of(item))
        return result

    def construct_finite_float(self, node: yaml.ScalarNode) -> float:
        value = self.construct_yaml_float(node)
        if not math.isfinite(value):
            raise _bad_number(node, "a number must be finite (not .nan, .inf or beyond 1e308)")
        return value

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        try:
            value = self.construct_yaml_int(node)
        except ValueError:  # more digits than Python converts
            raise _bad_number(node, "integer too large") from None
        if abs(value) >= MAX_INT:
            raise _bad_number(node, "integer too large (at most 64 bits)")
        return value


# Not ``add_constructor``: its stubs want a Loader, and a constructor on its own is all ``load`` needs.
_LineConstructor.yaml_constructors = {
    **yaml.constructor.SafeConstructor.yaml_constructors,
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG: _LineConstructor.construct_line_mapping,
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG: _LineConstructor.construct_line_sequence,
    "tag:yaml.org,2002:timestamp": yaml.constructor.SafeConstructor.construct_yaml_str,
    "tag:yaml.org,2002:float": _LineConstructor.construct_finite_float,
    "tag:yaml.org,2002:int": _LineConstructor.construct_bounded_int,
}

_TOML_KEY = r"(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
_TOML_DOTTED = re.compile(rf"{_TOML_KEY}(?:\s*\.\s*{_TOML_KEY})*")
_TOML_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_TOML_DOTTED.pattern})\s*\]\]?\s*(?:#.*)?$")
_TOML_ASSIGN = re.compile(rf"^\s*({_TOML_DOTTED.pattern})\s*=")


def _toml_keys(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_TOML_KEY, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _toml_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Where each table, key and array item is (tomllib keeps no positions): path → line.

    Headers and ``key =`` lines are read only where a line starts outside a multi-line
    string or array (a ``x = 1`` inside a string is text, not a key), and the items of a
    top-level array value get the line each starts on. A key inside an inline table is
    on its table's line. Whatever this cannot place exactly has no entry here, and the
    error then names the line of the value that holds it, where that value starts.
    """
    index: dict[tuple[str | int, ...], int] = {}
    arrays: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    scan = _TomlScan()
    for no, line in enumerate(text.splitlines(), 1):
        start = 0
        if scan.at_top():
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
                continue
            if assign := _TOML_ASSIGN.match(line):
                keys = (*table, *_toml_keys(assign.group(1)))
                for i in range(len(table) + 1, len(keys) + 1):
                    index.setdefault(keys[:i], no)
                scan.value_of = keys
                start = assign.end()
        value_of = scan.value_of
        for item in scan.feed(line, start):
            if value_of is not None:
                index.setdefault((*value_of, item), no)
    return index


class _TomlScan:
    """Just enough TOML lexing to know, line by line, whether we are inside a multi-line
    string or an array, and where the items of a top-level array start."""

    def __init__(self) -> None:
        self.string: str | None = None
        """The delimiter of the multi-line string we are in (three quotes), else None."""
        self.depth = 0
        """Open brackets and braces of the value being read."""
        self.value_of: tuple[str | int, ...] | None = None
        self.item = 0
        self.item_open = False

    def at_top(self) -> bool:
        return self.string is None and self.depth == 0

    def feed(self, line: str, i: int) -> list[int]:
        """Read ``line`` from ``i``; the indices of the array items that start on it."""
        started: list[int] = []
        n = len(line)
        while i < n:
            if self.string is not None:
                end = self._close(line, i, self.string)
                if end < 0:
                    return started
                self.string, i = None, end
                continue
            c = line[i]
            if c == "#":
                break
            if c.isspace():
                i += 1
                continue
            if self.depth == 1 and c not in ",]}" and not self.item_open:
                started.append(self.item)
                self.item_open = True
            if line.startswith(('"""', "'''"), i):
                self.string, i = line[i:i + 3], i + 3
            elif c in "\"'":
                end = self._close(line, i + 1, c)
                i = end if end >= 0 else n
            elif c in "[{":
                self.depth += 1
                i += 1
            elif c in "]}":
                self.depth = max(0, self.depth - 1)
                if self.depth == 0:
                    self.item, self.item_open = 0, False
                i += 1
            elif c == "," and self.depth == 1:
                self.item += 1
                self.item_open = False
                i += 1
            else:
                i += 1
        if self.depth == 0 and self.string is None:
            self.value_of = None
        return started

    @staticmethod
    def _close(line: str, i: int, quote: str) -> int:
        """Index just past the closing ``quote`` on this line, or -1."""
        escapes = quote.startswith('"')
        while i < len(line):
            if escapes and line[i] == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                end = i + len(quote)
                while len(quote) == 3 and end < len(line) and line[end] == quote[0] and end - i < 5:
                    end += 1  # up to two quotes may close a multi-line string's content
                return end
            i += 1
        return -1


def _depth(value: Any) -> int:
    """Nesting depth of parsed data, without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        else:
            continue
        deepest = max(deepest, level + 1)
    return deepest


def _parse_toml(text: str, path: str, text_scalars: bool, secret: bool = False) -> LineDict:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        what = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        raise OperatorError("invalid TOML" if secret else f"invalid TOML: {what}",
                            path, int(m.group(1)) if m else None) from None
    except RecursionError:
        raise OperatorError(f"nested deeper than {MAX_DEPTH} levels", path) from None
    except ValueError:  # an integer with more digits than Python converts
        raise OperatorError("invalid TOML: a number too large", path) from None
    if _depth(data) > MAX_DEPTH:
        raise OperatorError(f"nested deeper than {MAX_DEPTH} levels", path)
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
        if isinstance(value, float) and not math.isfinite(value):
            raise OperatorError("a number must be finite (not nan or inf)", path, line)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
            raise OperatorError("integer too large (at most 64 bits)", path, line)
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
        return f"a number ({shown(data)})"
    return f"the value {shown(data)}"


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
        """``text`` (default: this value's text) compiled, with ``anchor`` in front.

        Python's engine, for the knowledge base the project ships and tests (its model
        patterns use lookahead). Patterns an operator writes go through :meth:`pattern`.
        """
        source = self.text(what) if text is None else text
        try:
            return re.compile(anchor + source, flags)
        except (re.error, RecursionError, OverflowError) as exc:
            raise self.error(f"{what} is not a valid regex ({exc})") from None

    def pattern(self, what: str) -> Pattern:
        """This value's text compiled with RE2 (:mod:`auditor.pattern`: linear-time matching)."""
        try:
            return compile_pattern(self.text(what))
        except PatternError as exc:
            raise self.error(f"{what} is not a valid RE2 regular expression ({exc})") from None

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
