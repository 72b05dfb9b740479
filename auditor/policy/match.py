"""Compile a rule's ``match`` (an operator-file value) into one predicate over a facts dict.

Grammar (checkov-style, data not code)::

    match     := mapping of  term → …   (several terms: all must hold)
    term      := all: [match, …] | any: [match, …] | not: match
               | <fact>: {<operator>: <argument>, …}      (several operators: all must hold)
               | <fact>: exists | is_true | is_false       (shorthand for {<op>: true})

Everything is checked here, once: unknown facts and operators, operators that do not
apply to the fact's kind, bad arguments (regexes, subnets, versions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..opfile import Value, describe
from .facts import FACTS
from .operators import COMBINATORS, OPERATORS, UNARY, ArgError

Matcher = Callable[[dict[str, Any]], bool]


@dataclass
class MatchInfo:
    """What a compiled match refers to (for evidence lines and cross-file checks)."""

    facts: list[str] = field(default_factory=list)
    zone_refs: list[tuple[str, int]] = field(default_factory=list)
    """(zone name, line) for every zone a term names; checked once all files are loaded."""
    where: str = ""
    """Prefix for error messages, e.g. 'rule ndaa-889.covered-maker: '."""


def _arg(node: Value, what: str) -> Any:
    if node.is_list():
        return [item.scalar(f"{what} item") for item in node.sequence(what)]
    if node.is_mapping():
        raise node.error(f"{what} must be a value or a list, not a mapping")
    return node.scalar(what)


def _fact_term(name: str, node: Value, info: MatchInfo) -> Matcher:
    fact = FACTS.get(name)
    if fact is None:
        raise node.error(f"{info.where}match: unknown fact or combinator {name!r} "
                         "(facts are listed in rules/README.md)", at_key=True)
    if name not in info.facts:
        info.facts.append(name)
    if node.is_text() and node.data in UNARY:
        ops: list[tuple[str, Value, Any]] = [(node.data, node, True)]
    elif node.is_mapping():
        entries = node.mapping(f"{info.where}match {name}")
        ops = [(op, value, _arg(value, f"{name} {op}")) for op, value in entries.items()]
        if not ops:
            raise node.error(f"{info.where}match {name}: needs an operator")
    else:
        raise node.error(f"{info.where}match {name}: expected {{operator: argument}} or one of "
                         f"{', '.join(UNARY)}, not {describe(node.data)}")
    checks = []
    for op_name, op_node, arg in ops:
        op = OPERATORS.get(op_name)
        if op is None:
            raise op_node.error(f"{info.where}match {name}: unknown operator {op_name!r} "
                                f"(expected one of: {', '.join(OPERATORS)})", at_key=True)
        if fact.kind not in op.kinds:
            raise op_node.error(f"{info.where}match {name}: operator {op_name!r} "
                                f"does not apply to a {fact.kind} fact", at_key=True)
        try:
            checks.append(op.make(arg))
        except ArgError as exc:
            raise op_node.error(f"{info.where}match {name} {op_name}: {exc}", at_key=True) from None
        if name == "zones" and op_name in ("contains", "any_of", "equals", "in"):
            for zone in arg if isinstance(arg, list) else [arg]:
                info.zone_refs.append((str(zone), op_node.key_line or op_node.line or 0))
    if len(checks) == 1:
        check = checks[0]
        return lambda facts: check(facts.get(name))
    return lambda facts: all(c(facts.get(name)) for c in checks)


def _combinator(name: str, node: Value, info: MatchInfo) -> Matcher:
    if name == "not":
        inner = compile_match(node, info)
        return lambda facts: not inner(facts)
    items = node.sequence(f"{info.where}match {name}")
    if not items:
        raise node.error(f"{info.where}match {name}: needs at least one condition")
    parts = tuple(compile_match(item, info) for item in items)
    if name == "all":
        return lambda facts: all(p(facts) for p in parts)
    return lambda facts: any(p(facts) for p in parts)


def compile_match(node: Value, info: MatchInfo) -> Matcher:
    terms = node.mapping(f"{info.where}match")
    if not terms:
        raise node.error(f"{info.where}match: needs at least one condition")
    parts = []
    for name, value in terms.items():
        if name in COMBINATORS:
            parts.append(_combinator(name, value, info))
        else:
            parts.append(_fact_term(name, value, info))
    if len(parts) == 1:
        return parts[0]
    combined = tuple(parts)
    return lambda facts: all(p(facts) for p in combined)
