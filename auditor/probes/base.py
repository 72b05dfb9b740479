"""The probe interface and the shared pacing primitives.

Two kinds of probe:
* ``DiscoveryProbe`` runs once per scan (ARP sweep, WS-Discovery, SADP, DHIP): it
  sends to the interface's multicast groups and/or to every target address and
  reports what answers.
* ``HostProbe`` runs once per live host (ports, http, rtsp, onvif). On a host discovery
  already heard, the web and RTSP probes run beside the port probe and make the first
  connect to their services' standard ports themselves (``HostState.knocks``): the port
  probe counts those, so an open web port costs one connection, not a knock and then
  another. ONVIF follows the web probe (``HostState.web_ready``) on the connection it left
  open (``HostState.keep``); everything else waits for the port probe (``HostState.ports_done``).

Both emit ``Observation`` records through ``ctx.emit`` as soon as they have them, so
an interrupted scan keeps everything seen so far. Probes never print; they never
raise for bad network input (they emit an observation with ``warning`` instead).
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..models import Observation

if TYPE_CHECKING:
    from ..credentials import Credentials
    from .pacing import HostPacer, Pacing


class RateLimiter:
    """Token bucket shared by every probe: ``await acquire()`` before each packet or connection.

    ``rate`` is new connections and datagrams per second, the whole scan; ``burst`` (a
    tenth of a second's worth by default) lets the scan catch up after its event loop was
    busy for a moment, without ever exceeding the rate over any longer stretch. What
    protects each device is the per-device pacing (``auditor.probes.pacing``), not this.
    Waiters are served in priority order, then first come first served: discovery probes
    use a higher-priority ``lane`` so a long queue of port probes cannot starve the
    multicast/unicast discovery packets whose answers decide which hosts exist; host
    operations are served first come first served.
    """

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1, int(rate // 10)))
        self._tokens = self.burst
        self._last = time.monotonic()
        self._waiters: list[tuple[float, int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, n: int = 1, priority: float = 1) -> None:
        """Wait for ``n`` tokens; lower ``priority`` numbers go first."""
        self._refill()
        if not self._waiters and self._tokens >= n:
            self._tokens -= n
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), n, fut))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._serve())
        await fut

    async def _serve(self) -> None:
        while self._waiters:
            _, _, n, fut = self._waiters[0]
            if fut.done():  # cancelled waiter
                heapq.heappop(self._waiters)
                continue
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                heapq.heappop(self._waiters)
                fut.set_result(None)
                continue
            await asyncio.sleep((n - self._tokens) / self.rate)

    def refund(self, n: int = 1) -> None:
        """Give back tokens taken for sends that did not happen then (never above the burst)."""
        self._refill()
        self._tokens = min(self.burst, self._tokens + n)

    def lane(self, priority: float) -> RateLane:
        """A view of this limiter whose ``acquire`` waits at ``priority``."""
        return RateLane(self, priority)


class RateLane:
    """The same bucket, another place in the queue (see ``RateLimiter.lane``)."""

    def __init__(self, limiter: RateLimiter, priority: float) -> None:
        self.limiter, self.priority = limiter, priority

    @property
    def rate(self) -> float:
        return self.limiter.rate

    @property
    def burst(self) -> float:
        return self.limiter.burst

    async def acquire(self, n: int = 1) -> None:
        await self.limiter.acquire(n, self.priority)


class Scope(Protocol):
    """What the operator named (see ``auditor.scope``)."""

    def __contains__(self, ip: object) -> bool: ...
    def addresses(self) -> Iterator[ipaddress.IPv4Address]: ...
    def __len__(self) -> int: ...


@dataclass
class ProbeContext:
    scope: Scope
    """Targets minus excludes; every probe must stay inside it (``ip in ctx.scope``)."""
    interface: str
    """Interface the operator named; multicast and ARP go out on it only."""
    iface_addr: ipaddress.IPv4Interface
    """The interface's address and attached network."""
    rate: RateLimiter | RateLane
    timeout: float
    """Per-request timeout in seconds."""
    deadline: float
    """Absolute ``time.monotonic()`` after which probes must stop and return."""
    emit: Callable[[Observation], None]
    credentials: Credentials | None = None
    live: set[str] = field(default_factory=set)
    """Addresses known to be up; discovery probes add to it."""
    pacing: Pacing = None  # type: ignore[assignment]
    """Global and per-device limits every unicast operation goes through (``auditor.probes.pacing``);
    built from the default profile around ``rate`` when not given."""
    probe: str = ""
    """The probe this context was handed to (the engine sets it): what ``pacing`` counts against."""
    unicast_routed: bool = True
    """Discovery probes unicast to every routed target themselves (a probe run on its own). The
    engine sets False: it sweeps routed ranges first and unicasts discovery per live host."""
    default_credentials: Any = None
    """The makers' factory-default credentials (``auditor.defaultcreds.DefaultCredentials``) when the
    operator asked for the check (``--check-default-credentials``); None: the check is off."""

    def __post_init__(self) -> None:
        if self.pacing is None:
            from .pacing import PROFILES, Pacing

            self.pacing = Pacing(PROFILES["default"], limiter=self.rate)

    def host(self, ip: str) -> HostPacer:
        """The pacing of one device (see ``auditor.probes.pacing``)."""
        return self.pacing.host(ip)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def on_link(self, ip: str | ipaddress.IPv4Address) -> bool:
        """True if ``ip`` is on the interface's directly attached subnet (ARP/multicast reach it)."""
        return ipaddress.IPv4Address(str(ip)) in self.iface_addr.network

    def routed_targets(self) -> Iterator[ipaddress.IPv4Address]:
        """Targets beyond the attached subnet: reached only by unicast."""
        spans = getattr(self.scope, "spans", None)
        if spans is not None:  # a ScanScope: skip the attached subnet's span at once (a /16 is 65,536 checks)
            net = self.iface_addr.network
            lo, hi = int(net.network_address), int(net.broadcast_address)
            return (ipaddress.IPv4Address(v) for a, b in spans for r in ((a, min(b, lo - 1)), (max(a, hi + 1), b))
                    for v in range(r[0], r[1] + 1))
        return (a for a in self.scope.addresses() if not self.on_link(a))


@dataclass
class HostState:
    ip: str
    open_ports: set[int] = field(default_factory=set)
    xaddrs: list[str] = field(default_factory=list)
    """ONVIF device-service URLs WS-Discovery reported for this address (the ONVIF probe tries them first)."""
    mute_ports: set[int] = field(default_factory=set)
    """Ports that accepted a connection and then sent not one byte back to the HTTP probe's first request
    within the timeout (a tarpit, a hung web server): the ONVIF probe, which runs after the HTTP probe,
    sends them no SOAP request, which could only wait out the same timeout holding one of the device's
    connection slots."""
    seen: list[Observation] = field(default_factory=list)
    """What this address has answered so far in this scan (kept up to date by the engine while probes run)."""
    hints: Callable[[list[Observation]], set[str]] | None = None
    """Observations → the makers they point to (``identify.maker_hints`` with the knowledge base);
    None: no hints, so no maker-specific request is ever sent."""

    knocks: dict[int, asyncio.Future[bool | None]] = field(default_factory=dict)
    """Ports whose connect a service probe makes itself, its first request's connection standing in for
    the port probe's knock (one connection per open service port instead of two: at the default
    global rate that was a tenth of a scan's time). The service probe settles each with what the
    connect said (``settle_knock``: True accepted, False refused, None silent); the port probe waits
    for that instead of knocking. Empty: the port probe knocks every port itself."""
    ports_done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the port probe has finished: ``open_ports`` is then complete (the alternates and any
    retry included) and its observation among ``seen``."""

    web_ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the web probe has spoken to every web port whose knock it made (``serve_ports``' first
    round): the probes that follow it (ONVIF) may start, on the connection it left open, while the port
    probe may still be knocking elsewhere."""

    keep_for: frozenset[tuple[int, bool]] = frozenset()
    """(port, TLS) of the web servers a later probe speaks to as well (ONVIF's SOAP): the web probe leaves
    its connection to one of them open (``keep``) and that probe takes it over (``take_kept``), one
    connection where there were two. Set by the engine."""
    kept: dict[tuple[int, bool], Any] = field(default_factory=dict)
    """The web probe's connection left open, by (port, TLS): at most one per device (an idle connection
    holds one of the device's few connection slots). The engine closes what nobody took."""

    kept_closed: bool = False
    """Set by ``close_kept``: from then on nothing is left open (a web probe still finishing as the scan is
    cut short closes its connection itself, or it would outlive the scan)."""

    def wants_kept(self, port: int, tls: bool) -> bool:
        """Should the web probe leave its connection to this port open (``keep_for``, none kept yet)?"""
        return (port, tls) in self.keep_for and not self.kept and not self.kept_closed

    def keep(self, port: int, tls: bool, conn: Any) -> bool:
        """Leave ``conn`` open for the later probe; False: not wanted (the caller closes it)."""
        if not self.wants_kept(port, tls):
            return False
        self.kept[(port, tls)] = conn
        return True

    def take_kept(self, port: int, tls: bool) -> Any | None:
        """The web probe's open connection to this port, if it left one: the caller now owns it."""
        return self.kept.pop((port, tls), None)

    async def close_kept(self) -> None:
        self.kept_closed = True
        kept, self.kept = list(self.kept.values()), {}
        for conn in kept:
            await conn.close()

    def expect_knocks(self, ports: Iterable[int]) -> None:
        """The service probes will make the first connect to ``ports`` (see ``knocks``)."""
        loop = asyncio.get_running_loop()
        for port in ports:
            self.knocks.setdefault(port, loop.create_future())

    def settle_knock(self, port: int, state: bool | None) -> None:
        """What a service probe's first connect to ``port`` said (True open, False refused, None silent);
        a port already settled keeps its first answer."""
        fut = self.knocks.get(port)
        if fut is not None and not fut.done():
            fut.set_result(state)

    def port_open(self, port: int) -> bool:
        """Open as far as known now: the port probe found it so, or a service probe's knock did."""
        knock = self.knocks.get(port)
        return port in self.open_ports or (knock is not None and knock.done() and knock.result() is True)

    def port_known(self, port: int) -> bool:
        """Is the port's state known before the port probe has finished (a service probe knocked on it)?"""
        knock = self.knocks.get(port)
        return self.ports_done.is_set() or (knock is not None and knock.done())

    async def serve_ports(self, ports: Iterable[int], speak: Callable[[int, bool], Awaitable[None]],
                          first_done: asyncio.Event | None = None) -> None:
        """Run ``speak(port, knocked)`` on each of a service's ``ports`` that is open.

        First on those whose first connect is the service probe's own (``knocks``; ``knocked`` True: a
        refused or silent connect is then no news, the port is shut, and ``speak`` must settle the knock
        with what its connect said); then (``first_done`` set), once the port probe has finished, on the
        others it found open (an alternate port, a retry's finds). Without knocks: the open ports the
        port probe left.
        """
        ports = tuple(ports)
        own = [p for p in ports if p in self.knocks]
        if not own:
            await asyncio.gather(*(speak(p, False) for p in ports if p in self.open_ports), return_exceptions=True)
            if first_done is not None:
                first_done.set()
            return
        try:
            await asyncio.gather(*(speak(p, True) for p in own), return_exceptions=True)
        finally:
            for p in own:  # a try that ended before its connect (the deadline, a given-up device)
                self.settle_knock(p, None)
            if first_done is not None:
                first_done.set()
        await self.ports_done.wait()
        spoken = {p for p in own if self.knocks[p].result() is True}
        await asyncio.gather(*(speak(p, False) for p in ports if p in self.open_ports and p not in spoken),
                             return_exceptions=True)

    def makers(self, more: Iterable[Observation] = ()) -> set[str]:
        """The makers what this address showed so far (and ``more``, a probe's own findings) point to."""
        if self.hints is None:
            return set()
        return self.hints([*self.seen, *more])


class DiscoveryProbe(Protocol):
    name: ClassVar[str]

    async def run(self, ctx: ProbeContext) -> None: ...


class HostProbe(Protocol):
    name: ClassVar[str]

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None: ...
