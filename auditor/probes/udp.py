"""Shared UDP discovery engine for WS-Discovery, SADP and DHIP.

One request/reply shape serves all three: send a probe to the interface's multicast
group (and, for some protocols, the subnet broadcast) a few times, unicast it to every
routed target, and collect the replies until the network has been quiet for
``ctx.timeout`` (or ``ctx.deadline``). Each protocol module subclasses :class:`UdpProbe`
and supplies only its port and group, its payload builder, its pure parser and (if
not MAC/serial) its de-duplication key.

Safety rules enforced here so no protocol module can forget them:

* multicast and broadcast leave on ``ctx.interface`` only (``IP_MULTICAST_IF``,
  ``SO_BINDTODEVICE``), TTL 1, never looped back;
* unicast goes only to ``ctx.routed_targets()`` (on-link hosts are reached by the
  multicast/broadcast already), or, in a scan, to one live routed host at a time
  (``UdpProbe.probe_host``: the engine sweeps routed ranges first, ``ctx.unicast_routed`` False);
* multicast and broadcast go out (and the group is joined) only when the scope holds an
  on-link address: a scan of routed subnets sends nothing to the operator's own LAN;
* every packet waits for ``ctx.rate``, every unicast one also for the device's pacing
  (``ctx.host(ip).datagram``);
* replies from addresses outside ``ctx.scope`` are dropped unread;
* every socket is created in the calling thread (the scan may run with that thread
  inside a lab network namespace), every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..models import RAW_EXCERPT_MAX, Observation
from .base import HostState, ProbeContext
from .pacing import HostGivenUp

SO_RCVBUFFORCE = 33
"""Linux: set the buffer past rmem_max (root); falls back to SO_RCVBUF."""
RCVBUF_BYTES = 8 * 1024 * 1024
"""Receive buffer asked for: hundreds of simultaneous replies of a few KB each."""
MAX_DATAGRAMS_PER_SENDER = 32
"""A host that keeps talking past this many datagrams is not parsed further (flood guard)."""
WARNING_MAX = 200


class ReplyError(ValueError):
    """A reply was malformed or hostile; the message becomes the observation's warning."""


Parser = Callable[[bytes], list[dict[str, Any]]]
"""bytes → one fields dict per device described ([] = not a reply, ignore); raises ValueError on bad input."""
KeyFunc = Callable[[str, dict[str, Any]], str]
"""(sender ip, fields) → de-duplication key."""
PayloadFunc = Callable[[bool], list[bytes]]
"""multicast? → payloads to send now (built fresh each call: new message ids)."""


