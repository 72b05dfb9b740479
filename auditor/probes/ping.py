"""Which addresses of the routed targets are alive: one cheap probe per address, before any full probe.

ARP finds every host on the interface's own subnet; beyond a router, only unicast can. A
routed /16 holds 65,534 addresses and usually a few hundred devices: probing each address
with the full set (20 ports, discovery, web) would cost a million packets and hours. This
sweep sends **one ICMP echo request per routed target** (and one retry to those that stayed
silent), and the engine probes fully only what answered.

* As root (CAP_NET_RAW) a raw ICMP socket; else the kernel's unprivileged ICMP "ping"
  socket where ``net.ipv4.ping_group_range`` allows it; else one TCP connect to port 80
  per address (retry: 554): any answer, even a reset, is a host.
* Every echo waits for the scan's global rate (``paced``); replies from outside the scope,
  or not carrying this sweep's identifier and marker, are ignored. A "destination
  unreachable" from a router about one of our echoes marks the address dead (no retry).
* Each address that answers becomes a ``ping`` observation (method, round-trip time, TTL),
  joins ``ctx.live`` and is counted against that device in the pacing record.

A routed host that drops ICMP echo (and, without root, refuses nothing on 80/554) is not
found: leave ``ping`` out of ``--probes`` to probe every routed address fully (like nmap -Pn).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import random
import resource
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..models import Observation
from .base import ProbeContext
from .contract import Field, ProbeFields
from .udp import Sweep, paced

FIELDS = ProbeFields("ping", (
    Field("method", "str", "`icmp` (an echo reply) or `tcp` (no ICMP socket: a connect that was accepted or refused)",
          "icmp", kept="how the device was found, for a person reading the evidence"),
    Field("rtt_ms", "float", "round-trip time of the first echo (absent when it took the retry)", 0.4,
          kept="for a person"),
    Field("ttl", "int", "TTL of the echo reply", 63, kept="for a person (a hint of the hops and the OS)"),
    Field("port", "int", "the TCP port that answered (method `tcp`)", 80, kept="for a person"),
), note="One observation per routed address that answered the sweep; the engine then probes it fully.")

ECHO_REQUEST, ECHO_REPLY, DEST_UNREACHABLE = 8, 0, 3
MARKER = b"camaudit-ping"
TCP_PORTS = (80, 554)
"""The fallback's connect per address (first try, retry): a camera's web or RTSP port."""
TCP_IN_FLIGHT = 256
"""Connects outstanding at once in the fallback (each holds a file descriptor until it resolves)."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def build_echo(ident: int, seq: int, payload: bytes = MARKER) -> bytes:
    """An ICMP echo request (type 8) with ``ident``/``seq`` and ``payload``, checksummed."""
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    csum = checksum(header + payload)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, csum, ident & 0xFFFF, seq & 0xFFFF) + payload


@dataclass(frozen=True)
class IcmpReply:
    kind: str
    """echo (the address answered) | unreachable (a router says it cannot reach the address)."""
    address: str
    """The address the reply is about (the echo's target)."""
    ttl: int | None = None


def parse_icmp(data: bytes, source: str, ident: int | None, has_ip_header: bool) -> IcmpReply | None:
    """A received ICMP message → what it says about one of our echoes; None for anything else.

    ``ident`` None: the kernel's ping socket matched the identifier already. Bounded and
    defensive: short, garbled or foreign packets are ignored, never raised on.
    """
    ttl = None
    if has_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        ttl = data[8]
        data = data[ihl:]
    if len(data) < 8:
        return None
    kind, _code, _csum, rid, _seq = struct.unpack_from("!BBHHH", data)
    if kind == ECHO_REPLY:
        if (ident is not None and rid != ident) or MARKER not in data[8:8 + 64]:
            return None
        return IcmpReply("echo", source, ttl)
    if kind == DEST_UNREACHABLE and len(data) >= 8 + 20 + 8:
        inner = data[8:]
        if inner[0] >> 4 != 4 or inner[9] != socket.IPPROTO_ICMP:
            return None
        ihl = (inner[0] & 0x0F) * 4
        if len(inner) < ihl + 8:
            return None
        target = socket.inet_ntoa(inner[16:20])
        itype, _icode, _icsum, iid, _iseq = struct.unpack_from("!BBHHH", inner, ihl)
        if itype != ECHO_REQUEST or (ident is not None and iid != ident):
            return None
        return IcmpReply("unreachable", target)
    return None


