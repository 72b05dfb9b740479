"""The operator's credentials file: which username/password to offer which device.

Format (YAML or TOML, chosen by the file's suffix; YAML otherwise)::

    default: {username: admin, password: "..."}
    hosts:
      198.18.0.10: {username: admin, password: "..."}
    subnets:
      198.18.1.0/24: {username: onvif, password: "..."}

``Credentials.for_host(ip)`` picks host > most specific subnet > default. The file
is refused unless it is the running user's, with no permission bit for group or
others. Passwords never appear in ``repr``, error messages, logs or observations.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import opfile
from .errors import OperatorError
from .opfile import Value

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
#
# Nothing the file holds is ever quoted in an error: a password typed in the wrong place
# (``{username: auditor, hunter2}`` makes ``hunter2`` a key) would land in a cron mail.
# Errors name the file and line, and what was expected there.

def check_permissions(path: Path) -> None:
    """Refuse a credentials file that is not a regular file, not the running user's, or has
    any group/other permission bit; a symbolic link is followed only when it and its target
    are the running user's (see ``opfile.read_bytes(secret=True)``, which checks again on
    the file it opens)."""
    opfile.check_private_link(path, "credentials file")
    try:
        st = path.stat()
    except OSError as exc:
        raise OperatorError(f"cannot read credentials file: {exc.strerror}", str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise OperatorError("credentials file is not a regular file", str(path))
    opfile.check_private(st, str(path), "credentials file")


def load_credentials(path: str | os.PathLike[str]) -> Credentials:
    """Load and validate a credentials file; raise ``OperatorError`` (``path:line: what``) on any problem.

    Every value is read as the text written (a password ``12345`` or ``no`` stays a string).
    """
    p = Path(path)
    check_permissions(p)
    root = opfile.load(p, "credentials file", toml=True, text_scalars=True, secret=True).root
    if root.data is None:
        return Credentials(source=str(p))
    _refuse_lists(root)
    return _build(root, str(p))


def _refuse_lists(value: Value) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if node.is_list():
            raise node.error("lists are not allowed in a credentials file")
        if node.is_mapping():
            stack.extend(_mapping(node, "the credentials file").values())


def _mapping(node: Value, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, Value]:
    """``node.mapping`` that never quotes what it refuses (a key may be a password)."""
    if not node.is_mapping():
        raise node.error(f"{what} must be a mapping")
    items = node.mapping(what)
    if allowed is not None:
        for key, value in items.items():
            if key not in allowed:
                raise value.error(f"unknown key in {what} (expected: {', '.join(allowed)})", at_key=True)
    return items


def _credential(node: Value, what: str) -> Credential:
    items = _mapping(node, what, _CRED_KEYS)
    values: dict[str, str] = {}
    for key in _CRED_KEYS:
        if key not in items:
            raise node.error(f"{what} lacks {key}")
        if not items[key].is_text():
            raise items[key].error(f"{what}: {key} must be text")
        values[key] = items[key].data
    if not values["username"].strip():
        raise items["username"].error(f"{what}: username is empty")
    return Credential(values["username"], values["password"])


def _build(root: Value, where: str) -> Credentials:
    top = _mapping(root, "the credentials file", _TOP_KEYS)
    default = _credential(top["default"], "default") if "default" in top else None
    hosts: dict[str, Credential] = {}
    for key, value in (_mapping(top["hosts"], "hosts") if "hosts" in top else {}).items():
        try:
            addr = ipaddress.ip_address(key)
        except ValueError:
            raise value.error("hosts: a key here is not an IP address", at_key=True) from None
        if str(addr) in hosts:
            raise value.error(f"hosts: {addr} listed twice", at_key=True)
        hosts[str(addr)] = _credential(value, f"hosts {addr}")
    subnets: list[tuple[IPNetwork, Credential]] = []
    for key, value in (_mapping(top["subnets"], "subnets") if "subnets" in top else {}).items():
        try:
            net = ipaddress.ip_network(key, strict=True)
        except ValueError:
            raise value.error("subnets: a key here is not a valid CIDR (host bits must be zero)",
                              at_key=True) from None
        subnets.append((net, _credential(value, f"subnets {net}")))
    subnets.sort(key=lambda item: item[0].prefixlen, reverse=True)
    return Credentials(default=default, hosts=hosts, subnets=tuple(subnets), source=where)