def excerpt(data: bytes, limit: int = RAW_EXCERPT_MAX) -> str:
    """Printable, bounded excerpt of a datagram for a person to read (control bytes shown as '.')."""
    text = data[:limit].decode("utf-8", "replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "." for c in text)[:limit]


def to_int(value: object) -> int | None:
    """Port-like integer from a network value; None when absent or not a number in 0..65535."""
    if isinstance(value, bool):
        return None
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 <= n <= 65535 else None


def to_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    return None


def copy_fields(out: dict[str, Any], table: dict[str, str], get: Callable[[str], object],
                convert: Callable[[object], Any]) -> None:
    """``out[field] = convert(get(key))`` for each ``field: key`` of ``table``, skipping what converts to None."""
    for field, key in table.items():
        value = convert(get(key))
        if value is not None:
            out[field] = value


def device_key(ip: str, fields: dict[str, Any]) -> str:
    """De-duplicate by MAC, else serial, else sender."""
    if fields.get("mac"):
        return f"mac:{fields['mac']}"
    if fields.get("serial"):
        return f"serial:{fields['serial']}"
    return f"ip:{ip}"


def in_scope(ctx: ProbeContext, ip: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip) in ctx.scope
    except ValueError:
        return False


def scope_on_link(ctx: ProbeContext) -> bool:
    """True when some in-scope address other than ours is on the interface's subnet.

    Only then may a probe multicast or broadcast: those reach every host on the link,
    and a scope naming only routed subnets must not spray the operator's own LAN.
    """
    net, own = ctx.iface_addr.network, ctx.iface_addr.ip
    if len(ctx.scope) <= net.num_addresses:
        return any(a != own and a in net for a in ctx.scope.addresses())
    return any(a != own and a in ctx.scope for a in net)


def open_udp_socket(
    interface: str | None,
    bind_ip: str,
    *,
    bind_port: int = 0,
    multicast: bool = False,
    broadcast: bool = False,
    reuse: bool = False,
) -> socket.socket:
    """A non-blocking IPv4 UDP socket tied to ``interface`` with a large receive buffer.

    ``multicast``: outgoing multicast uses ``bind_ip``'s interface, TTL 1, no loopback.
    SO_BINDTODEVICE is best effort (needs CAP_NET_RAW); IP_MULTICAST_IF still pins
    multicast to the interface without it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF_BYTES)
                break
            except OSError:
                continue
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if interface:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bind_ip))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind((bind_ip, bind_port))
    except BaseException:
        sock.close()
        raise
    return sock


def open_group_listener(interface: str | None, iface_ip: str, group: str, port: int) -> socket.socket:
    """Socket bound to ``group:port`` and joined on ``iface_ip``: for devices that answer by multicast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if interface:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.bind((group, port))
        mreq = socket.inet_aton(group) + socket.inet_aton(iface_ip)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except BaseException:
        sock.close()
        raise
    return sock


class _Inbox(asyncio.DatagramProtocol):
    """Collects datagrams from a transport; wakes the collector on each one."""

    def __init__(self, queue: deque[tuple[bytes, str, float]], wake: asyncio.Event) -> None:
        self.queue = queue
        self.wake = wake

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queue.append((data, str(addr[0]), time.time()))
        self.wake.set()

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable for a silent target: expected, nothing to record.
        return None


@dataclass
class UdpDiscovery:
    """One protocol's discovery run. Protocol modules build one per ``run``."""

    name: str
    port: int
    group: str | None
    payloads: PayloadFunc
    parse: Parser
    key: KeyFunc
    broadcast: bool = False
    listen_group: bool = False
    """Also listen on group:port (devices that answer by multicast, e.g. SADP)."""
    repeats: int = 2
    """Multicast/broadcast rounds (UDP loses packets when many devices answer at once)."""
    unicast_retry: bool = True
    """Unicast a second time to routed targets that stayed silent."""
    quiet: float | None = None
    """Quiet period ending the listen; defaults to ctx.timeout."""
    raw_start: Callable[[bytes], int] | None = None
    """Offset where the raw excerpt should begin (skip boilerplate a person need not read)."""

    async def run(self, ctx: ProbeContext) -> None:
        loop = asyncio.get_running_loop()
        iface_ip = str(ctx.iface_addr.ip)
        multicast = self.group is not None
        sock = open_udp_socket(
            ctx.interface, iface_ip, multicast=multicast, broadcast=self.broadcast and self._bcast(ctx) is not None
        )
        queue: deque[tuple[bytes, str, float]] = deque()
        wake = asyncio.Event()
        transports: list[asyncio.DatagramTransport] = []
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Inbox(queue, wake), sock=sock)
        except BaseException:
            sock.close()
            raise
        transports.append(transport)
        socks = [sock]
        wide = scope_on_link(ctx)
        try:
            if self.listen_group and self.group is not None and wide:
                try:
                    gsock = open_group_listener(ctx.interface, iface_ip, self.group, self.port)
                    gt, _ = await loop.create_datagram_endpoint(lambda: _Inbox(queue, wake), sock=gsock)
                    transports.append(gt)
                    socks.append(gsock)
                except OSError:
                    pass  # port busy (another SADP tool): unicast replies still arrive
            collector = _Collector(self, ctx)
            state = _SendState(last=time.monotonic())
            sender = asyncio.ensure_future(self._send_all(ctx, transport, collector, state, wide))
            try:
                await self._listen(ctx, queue, wake, collector, sender, state)
            finally:
                if not sender.done():
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sender
            _read_what_is_left(socks, queue)
            collector.drain(queue)
        finally:
            for t in transports:
                t.close()

    def _bcast(self, ctx: ProbeContext) -> str | None:
        net = ctx.iface_addr.network
        return str(net.broadcast_address) if net.prefixlen < 31 else None

    async def _send_all(
        self, ctx: ProbeContext, transport: asyncio.DatagramTransport, collector: _Collector, state: _SendState,
        wide: bool = True,
    ) -> None:
        """``wide``: multicast/broadcast allowed (see ``scope_on_link``)."""
        routed = [str(a) for a in ctx.routed_targets()] if ctx.unicast_routed else []
        bcast = self._bcast(ctx) if self.broadcast else None
        gap = min(max(ctx.timeout / 3, 0.1), 1.0)
        dests = [d for d in (self.group, bcast) if d is not None] if wide else []
        for round_no in range(max(1, self.repeats) if dests else 1):
            if round_no:
                await asyncio.sleep(min(gap, ctx.remaining()))
            for dest in dests:
                for payload in self.payloads(True):
                    if not await paced(ctx):
                        return
                    _send(transport, payload, (dest, self.port))
                    state.last = time.monotonic()
            if round_no == 0:
                await self._unicast(ctx, transport, routed, state)
        if self.unicast_retry and any(ip not in collector.answered for ip in routed):
            await asyncio.sleep(min(gap, ctx.remaining()))
            silent = [ip for ip in routed if ip not in collector.answered]
            await self._unicast(ctx, transport, silent, state)

    async def _unicast(
        self, ctx: ProbeContext, transport: asyncio.DatagramTransport, targets: Sequence[str], state: _SendState
    ) -> None:
        for ip in targets:
            for payload in self.payloads(False):
                if not await paced_to(ctx, ip, self.name):
                    break
                _send(transport, payload, (ip, self.port))
                state.last = time.monotonic()

    async def unicast(self, ctx: ProbeContext, ip: str, *, retries: int = 1, bypass: bool = False) -> bool:
        """Ask one host (a live routed device, or a re-check): its reply is reported like any other.

        Sends the unicast payloads, once more after a short wait if nothing came back, and
        listens until the host answered or ``ctx.timeout`` passed. True if anything came
        from ``ip`` (even an unparseable reply: the device answered).
        """
        loop = asyncio.get_running_loop()
        sock = open_udp_socket(ctx.interface, str(ctx.iface_addr.ip))
        queue: deque[tuple[bytes, str, float]] = deque()
        wake = asyncio.Event()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Inbox(queue, wake), sock=sock)
        except BaseException:
            sock.close()
            raise
        collector = _Collector(self, ctx)
        gap = min(max(ctx.timeout / 3, 0.1), 1.0)
        try:
            for attempt in range(1 + max(0, retries)):
                for payload in self.payloads(False):
                    if not await paced_to(ctx, ip, self.name, bypass=bypass):
                        return ip in collector.answered
                    _send(transport, payload, (ip, self.port))
                end = min(time.monotonic() + (gap if attempt < retries else ctx.timeout), ctx.deadline)
                while ip not in collector.answered and (now := time.monotonic()) < end:
                    collector.drain(queue)
                    if ip in collector.answered or queue:
                        continue
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=max(0.0, min(end - now, 0.25)))
                _read_what_is_left([sock], queue)  # a reply the busy loop has not read yet is still a reply
                collector.drain(queue)
                if ip in collector.answered:
                    break
        finally:
            transport.close()
        return ip in collector.answered

    async def _listen(
        self,
        ctx: ProbeContext,
        queue: deque[tuple[bytes, str, float]],
        wake: asyncio.Event,
        collector: _Collector,
        sender: asyncio.Future[None],
        state: _SendState,
    ) -> None:
        quiet = self.quiet if self.quiet is not None else ctx.timeout
        while True:
            collector.drain(queue)
            now = time.monotonic()
            if now >= ctx.deadline:
                return
            if sender.done():
                if sender.exception() is not None:
                    return
                # Stop after a quiet period, and never later than 3 quiet periods after the
                # last send: a host that never stops talking cannot hold the scan.
                end = min(max(state.last, collector.last_rx) + quiet, state.last + 3 * quiet, ctx.deadline)
            else:
                end = min(now + quiet, ctx.deadline)
            if now >= end:
                return
            wake.clear()
            if queue:
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, min(end - now, 0.25)))
            except TimeoutError:
                pass


