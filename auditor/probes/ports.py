"""TCP connect probe of camera-relevant ports, with a short listen for volunteered banners.

A connect scan (no raw sockets): each port is one paced connection attempt bounded
by the probe timeout (a few at most open at once per device: ``auditor.probes.pacing``).
On banner ports (FTP, SSH, telnet) the probe waits briefly for
the first bytes the service sends unasked; a port that accepts and stays silent (a
tarpit) costs at most that short wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import ClassVar

from ..models import Observation
from ..text import clean_text
from .base import HostState, ProbeContext
from .contract import Field, ProbeFields
from .streams import ConnectFailed, budget, knock, open_stream, read_reply

FIELDS = ProbeFields("ports", (
    Field("open", "list[int]", "TCP ports that accepted a connection; empty when the host only refused (a refusal "
          "proves a host: routed targets are inventoried that way)", [80, 554, 8000]),
    Field("banners", "map[str]", "first bytes a port volunteered unasked (e.g. telnet/ftp/ssh), port as string key",
          {"22": "SSH-2.0-dropbear_2019.78"}),
))

CAMERA_PORTS: tuple[int, ...] = (
    21,  # FTP (recorders export clips)
    22,  # SSH
    23,  # telnet (old firmware, Mirai's door)
    80,  # web UI, ONVIF
    81,
    88,
    443,  # web UI over TLS
    554,  # RTSP
    5000,
    7001,
    8000,  # Hikvision SDK / iVMS
    8080,
    8081,
    8443,
    8554,  # RTSP alternative
    8888,
    8899,  # ONVIF on generic Chinese OEM cameras
    9000,
    34567,  # XiongMai (XMeye) DVR/NVR
    37777,  # Dahua private protocol (TCP)
)
"""Every port the probe knows; on a host, an alternate port (:data:`ALTERNATE_PORTS`) is tried only
when its service's standard ports did not accept."""

ALTERNATE_PORTS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((80, 8080), (81, 88, 5000, 7001, 8081, 8888)),  # the plain web UI, moved off its usual ports
    ((443,), (8443,)),  # the web UI over TLS
    ((554,), (8554,)),  # RTSP
)
"""(standard ports, alternates) per service. A device serves a service on an alternate port
*instead of* the standard one (an integrator's remap, a NAS's VMS on 5000), rarely besides it: the
alternates are tried only on a host where none of the service's standard ports accepted. A typical
camera (web, TLS and RTSP on 80, 443, 554) so costs 12 connections instead of 20; the global rate
(connections per second across the scan) goes that much further. Every port is tried on a host
where the standard ones refused, so nothing the standard ports would have shown is lost: the
TLS finding (``http_only``) still sees a web UI on 8443, RTSP still finds 8554."""

LIVENESS_PORTS: tuple[int, ...] = (80, 554, 443, 8000, 37777, 22, 23, 8080)
"""Tried first on an address no discovery probe heard from (a routed target): if none of
these accepts or refuses, nothing lives there and the other ports are not tried. Any
answer, even a refusal, means a host, and then every port is tried."""

BANNER_PORTS: tuple[int, ...] = (21, 22, 23)
"""Ports whose service speaks first."""

BANNER_WAIT = 0.5
"""Seconds to wait for a volunteered banner (never more than the probe timeout)."""
BANNER_MAX = 512

_IAC, _SB, _SE = 255, 250, 240


def strip_telnet(data: bytes) -> bytes:
    """Remove telnet IAC negotiation sequences (option haggling is not banner text)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b != _IAC:
            out.append(b)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == _IAC:  # escaped 0xFF data byte
            out.append(_IAC)
            i += 2
        elif cmd == _SB:  # subnegotiation: skip to IAC SE
            end = data.find(bytes((_IAC, _SE)), i + 2)
            i = n if end < 0 else end + 2
        elif 251 <= cmd <= 254:  # WILL/WONT/DO/DONT option
            i += 3
        else:
            i += 2
    return bytes(out)


def clean_banner(data: bytes) -> str:
    """Banner text safe to store: telnet negotiation removed, control characters dropped, capped."""
    text = strip_telnet(data).decode("utf-8", "replace")
    lines = [clean_text(line) for line in text.splitlines()]
    return clean_text(" | ".join(line for line in lines if line))


PortResult = tuple[bool, str] | None | BaseException
"""One port's try: (True, banner) open, (False, "") refused, None silent, or the exception it raised."""

UNPROBED = ("no TCP port answered or refused within the timeout, twice, though the host answered ARP or "
            "discovery: its services could not be probed (a busy host or network, or a firewall dropping everything)")
"""The warning a live host gets when its ports could not be probed at all."""


