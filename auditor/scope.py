"""Targets the operator names, and the safety limits on them.

The tool never invents a scope: no target, no scan. Accepted forms: a CIDR
(``198.18.0.0/24``), a range (``198.18.0.10-50`` or ``198.18.0.10-198.18.0.50``), a
single address, and ``@file`` with one such entry per line (``#`` comments allowed).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import opfile
from .errors import OperatorError, shown

MAX_ADDRESSES = 65_536
"""More than this needs ``--allow-large``."""
TARGET_FILE_MAX_BYTES = 16 * 1024 * 1024
"""An ``@file`` of targets is written (or generated) by people; larger is a mistake."""

NOT_HOSTS = (ipaddress.IPv4Network("0.0.0.0/8"), ipaddress.IPv4Network("224.0.0.0/3"))
"""'This network', multicast, reserved and the limited broadcast: never a camera's address,
and a probe sent there reaches every host (or none). Refused as targets whatever the flags."""

IPv4 = ipaddress.IPv4Address
Span = tuple[int, int]  # inclusive integer range


def _public(net: ipaddress.IPv4Network) -> bool:
    """True if any part of ``net`` is globally routable (RFC 2544's 198.18/15 is not).

    Checks the ends and, for wide blocks, whether the block is wider than any
    special-purpose range (so 0.0.0.0/1 is public even though 0.0.0.0 is not).
    """
    first, last = net.network_address, net.broadcast_address
    return first.is_global or last.is_global or net.prefixlen < 8


def parse_target(text: str, where: tuple[str, int | None] | None = None) -> ipaddress.IPv4Network | Span:
    """Parse one target entry into a network (CIDR) or an inclusive integer span (range, host).

    Raises OperatorError naming ``where`` (path, line) when the entry is not valid.
    """
    path, line = where if where else (None, None)
    entry = text.strip()
    try:
        if "/" in entry:
            return ipaddress.IPv4Network(entry, strict=False)
        if "-" in entry:
            start_s, end_s = (p.strip() for p in entry.split("-", 1))
            start = IPv4(start_s)
            if "." in end_s:
                end = IPv4(end_s)
            else:
                last = int(end_s)
                if not 0 <= last <= 255:
                    raise ValueError(f"range end {end_s!r} is not 0-255")
                end = IPv4(int(start) & 0xFFFFFF00 | last)
            if int(end) < int(start):
                raise ValueError("range end is before its start")
            return (int(start), int(end))
        value = int(IPv4(entry))
        return (value, value)
    except ValueError as exc:
        reason = str(exc).replace(repr(entry), "it") if len(entry) > 40 else str(exc)
        raise OperatorError(f"invalid target {shown(entry)}: {reason}", path, line) from None


def _span(target: ipaddress.IPv4Network | Span, hosts_only: bool) -> Span:
    """Integer span of a parsed target; a CIDR wider than /31 loses its network and broadcast address."""
    if isinstance(target, tuple):
        return target
    lo, hi = int(target.network_address), int(target.broadcast_address)
    if hosts_only and target.prefixlen < 31:
        lo, hi = lo + 1, hi - 1
    return lo, hi


def read_target_file(path: str | Path) -> list[tuple[str, tuple[str, int | None]]]:
    """The entries of an ``@file`` (one per line, ``#`` comments), each with (file, line);
    every entry checked (``OperatorError`` naming file:line)."""
    text = opfile.read_text(path, "target file", TARGET_FILE_MAX_BYTES)
    out: list[tuple[str, tuple[str, int | None]]] = []
    for no, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            parse_target(entry, (str(path), no))
            out.append((entry, (str(path), no)))
    return out


def _expand_args(items: Iterable[str]) -> Iterator[tuple[str, tuple[str, int | None] | None]]:
    for item in items:
        if item.startswith("@"):
            yield from read_target_file(item[1:])
        else:
            for part in item.split(","):
                if part.strip():
                    yield part.strip(), None


def _merge(spans: list[Span]) -> list[Span]:
    spans.sort()
    out: list[Span] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(spans: list[Span], holes: list[Span]) -> list[Span]:
    out: list[Span] = []
    for lo, hi in spans:
        cur = lo
        for hlo, hhi in holes:
            if hhi < cur or hlo > hi:
                continue
            if hlo > cur:
                out.append((cur, hlo - 1))
            cur = max(cur, hhi + 1)
        if cur <= hi:
            out.append((cur, hi))
    return out


@dataclass(frozen=True)
class ScanScope:
    """Targets minus excludes, as sorted inclusive integer spans; membership is O(log n)."""

    spans: tuple[Span, ...]
    targets: tuple[str, ...]
    excludes: tuple[str, ...]

    def __contains__(self, ip: object) -> bool:
        try:
            value = int(IPv4(str(ip)))
        except ValueError:
            return False
        i = bisect.bisect_right(self.spans, (value, 1 << 33)) - 1
        return i >= 0 and self.spans[i][0] <= value <= self.spans[i][1]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.spans)

    def addresses(self) -> Iterator[IPv4]:
        """Every address in scope, in order."""
        for lo, hi in self.spans:
            for value in range(lo, hi + 1):
                yield IPv4(value)


def build_scope(
    targets: Iterable[str],
    excludes: Iterable[str] = (),
    *,
    allow_public: bool = False,
    allow_large: bool = False,
) -> ScanScope:
    """Validate and expand the operator's targets; raise OperatorError on anything unsafe."""
    target_list = list(_expand_args(targets))
    if not target_list:
        raise OperatorError("no targets given: camaudit scans only what you name (CIDR, range, host or @file)")
    spans: list[Span] = []
    for entry, where in target_list:
        lo, hi = _span(parse_target(entry, where), hosts_only=True)
        if any(lo <= int(n.broadcast_address) and hi >= int(n.network_address) for n in NOT_HOSTS):
            path, line = where if where else (None, None)
            raise OperatorError(f"target {entry} includes addresses that are not unicast hosts "
                                "(0.0.0.0/8, multicast, reserved or broadcast)", path, line)
        if not allow_public and any(_public(n) for n in ipaddress.summarize_address_range(IPv4(lo), IPv4(hi))):
            path, line = where if where else (None, None)
            raise OperatorError(
                f"target {entry} includes globally routable addresses; pass --allow-public if you "
                "really are authorised to scan them", path, line)
        spans.append((lo, hi))
    exclude_list = list(_expand_args(excludes))
    holes = [_span(parse_target(entry, where), hosts_only=False) for entry, where in exclude_list]
    merged = _subtract(_merge(spans), _merge(holes))
    scope = ScanScope(tuple(merged), tuple(e for e, _ in target_list), tuple(e for e, _ in exclude_list))
    if len(scope) == 0:
        raise OperatorError("the targets minus the excludes leave no address to scan")
    if len(scope) > MAX_ADDRESSES and not allow_large:
        raise OperatorError(
            f"scope holds {len(scope):,} addresses (limit {MAX_ADDRESSES:,}); narrow it or pass --allow-large")
    return scope