@dataclass
class _SendState:
    last: float


async def paced(ctx: ProbeContext, n: int = 1) -> bool:
    """Wait for ``n`` tokens of the shared rate limiter unless the deadline comes first; False = stop sending."""
    left = ctx.remaining()
    if left <= 0:
        return False
    try:
        await asyncio.wait_for(ctx.rate.acquire(n), timeout=left)
    except TimeoutError:
        return False
    return True


class Sweep:
    """Tokens for a sweep's packets (ARP, ICMP echo), taken a few at a time.

    One trip through the event loop per batch, not per packet: on a busy loop (hundreds of
    devices being probed) a sweep that waited per packet crawled at a few dozen a second and
    found the last devices late. A batch is a twentieth of a second's worth of the rate (at least
    ``BATCH``): with a fixed 16 the trips themselves paced the sweep, and at ``--profile fast``
    (5,000/s) the ARP sweep of a 290-device LAN took 4 s instead of 0.1 s and held the whole scan
    open. The batch never exceeds the limiter's burst, so the rate holds.
    """

    BATCH = 16
    BATCH_SECONDS = 0.05

    def __init__(self, ctx: ProbeContext, packets: int) -> None:
        self.ctx = ctx
        self.batch = max(1, min(max(self.BATCH, int(ctx.rate.rate * self.BATCH_SECONDS)), int(ctx.rate.burst)))
        self.todo = packets
        """Packets still to send: the last batch takes no more tokens than it needs."""
        self.left = 0

    async def next(self) -> bool:
        """True: send one packet now. False: the deadline came first."""
        if self.left == 0:
            n = max(1, min(self.batch, self.todo))
            if not await paced(self.ctx, n):
                return False
            self.left = n
        self.left -= 1
        self.todo -= 1
        return True


