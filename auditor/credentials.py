"""The operator's credentials file: which username/password to offer which device.

Format (YAML or TOML, chosen by the file's suffix; YAML otherwise)::

    default: {username: admin, password: "..."}
    hosts:
      198.18.0.10: {username: admin, password: "..."}
    subnets:
      198.18.1.0/24: {username: onvif, password: "..."}

``Credentials.for_host(ip)`` picks host > most specific subnet > default. The file
is refused when group or others can read it. Passwords never appear in ``repr``,
error messages, logs or observations.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import OperatorError
from .yamlsrc import Source, line_of

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_TOP_KEYS = ("default", "hosts", "subnets")
_CRED_KEYS = ("username", "password")


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, password='***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Credentials:
    default: Credential | None = None
    hosts: Mapping[str, Credential] = field(default_factory=dict)
    """Keyed by the address's canonical text form."""
    subnets: tuple[tuple[IPNetwork, Credential], ...] = ()
    """Most specific (longest prefix) first."""
    source: str | None = None

    def for_host(self, ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> Credential | None:
        """The credential to offer ``ip``: host entry, else most specific subnet, else default."""
        try:
            addr = ipaddress.ip_address(str(ip))
        except ValueError:
            return None
        hit = self.hosts.get(str(addr))
        if hit is not None:
            return hit
        for net, cred in self.subnets:
            if addr.version == net.version and addr in net:
                return cred
        return self.default

    def __len__(self) -> int:
        return len(self.hosts) + len(self.subnets) + (1 if self.default else 0)


# ---------------------------------------------------------------- loading


@dataclass
class _Node:
    """A parsed value with the line it came from (1-based; None when unknown)."""

    value: Any
    line: int | None


def check_permissions(path: Path) -> None:
    """Refuse a credentials file group or others can read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise OperatorError(f"cannot read credentials file: {exc.strerror}", str(path)) from exc
    if not stat.S_ISREG(mode):
        raise OperatorError("credentials file is not a regular file", str(path))
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        raise OperatorError("credentials file is readable by group/others; chmod 600 it", str(path))


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Load and validate a credentials file; raise ``OperatorError`` (``path:line: what``) on any problem."""
    p = Path(path)
    check_permissions(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OperatorError(f"cannot read credentials file: {exc}", str(p)) from exc
    if p.suffix.lower() == ".toml":
        root = _load_toml(text, str(p))
    else:
        root = _load_yaml(text, str(p))
    return _build(root, str(p))


def _load_yaml(text: str, where: str) -> _Node:
    node = Source(where).compose(text)
    if node is None:
        return _Node({}, 1)
    return _from_yaml(node, where)


def _from_yaml(node: yaml.Node, where: str) -> _Node:
    """Nodes → ``_Node`` tree (the shape ``_load_toml`` builds too), scalars kept as written.

    Not ``Source.load``: that would turn a password like 12345 or "no" into a number or boolean.
    """
    line = line_of(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, tuple[_Node, _Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise OperatorError("keys must be plain text", where, line_of(k))
            key = _Node(k.value, line_of(k))
            if k.value in out:
                raise OperatorError(f"duplicate key {k.value!r}", where, key.line)
            out[k.value] = (key, _from_yaml(v, where))
        return _Node(out, line)
    if isinstance(node, yaml.ScalarNode):
        return _Node(node.value, line)
    raise OperatorError("lists are not allowed in a credentials file", where, line)


def _load_toml(text: str, where: str) -> _Node:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise OperatorError(f"invalid TOML: {exc}", where, int(m.group(1)) if m else None) from None
    lines = text.splitlines()

    def line_of(key: str) -> int | None:
        pat = re.compile(r"(^|[\s.\[\"'{,])" + re.escape(key) + r"($|[\s.\]\"'=])")
        for i, ln in enumerate(lines, 1):
            if pat.search(ln.split("#", 1)[0]):
                return i
        return None

    def wrap(value: Any, line: int | None) -> _Node:
        if isinstance(value, dict):
            return _Node({k: (_Node(k, line_of(k)), wrap(v, line_of(k))) for k, v in value.items()}, line)
        if isinstance(value, list):
            raise OperatorError("lists are not allowed in a credentials file", where, line)
        return _Node(value if isinstance(value, str) else str(value), line)

    return wrap(data, 1)


def _mapping(node: _Node, what: str, where: str) -> dict[str, tuple[_Node, _Node]]:
    if not isinstance(node.value, dict):
        raise OperatorError(f"{what} must be a mapping", where, node.line)
    return node.value


def _credential(node: _Node, what: str, where: str) -> Credential:
    items = _mapping(node, what, where)
    for key, (knode, _) in items.items():
        if key not in _CRED_KEYS:
            raise OperatorError(
                f"unknown key {key!r} in {what} (expected username, password)", where, knode.line
            )
    values: dict[str, str] = {}
    for key in _CRED_KEYS:
        if key not in items:
            raise OperatorError(f"{what} lacks {key}", where, node.line)
        v = items[key][1]
        if not isinstance(v.value, str):
            raise OperatorError(f"{what}: {key} must be text", where, v.line)
        values[key] = v.value
    if not values["username"].strip():
        raise OperatorError(f"{what}: username is empty", where, items["username"][1].line)
    return Credential(values["username"], values["password"])


def _build(root: _Node, where: str) -> Credentials:
    top = _mapping(root, "the credentials file", where)
    for key, (knode, _) in top.items():
        if key not in _TOP_KEYS:
            raise OperatorError(
                f"unknown key {key!r} (expected default, hosts, subnets)", where, knode.line
            )
    default = None
    if "default" in top:
        default = _credential(top["default"][1], "default", where)
    hosts: dict[str, Credential] = {}
    if "hosts" in top:
        for key, (knode, vnode) in _mapping(top["hosts"][1], "hosts", where).items():
            try:
                addr = ipaddress.ip_address(key)
            except ValueError:
                raise OperatorError(f"hosts: {key!r} is not an IP address", where, knode.line) from None
            if str(addr) in hosts:
                raise OperatorError(f"hosts: {key!r} listed twice", where, knode.line)
            hosts[str(addr)] = _credential(vnode, f"hosts {key}", where)
    subnets: list[tuple[IPNetwork, Credential]] = []
    if "subnets" in top:
        for key, (knode, vnode) in _mapping(top["subnets"][1], "subnets", where).items():
            try:
                net = ipaddress.ip_network(key, strict=True)
            except ValueError as exc:
                raise OperatorError(f"subnets: {key!r} is not a valid CIDR ({exc})", where, knode.line) from None
            subnets.append((net, _credential(vnode, f"subnets {key}", where)))
    subnets.sort(key=lambda item: item[0].prefixlen, reverse=True)
    return Credentials(default=default, hosts=hosts, subnets=tuple(subnets), source=where)