def open_icmp_socket() -> tuple[socket.socket, bool]:
    """(socket, raw?) — a raw ICMP socket as root, else the kernel's ping socket; OSError if neither."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw = True
    except PermissionError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
        raw = False
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    return sock, raw


class PingProbe:
    """One ICMP echo (plus one retry) to every routed target; see the module docstring."""

    name: ClassVar[str] = "ping"

    def __init__(self, retries: int = 1, tcp_ports: tuple[int, ...] = TCP_PORTS) -> None:
        self.retries = retries
        self.tcp_ports = tcp_ports

    async def run(self, ctx: ProbeContext) -> None:
        total = sum(1 for _ in ctx.routed_targets())
        if not total:
            return
        targets = _Targets(lambda: (str(a) for a in ctx.routed_targets()), total)
        try:
            sock, raw = open_icmp_socket()
        except OSError:
            await self._tcp_sweep(ctx, targets)
            return
        try:
            await self._icmp_sweep(ctx, targets, sock, raw)
        finally:
            sock.close()

    async def sweep(self, ctx: ProbeContext, targets: Iterable[str]) -> set[str]:
        """Ping ``targets`` (attempt + retry) without reporting them: the addresses that answered.

        For the end-of-scan re-check of devices only ICMP had found.
        """
        quiet = dataclasses.replace(ctx, emit=lambda obs: None, live=set())
        listed = list(targets)
        some = _Targets(lambda: iter(listed), len(listed))
        try:
            sock, raw = open_icmp_socket()
        except OSError:
            await self._tcp_sweep(quiet, some)
            return set(quiet.live)
        try:
            await self._icmp_sweep(quiet, some, sock, raw)
        finally:
            sock.close()
        return set(quiet.live)

    # ---------------------------------------------------------------- ICMP

    async def _icmp_sweep(self, ctx: ProbeContext, targets: _Targets, sock: socket.socket, raw: bool) -> None:
        """Memory stays bounded whatever the range: the targets are walked again for the retry rather
        than kept, and send times are kept only while an answer can still come."""
        ident = random.randrange(1, 0x10000) if raw else None
        sent = _Recent(ctx.timeout + 2.0)
        done: set[str] = set()
        """Addresses that answered, or that a router said are unreachable (no retry)."""
        state = {"last": time.monotonic()}
        reader = asyncio.ensure_future(self._read(ctx, sock, raw, ident, sent, done))
        try:
            for attempt in range(1 + max(0, self.retries)):
                if attempt:
                    await asyncio.sleep(min(max(ctx.timeout / 2, 0.2), 1.0, ctx.remaining()))
                todo = targets.total - len(done)
                if todo <= 0 or not await self._send_round(ctx, sock, ident, targets, todo, attempt, sent, done,
                                                           state):
                    break
            end = min(state["last"] + ctx.timeout, ctx.deadline)
            while time.monotonic() < end and len(done) < targets.total:
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _send_round(self, ctx: ProbeContext, sock: socket.socket, ident: int | None, targets: _Targets,
                          todo: int, attempt: int, sent: _Recent, done: set[str], state: dict[str, float]) -> bool:
        loop = asyncio.get_running_loop()
        packet = build_echo(ident or 0, attempt)
        tokens = Sweep(ctx, todo)
        for ip in targets.walk():
            if ip in done:
                continue
            if not await tokens.next():
                return False
            sent.add(ip, attempt + 1)
            with contextlib.suppress(OSError):
                await asyncio.wait_for(loop.sock_sendto(sock, packet, (ip, 0)), max(0.01, ctx.remaining()))
            state["last"] = time.monotonic()
        return True

    async def _read(self, ctx: ProbeContext, sock: socket.socket, raw: bool, ident: int | None,
                    sent: _Recent, done: set[str]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, addr = await loop.sock_recvfrom(sock, 2048)
            reply = parse_icmp(data, str(addr[0]), ident, raw)
            if reply is None or reply.address in done:
                continue
            asked = sent.get(reply.address)
            if asked is None:
                continue  # not one of ours (or so late its address could not be asked any more)
            if reply.kind == "unreachable":
                done.add(reply.address)  # a router says nothing is there: no retry
                continue
            ip = reply.address
            done.add(ip)
            n, first = asked
            rtt_ms = round((time.monotonic() - first) * 1000, 1) if n == 1 else None
            fields: dict[str, object] = {"method": "icmp"}
            if rtt_ms is not None:
                fields["rtt_ms"] = rtt_ms
            if reply.ttl is not None:
                fields["ttl"] = reply.ttl
            self._found(ctx, ip, n, fields, f"ICMP echo reply from {ip}")

    def _found(self, ctx: ProbeContext, ip: str, sent: int, fields: dict[str, object], raw: str) -> None:
        try:
            if ipaddress.IPv4Address(ip) not in ctx.scope:
                return
        except ValueError:
            return
        ctx.live.add(ip)
        kind = "datagrams" if fields.get("method") == "icmp" else "connections"
        ctx.host(ip).count(ctx.probe or self.name, kind, sent)
        ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, raw=raw))

    # ---------------------------------------------------------------- TCP fallback

    async def _tcp_sweep(self, ctx: ProbeContext, targets: _Targets) -> None:
        """One connect per address (the retry on the second port), at most ``TCP_IN_FLIGHT`` at once,
        the targets walked rather than kept."""
        _raise_nofile(TCP_IN_FLIGHT * 4)
        found: set[str] = set()
        for attempt, port in enumerate(self.tcp_ports[: 1 + max(0, self.retries)]):
            walk = (ip for ip in targets.walk() if ip not in found)

            async def worker(port: int = port, attempt: int = attempt, walk: Iterator[str] = walk) -> None:
                for ip in walk:
                    if not await paced(ctx):
                        return
                    if await _tcp_answers(ip, port, min(ctx.timeout, ctx.remaining())):
                        found.add(ip)
                        self._found(ctx, ip, attempt + 1, {"method": "tcp", "port": port},
                                    f"TCP port {port} of {ip} answered")

            await asyncio.gather(*(worker() for _ in range(min(TCP_IN_FLIGHT, targets.total))))
            if len(found) >= targets.total or ctx.remaining() <= 0:
                break


async def _tcp_answers(ip: str, port: int, timeout: float) -> bool:
    """True if ``ip`` accepts or refuses a connection on ``port`` within ``timeout``."""
    if timeout <= 0:
        return False
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
    except ConnectionRefusedError:
        return True
    except (OSError, TimeoutError):
        return False
    writer.transport.abort()
    return True


class _Targets:
    """The addresses to sweep, walked as often as needed (a /8 is never held in memory)."""

    def __init__(self, walk: Callable[[], Iterator[str]], total: int) -> None:
        self.walk = walk
        self.total = total


class _Recent:
    """address → (echoes sent, time of the first), for addresses asked within the last ``keep`` seconds.

    A reply later than that is not counted (the sweep has long given up on it); what a /8 sweep
    keeps is one entry per packet of the last few seconds, not one per address.
    """

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self._data: dict[str, tuple[int, float, float]] = {}
        """address → (echoes sent, first send, last send)"""
        self._order: deque[tuple[float, str]] = deque()

    def add(self, ip: str, n: int) -> None:
        now = time.monotonic()
        previous = self._data.get(ip)
        first = previous[1] if previous is not None else now
        self._data[ip] = (n, first, now)
        self._order.append((now, ip))
        while self._order and self._order[0][0] < now - self.keep:
            at, old = self._order.popleft()
            entry = self._data.get(old)
            if entry is not None and entry[2] == at:  # not asked again since
                del self._data[old]

    def get(self, ip: str) -> tuple[int, float] | None:
        entry = self._data.get(ip)
        return None if entry is None else (entry[0], entry[1])


def _raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