async def paced_to(ctx: ProbeContext, ip: str, probe: str, *, bypass: bool = False) -> bool:
    """Wait for the device's pacing (``ctx.host(ip).datagram``) unless the deadline comes first or the
    device was given up; False = do not send."""
    left = ctx.remaining()
    if left <= 0:
        return False
    try:
        await asyncio.wait_for(ctx.host(ip).datagram(ctx.probe or probe, bypass=bypass), timeout=left)
    except (TimeoutError, HostGivenUp):
        return False
    return True


def _read_what_is_left(socks: list[socket.socket], queue: deque[tuple[bytes, str, float]],
                       limit: int = 65536) -> None:
    """Every datagram the kernel still holds for these sockets, before they close.

    asyncio reads one datagram per trip through the event loop; on a loop busy probing a
    thousand hosts, a thousand multicast replies can still sit in the socket buffer when the
    listening window ends, and closing the socket would throw them away (a device heard by
    the network, lost by the scan). Non-blocking, bounded.
    """
    for sock in socks:
        for _ in range(limit):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            queue.append((data, str(addr[0]), time.time()))


def _send(transport: asyncio.DatagramTransport, payload: bytes, dest: tuple[str, int]) -> None:
    with contextlib.suppress(OSError):
        transport.sendto(payload, dest)


