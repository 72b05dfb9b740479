"""The operator table: each operator checks its argument once, at load time, and
returns a small predicate over one fact's value.

A predicate never raises. ``None`` (unknown) matches nothing except ``not_equals``,
``not_in`` and ``exists: false`` — an unknown maker is not "Axis", but neither is it
"Hikvision". String comparisons ignore case.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import shown
from ..firmware import FirmwareVersion, compare_firmware, parse_firmware_version
from ..pattern import PatternError, compile_pattern

Predicate = Callable[[Any], bool]


class ArgError(ValueError):
    """The operator's argument is wrong; the message says how (the caller adds file:line)."""


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(arg: Any) -> Any:
    if isinstance(arg, (list, dict)) or arg is None:
        raise ArgError("needs a single value")
    return arg


def _scalars(arg: Any) -> frozenset[Any]:
    if not isinstance(arg, list) or not arg:
        raise ArgError("needs a non-empty list of values")
    if any(isinstance(a, (list, dict)) or a is None for a in arg):
        raise ArgError("list items must be single values")
    return frozenset(_fold(a) for a in arg)


def _bool(arg: Any) -> bool:
    if not isinstance(arg, bool):
        raise ArgError("needs true or false")
    return arg


def _number(arg: Any) -> float:
    if not _is_number(arg):
        raise ArgError("needs a number")
    return float(arg)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# --- operator makers: arg (already loaded from YAML) → predicate over the fact value ---

def op_equals(arg: Any) -> Predicate:
    want = _fold(_scalar(arg))
    return lambda v: v is not None and _fold(v) == want


def op_not_equals(arg: Any) -> Predicate:
    want = _fold(_scalar(arg))
    return lambda v: v is None or _fold(v) != want


def op_in(arg: Any) -> Predicate:
    allowed = _scalars(arg)
    return lambda v: v is not None and _fold(v) in allowed


def op_not_in(arg: Any) -> Predicate:
    allowed = _scalars(arg)
    return lambda v: v is None or _fold(v) not in allowed


def op_any_of(arg: Any) -> Predicate:
    allowed = _scalars(arg)
    return lambda v: v is not None and any(_fold(i) in allowed for i in _items(v))


def op_contains(arg: Any) -> Predicate:
    want = _fold(_scalar(arg))

    def contains(v: Any) -> bool:
        if isinstance(v, list):
            return any(_fold(i) == want for i in v)
        return isinstance(v, str) and isinstance(want, str) and want in v.casefold()

    return contains


def op_regex(arg: Any) -> Predicate:
    if not isinstance(arg, str):
        raise ArgError("needs a regular expression string")
    try:
        pattern = compile_pattern(arg)
    except PatternError as exc:
        raise ArgError(f"not a valid RE2 regular expression {shown(arg)}: {exc}") from None
    return lambda v: v is not None and any(isinstance(i, str) and pattern.search(i) for i in _items(v))


@functools.lru_cache(maxsize=4096)
def _version(text: str) -> FirmwareVersion | None:
    return parse_firmware_version(text)


def _version_op(accept: Callable[[int], bool]) -> Callable[[Any], Predicate]:
    def make(arg: Any) -> Predicate:
        if not isinstance(arg, (str, int, float)) or isinstance(arg, bool):
            raise ArgError("needs a firmware version string")
        bound = parse_firmware_version(str(arg))
        if bound is None:
            raise ArgError(f"{arg!r} holds no version number")

        def check(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            result = compare_firmware(_version(v), bound)
            return result is not None and accept(result)

        return check

    return make


def _number_op(accept: Callable[[float, float], bool]) -> Callable[[Any], Predicate]:
    def make(arg: Any) -> Predicate:
        bound = _number(arg)
        return lambda v: _is_number(v) and accept(float(v), bound)

    return make


def op_exists(arg: Any) -> Predicate:
    want = _bool(arg)
    return lambda v: (v is not None and v != [] and v != "") == want


def op_is_true(arg: Any) -> Predicate:
    want = _bool(arg)
    return lambda v: (v is True) == want


def op_is_false(arg: Any) -> Predicate:
    want = _bool(arg)
    return lambda v: (v is False) == want


@functools.lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_networks(arg: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if isinstance(arg, str):
        arg = [arg]
    if not isinstance(arg, list) or not arg:
        raise ArgError("needs a list of subnets (CIDR)")
    nets = []
    for item in arg:
        try:
            nets.append(ipaddress.ip_network(str(item), strict=True))
        except ValueError as exc:
            raise ArgError(f"bad subnet {item!r}: {exc}") from None
    return tuple(nets)


def op_in_subnet(arg: Any) -> Predicate:
    nets = parse_networks(arg)

    def inside(v: Any) -> bool:
        addr = _address(v) if isinstance(v, str) else None
        return addr is not None and any(addr in n for n in nets)

    return inside


@dataclass(frozen=True)
class Operator:
    make: Callable[[Any], Predicate]
    kinds: frozenset[str]
    """Fact kinds (see auditor.facts.FACTS) the operator applies to."""
    doc: str


_SCALARS = frozenset({"str", "ip", "bool", "number"})
_ALL = _SCALARS | {"list[str]", "list[int]"}
_LISTS = frozenset({"list[str]", "list[int]"})

OPERATORS: dict[str, Operator] = {
    "equals": Operator(op_equals, _SCALARS, "value equals the argument"),
    "not_equals": Operator(op_not_equals, _SCALARS, "value differs from the argument (or is unknown)"),
    "in": Operator(op_in, _SCALARS, "value is one of the listed values"),
    "not_in": Operator(op_not_in, _SCALARS, "value is none of the listed values (or is unknown)"),
    "any_of": Operator(op_any_of, _ALL, "some item of a list fact (or the value) is one of the listed values"),
    "contains": Operator(op_contains, _LISTS | {"str"}, "list fact has the item / string has the substring"),
    "regex": Operator(op_regex, frozenset({"str", "ip", "list[str]"}),
                      "regular expression (RE2 syntax, case-insensitive) found in the value or any item"),
    "version_lt": Operator(_version_op(lambda c: c < 0), frozenset({"str"}), "firmware older than"),
    "version_le": Operator(_version_op(lambda c: c <= 0), frozenset({"str"}), "firmware older than or equal to"),
    "version_ge": Operator(_version_op(lambda c: c >= 0), frozenset({"str"}), "firmware at least"),
    "version_gt": Operator(_version_op(lambda c: c > 0), frozenset({"str"}), "firmware newer than"),
    "gt": Operator(_number_op(lambda v, b: v > b), frozenset({"number"}), "number greater than"),
    "ge": Operator(_number_op(lambda v, b: v >= b), frozenset({"number"}), "number greater than or equal to"),
    "lt": Operator(_number_op(lambda v, b: v < b), frozenset({"number"}), "number less than"),
    "le": Operator(_number_op(lambda v, b: v <= b), frozenset({"number"}), "number less than or equal to"),
    "exists": Operator(op_exists, _ALL, "true: the value is known and not empty; false: unknown or empty"),
    "is_true": Operator(op_is_true, frozenset({"bool"}), "true: the value is true"),
    "is_false": Operator(op_is_false, frozenset({"bool"}), "true: the value is false (not merely unknown)"),
    "in_subnet": Operator(op_in_subnet, frozenset({"ip"}), "address inside one of the listed subnets"),
}

UNARY = ("exists", "is_true", "is_false")
"""Operators that may be written as a bare name: ``covered: is_true`` = ``covered: {is_true: true}``."""

COMBINATORS = ("all", "any", "not")
