"""Compile a rule's ``match`` (YAML nodes) into one predicate over a facts dict.

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

import yaml

from ..yamlsrc import Source, kind_of, line_of
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


def _arg(src: Source, node: yaml.Node, what: str) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return [src.scalar(item, f"{what} item") for item in node.value]
    if isinstance(node, yaml.MappingNode):
        raise src.error(node, f"{what} must be a value or a list, not a mapping")
    return src.scalar(node, what)


def _fact_term(src: Source, name: str, key: yaml.Node, node: yaml.Node, info: MatchInfo) -> Matcher:
    fact = FACTS.get(name)
    if fact is None:
        raise src.error(key, f"{info.where}match: unknown fact or combinator {name!r} "
                             "(facts are listed in rules/README.md)")
    if name not in info.facts:
        info.facts.append(name)
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str" and node.value in UNARY:
        ops: list[tuple[str, yaml.Node, Any]] = [(node.value, node, True)]
    elif isinstance(node, yaml.MappingNode):
        entries = src.mapping(node, f"{info.where}match {name}")
        ops = [(op, op_key, _arg(src, value, f"{name} {op}")) for op, (op_key, value) in entries.items()]
        if not ops:
            raise src.error(node, f"{info.where}match {name}: needs an operator")
    else:
        raise src.error(node, f"{info.where}match {name}: expected {{operator: argument}} or one of "
                              f"{', '.join(UNARY)}, not {kind_of(node)}")
    checks = []
    for op_name, op_node, arg in ops:
        op = OPERATORS.get(op_name)
        if op is None:
            raise src.error(op_node, f"{info.where}match {name}: unknown operator {op_name!r} "
                                     f"(expected one of: {', '.join(OPERATORS)})")
        if fact.kind not in op.kinds:
            raise src.error(op_node, f"{info.where}match {name}: operator {op_name!r} "
                                     f"does not apply to a {fact.kind} fact")
        try:
            checks.append(op.make(arg))
        except ArgError as exc:
            raise src.error(op_node, f"{info.where}match {name} {op_name}: {exc}") from None
        if name == "zones" and op_name in ("contains", "any_of", "equals", "in"):
            for zone in arg if isinstance(arg, list) else [arg]:
                info.zone_refs.append((str(zone), line_of(op_node)))
    if len(checks) == 1:
        check = checks[0]
        return lambda facts: check(facts.get(name))
    return lambda facts: all(c(facts.get(name)) for c in checks)


def _combinator(src: Source, name: str, node: yaml.Node, info: MatchInfo) -> Matcher:
    if name == "not":
        inner = compile_match(src, node, info)
        return lambda facts: not inner(facts)
    items = src.sequence(node, f"{info.where}match {name}")
    if not items:
        raise src.error(node, f"{info.where}match {name}: needs at least one condition")
    parts = tuple(compile_match(src, item, info) for item in items)
    if name == "all":
        return lambda facts: all(p(facts) for p in parts)
    return lambda facts: any(p(facts) for p in parts)


def compile_match(src: Source, node: yaml.Node, info: MatchInfo) -> Matcher:
    terms = src.mapping(node, f"{info.where}match")
    if not terms:
        raise src.error(node, f"{info.where}match: needs at least one condition")
    parts = []
    for name, (key, value) in terms.items():
        if name in COMBINATORS:
            parts.append(_combinator(src, name, value, info))
        else:
            parts.append(_fact_term(src, name, key, value, info))
    if len(parts) == 1:
        return parts[0]
    combined = tuple(parts)
    return lambda facts: all(p(facts) for p in combined)