class _Collector:
    """Turns datagrams into observations: scope check, flood guard, parse, de-duplicate, emit."""

    def __init__(self, spec: UdpDiscovery, ctx: ProbeContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self.own = str(ctx.iface_addr.ip)
        self.seen: set[str] = set()
        self.warned: set[str] = set()
        self.counts: dict[str, int] = {}
        self.answered: set[str] = set()
        self.last_rx = 0.0
        """monotonic time of the last in-scope datagram"""

    def drain(self, queue: deque[tuple[bytes, str, float]]) -> None:
        while queue:
            data, ip, at = queue.popleft()
            self.handle(data, ip, at)

    def handle(self, data: bytes, ip: str, at: float) -> None:
        ctx = self.ctx
        if ip == self.own or not in_scope(ctx, ip):
            return
        self.last_rx = time.monotonic()
        n = self.counts.get(ip, 0) + 1
        self.counts[ip] = n
        if n > MAX_DATAGRAMS_PER_SENDER:
            return
        if ip not in self.answered:
            self.answered.add(ip)
            ctx.host(ip).heard(self.spec.name)
        try:
            devices = self.spec.parse(data)
        except ValueError as exc:
            self._warn(ip, str(exc) or type(exc).__name__, data, at)
            return
        except Exception as exc:  # a parser bug must not end the scan; record it instead
            self._warn(ip, f"unparseable reply ({type(exc).__name__})", data, at)
            return
        for fields in devices:
            key = self.spec.key(ip, fields)
            if key in self.seen:
                continue
            self.seen.add(key)
            ctx.live.add(ip)
            start = self.spec.raw_start(data) if self.spec.raw_start else 0
            ctx.emit(Observation(ip=ip, probe=self.spec.name, fields=fields, raw=excerpt(data[start:]), seen_at=at))

    def _warn(self, ip: str, warning: str, data: bytes, at: float) -> None:
        if ip in self.warned:
            return
        self.warned.add(ip)
        self.ctx.live.add(ip)
        self.ctx.emit(
            Observation(
                ip=ip, probe=self.spec.name, fields={}, raw=excerpt(data, 512), seen_at=at,
                warning=warning[:WARNING_MAX],
            )
        )


class _Default(enum.Enum):
    GROUP = "the protocol's multicast group"


class UdpProbe:
    """A discovery probe that is one :class:`UdpDiscovery` run.

    A protocol module subclasses it, sets ``name``/``default_port``/``default_group``
    (and ``broadcast``), and defines ``payloads`` and ``parse_reply`` (or ``parse``
    for several devices per datagram). ``port``/``group`` are overridable for tests;
    ``group=None`` means unicast only (then no broadcast or group listener either).
    """

    name: ClassVar[str]
    default_port: ClassVar[int]
    default_group: ClassVar[str]
    broadcast: ClassVar[bool] = False
    """Also send to the subnet broadcast and listen on group:port (devices that answer by multicast)."""

    def __init__(self, port: int | None = None, group: str | None | _Default = _Default.GROUP,
                 repeats: int = 2) -> None:
        self.port = self.default_port if port is None else port
        self.group = self.default_group if group is _Default.GROUP else group
        self.repeats = repeats

    def payloads(self, multicast: bool) -> list[bytes]:
        """Datagrams to send now, to the group/broadcast (``multicast``) or to one routed target."""
        raise NotImplementedError

    def parse_reply(self, data: bytes) -> dict[str, Any]:
        """One datagram → one device's fields ({} = not a reply); raises ValueError on bad input."""
        raise NotImplementedError

    def parse(self, data: bytes) -> list[dict[str, Any]]:
        fields = self.parse_reply(data)
        return [fields] if fields else []

    def key(self, ip: str, fields: dict[str, Any]) -> str:
        return device_key(ip, fields)

    def raw_start(self, data: bytes) -> int:
        return 0

    def discovery(self) -> UdpDiscovery:
        wide = self.broadcast and self.group is not None
        return UdpDiscovery(
            name=self.name,
            port=self.port,
            group=self.group,
            payloads=self.payloads,
            parse=self.parse,
            key=self.key,
            raw_start=self.raw_start,
            broadcast=wide,
            listen_group=wide,
            repeats=self.repeats,
        )

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        """Unicast to one live routed host (on-link ones heard the multicast already)."""
        if host.ip in ctx.scope and not ctx.on_link(host.ip):
            await self.discovery().unicast(ctx, host.ip)

    async def ask(self, ctx: ProbeContext, ip: str) -> bool:
        """One gentle question (attempt + retry) to a device that answered this protocol before,
        reporting nothing: True if it still answers (the end-of-scan re-check)."""
        quiet = dataclasses.replace(ctx, emit=lambda obs: None, live=set())
        return await self.discovery().unicast(quiet, ip, bypass=True)

    async def run(self, ctx: ProbeContext) -> None:
        await self.discovery().run(ctx)