def _fold(ports: list[int], results: list[PortResult]) -> tuple[
        bool, list[int], dict[str, str]]:
    """(anything answered, open ports, banners by port) from one pass over ``ports``."""
    open_ports: list[int] = []
    banners: dict[str, str] = {}
    answered = False
    for port, res in zip(ports, results, strict=True):
        if isinstance(res, BaseException) or res is None:
            continue
        answered = True
        is_open, banner = res
        if is_open:
            open_ports.append(port)
            if banner:
                banners[str(port)] = banner
    return answered, open_ports, banners


class PortProbe:
    name: ClassVar[str] = "ports"

    def __init__(
        self,
        ports: Iterable[int] = CAMERA_PORTS,
        banner_ports: Iterable[int] = BANNER_PORTS,
        banner_wait: float = BANNER_WAIT,
        liveness_ports: Iterable[int] = LIVENESS_PORTS,
        alternates: Iterable[tuple[tuple[int, ...], tuple[int, ...]]] = ALTERNATE_PORTS,
    ) -> None:
        self.ports = tuple(dict.fromkeys(ports))
        self.liveness_ports = frozenset(liveness_ports)
        self.banner_ports = frozenset(banner_ports)
        self.banner_wait = banner_wait
        self.alternates = tuple((frozenset(std), tuple(p for p in alt if p in self.ports))
                                for std, alt in alternates)
        alternate = {p for _, alt in self.alternates for p in alt}
        self.standard = tuple(p for p in self.ports if p not in alternate)

    def _alternates_for(self, open_ports: Iterable[int]) -> list[int]:
        """The alternate ports to try on a host whose standard ports found ``open_ports`` open."""
        found = set(open_ports)
        return [p for std, alt in self.alternates if not std & found for p in alt]

    async def _tried(self, ctx: ProbeContext, host: HostState, ports: list[int],
                     knocks: bool = True) -> list[PortResult]:
        return list(await asyncio.gather(*(self._try_port(ctx, host, p, knocks) for p in ports),
                                         return_exceptions=True))

    async def _pass(self, ctx: ProbeContext, host: HostState, ports: list[int],
                    results: list[PortResult], knocks: bool = True) -> tuple[
            list[int], list[PortResult]]:
        """Every standard port (``results`` holds those of ``ports`` already tried), then the alternates
        of the services none of whose standard ports accepted: (ports tried, their results).
        ``knocks``: take a service probe's first connect for the port's knock where it makes one."""
        rest = [p for p in self.standard if p not in ports]
        ports, results = ports + rest, results + await self._tried(ctx, host, rest, knocks)
        _, open_ports, _ = _fold(ports, results)
        alternates = self._alternates_for(open_ports)
        return ports + alternates, results + await self._tried(ctx, host, alternates, knocks)

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return
        tried: list[int] = []
        results: list[PortResult] = []
        first = [p for p in self.standard if p in self.liveness_ports]
        if host.ip not in ctx.live and first:
            tried, results = first, await self._tried(ctx, host, first)
            if not any(isinstance(r, tuple) for r in results):
                return  # silent address: no host here
        ports, results = await self._pass(ctx, host, tried, results)
        answered, open_ports, banners = _fold(ports, results)
        if not answered and host.ip in ctx.live and ctx.remaining() > 0:
            # A host ARP or discovery heard, yet every connect timed out (a busy host or network):
            # once more (every port knocked here) before it leaves the port and service probing with nothing said.
            ports, results = await self._pass(ctx, host, [], [], knocks=False)
            answered, open_ports, banners = _fold(ports, results)
            if not answered and ctx.remaining() > 0:
                ctx.emit(Observation(ip=host.ip, probe=self.name, fields={}, warning=UNPROBED))
                return
        if not answered:
            return  # nothing answered: no evidence of a host at all
        host.open_ports.update(open_ports)
        raw = "\n".join(f"{p}: {b}" for p, b in banners.items())
        ctx.emit(Observation(ip=host.ip, probe=self.name,
                             fields={"open": sorted(open_ports), "banners": banners}, raw=raw[:2048]))

    async def _try_port(self, ctx: ProbeContext, host: HostState, port: int,
                        knocks: bool = True) -> tuple[bool, str] | None:
        """(True, banner) open; (False, "") refused (the host answered); None silent."""
        theirs = host.knocks.get(port) if knocks else None
        if theirs is not None:  # a service probe's first connect is this port's knock (HostState.knocks)
            state = await theirs
            return None if state is None else (state, "")
        ip = host.ip
        if ctx.remaining() <= 0:
            return None
        if port not in self.banner_ports:
            state = await knock(ctx, ip, port)
            return None if state is None else (state, "")
        try:
            async with open_stream(ctx, ip, port) as stream:
                res = await read_reply(stream.reader, budget(ctx, self.banner_wait), cap=BANNER_MAX,
                                       complete=lambda d: b"\n" in d)
                return True, clean_banner(res.data)
        except ConnectFailed as exc:
            return (False, "") if exc.answered else None
