"""How hard a scan may hit the network, and each device on it: the one pacing mechanism of every probe.

Two limits, both enforced here and nowhere else:

* the **global rate**: new connections and datagrams per second across the whole scan
  (the shared token bucket, ``base.RateLimiter``): what a network, a firewall or an IDS sees;
* the **per-host limit**: at most ``host_connections`` connections open at once to one
  device, and at most ``host_rate`` new connections or requests per second to it (every
  probe together: port probe, HTTP, RTSP, ONVIF, unicast discovery, re-checks). What
  crashes an old camera is how hard *it* is hit, not the scan's total.

A probe never paces itself. It asks the scan's :class:`Pacing` for the device's
:class:`HostPacer` (``ctx.pacing.host(ip)``) and goes through it for every operation:

* ``async with host.connection(probe) as conn:`` around every TCP connection (a slot for
  as long as it is open, one host token and one global token to open it); then
  ``await conn.request()`` before each request sent on it (the first is paid by the
  connection, each further one costs a host token), and ``conn.answered(port, refused=...)``
  or ``conn.silent(port)`` for how the connect went. ``auditor.probes.streams.open_stream``
  does all of this for asyncio streams (every probe's TCP goes through it, ONVIF's SOAP included);
* ``await host.datagram(probe)`` before each unicast datagram (one host and one global token).

It also watches each device's health: once a device has answered, ``backoff_after``
consecutive connection attempts without any answer (no SYN-ACK, no reset) trigger one
confirmation check (the engine's ``confirm`` callback: the cheapest probe that answered
before); if that fails too the device is given up for the rest of the scan, every further
acquisition raises :class:`HostGivenUp`, and ``on_backoff`` records why. Counts of what
was sent to each device per probe are kept for the report ("what was sent to it").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .base import RateLane, RateLimiter

REQUEUE_AHEAD = 0.5
"""How far ahead in the global queue an operation goes when its token came while the device's slots were
all busy (it gave the token back and waited for a slot: it had its turn already). Host operations queue at
``Pacing.priority`` (1), discovery packets at 0: this stays behind discovery."""
BACKOFF_AFTER = 3
"""Consecutive unanswered connection attempts (after the device had answered) before it is checked."""


@dataclass(frozen=True)
class Limits:
    """The effective pacing of one scan (a profile, possibly with explicit overrides)."""

    rate: float
    """New connections and datagrams per second, the whole scan."""
    host_rate: float
    """New connections or requests per second to any one device."""
    host_connections: int
    """Connections open at once to any one device."""
    profile: str = "default"
    overrides: tuple[str, ...] = ()
    """Which values the operator set explicitly (``rate``, ``host_rate``, ``host_connections``)."""

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.host_rate > 0 and self.host_connections >= 1):
            raise ValueError("pacing limits must be positive")

    def as_dict(self) -> dict[str, Any]:
        """For the scan's stats (the report's method section shows them)."""
        return {"profile": self.profile, "rate": self.rate, "host_rate": self.host_rate,
                "host_connections": self.host_connections, "overrides": list(self.overrides)}

    def describe(self) -> str:
        over = f" ({', '.join(o.replace('_', '-') for o in self.overrides)} set explicitly)" if self.overrides else ""
        return (f"profile {self.profile}{over}: {self.rate:g}/s overall, per device at most "
                f"{self.host_connections} connection{'s' if self.host_connections != 1 else ''} at once and "
                f"{self.host_rate:g} new connections or requests per second")


PROFILES: dict[str, Limits] = {
    "ot": Limits(rate=200.0, host_rate=5.0, host_connections=1, profile="ot"),
    "default": Limits(rate=1000.0, host_rate=20.0, host_connections=2, profile="default"),
    "fast": Limits(rate=5000.0, host_rate=40.0, host_connections=2, profile="fast"),
}
"""``ot``: plants, old recorders, anything that must not notice the scan (one connection at a
time per device). ``default``: an ordinary camera network. ``fast``: labs and modern networks:
the global rate and the per-device rate grow, connections at once per device do not (holding
many at once is what hangs old cameras). Documented in ``camaudit scan --help``, README and
examples/audit.yaml."""
DEFAULT_PROFILE = "default"


def resolve_limits(profile: str | None = None, *, rate: float | None = None, host_rate: float | None = None,
                   host_connections: int | None = None) -> Limits:
    """The profile's limits with the operator's explicit values on top (an explicit value always wins)."""
    name = profile or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    given = {"rate": rate, "host_rate": host_rate, "host_connections": host_connections}
    set_ = {k: v for k, v in given.items() if v is not None}
    return replace(PROFILES[name], **set_, overrides=tuple(set_))  # type: ignore[arg-type]


class HostGivenUp(Exception):
    """The device stopped answering during the scan: no further probes are sent to it."""

    def __init__(self, ip: str) -> None:
        super().__init__(f"{ip} stopped answering; no further probes sent to it")
        self.ip = ip


@dataclass
class HostRecord:
    """What the scan knows of one device's health, and what it sent to it."""

    sent: dict[str, Counter[str]] = field(default_factory=dict)
    """probe → {"connections": n, "requests": n, "datagrams": n}."""
    open_ports: list[int] = field(default_factory=list)
    """TCP ports that accepted a connection, in the order they first did."""
    refused_ports: list[int] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    """Probes something was heard from (discovery answers: arp, ping, wsdiscovery, sadp, dhip)."""
    answered: bool = False
    silent_run: int = 0
    given_up: str | None = None
    """Why the scan stopped probing the device; None while it is probed."""
    logins: dict[str, str] = field(default_factory=dict)
    """username → ``accepted`` | ``refused``: the login attempts every probe made on the device. An
    account refused once is never offered again in this scan (cameras lock accounts)."""
    failed_logins: int = 0
    """Refused logins on the device in this scan, every probe and account counted (the factory-default
    check never tries one after a failure, and stays under the maker's lockout threshold)."""
    lockout: str | None = None
    """Set when the device signalled a lockout (HTTP 423/429, Hikvision lockStatus...): no further
    login is attempted on it in this scan."""

    def count(self, probe: str, kind: str, n: int = 1) -> None:
        self.sent.setdefault(probe, Counter())[kind] += n

    def sent_summary(self) -> str:
        """``ports: 20 connections; http: 2 connections, 5 requests`` (for people)."""
        parts = []
        for probe in sorted(self.sent):
            c = self.sent[probe]
            items = [f"{c[k]} {k if c[k] != 1 else k[:-1]}" for k in ("connections", "requests", "datagrams") if c[k]]
            parts.append(f"{probe}: {', '.join(items)}")
        return "; ".join(parts) or "nothing unicast"


class Pacing:
    """The scan's pacing: the global limiter, one :class:`HostPacer` per device, health callbacks."""

    def __init__(self, limits: Limits, limiter: RateLimiter | RateLane | None = None, *,
                 backoff_after: int = BACKOFF_AFTER, priority: float = 1) -> None:
        self.limits = limits
        self.limiter = limiter if limiter is not None else RateLimiter(limits.rate)
        self.backoff_after = backoff_after
        self.priority = priority
        """Global-queue priority of host operations (discovery packets use 0, ahead of them); among them,
        first come first served (see ``HostPacer.connection``)."""
        self.hosts: dict[str, HostPacer] = {}
        self.confirm: Callable[[HostPacer], Awaitable[bool]] | None = None
        """Set by the engine: one gentle check of a device that went quiet (True: it answered)."""
        self.on_backoff: Callable[[HostPacer], None] | None = None
        """Set by the engine: called once when a device is given up."""

    def host(self, ip: str) -> HostPacer:
        pacer = self.hosts.get(ip)
        if pacer is None:
            pacer = self.hosts[ip] = HostPacer(self, ip)
        return pacer

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the health checks still running, so their verdicts are in."""
        pending = [h._checking for h in self.hosts.values() if h._checking is not None and not h._checking.done()]
        if pending and timeout > 0:
            await asyncio.wait(pending, timeout=timeout)

    def refund(self) -> None:
        """Give back a global token taken for a connection that did not open then (``HostPacer.connection``)."""
        limiter = self.limiter.limiter if isinstance(self.limiter, RateLane) else self.limiter
        if isinstance(limiter, RateLimiter):
            limiter.refund(1)

    async def global_token(self, priority: float | None = None) -> None:
        lane_priority = self.priority if priority is None else priority
        if isinstance(self.limiter, RateLimiter):
            await self.limiter.acquire(1, lane_priority)
        else:
            await self.limiter.acquire(1)


class HostPacer:
    """Pacing and health of one device; every probe's operations on it go through here."""

    def __init__(self, pacing: Pacing, ip: str) -> None:
        self.pacing = pacing
        self.ip = ip
        self.priority = pacing.priority
        self.record = HostRecord()
        self._interval = 1.0 / pacing.limits.host_rate
        self._next = 0.0
        self._last_start = -math.inf
        self._slots: asyncio.Semaphore | None = None
        self._checking: asyncio.Future[None] | None = None

    # ---------------------------------------------------------------- the limits

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.pacing.limits.host_connections)
        return self._slots

    async def _usable(self, bypass: bool) -> None:
        if bypass:
            return
        if self._checking is not None and not self._checking.done():
            await asyncio.shield(self._checking)
        if self.record.given_up is not None:
            raise HostGivenUp(self.ip)

    async def _host_token(self) -> None:
        """Wait until this device may receive one more new connection or request.

        Start times are reserved in call order, ``1/host_rate`` apart; after the global
        queue (which may have delayed an earlier start) the gap is checked again, so two
        starts to one device are never closer than the interval: never more than
        ``host_rate`` (+1) in any one second.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)

    async def _settle(self) -> None:
        """Return only when the last start to this device is at least ``1/host_rate`` ago, and mark now
        as a start. Checked again after every wake (several operations may wait here at once, and a
        late wake-up must not let two of them through together); the caller sends in the same step."""
        loop = asyncio.get_running_loop()
        while (gap := self._last_start + self._interval - loop.time()) > 0:
            await asyncio.sleep(gap)
        self._last_start = loop.time()

    @contextlib.asynccontextmanager
    async def slot(self, *, bypass: bool = False) -> AsyncIterator[None]:
        """One of the device's connection slots, held for the body (no tokens)."""
        await self._usable(bypass)
        async with self._semaphore():
            yield

    @contextlib.asynccontextmanager
    async def connection(self, probe: str, *, bypass: bool = False) -> AsyncIterator[PacedConnection]:
        """Pay for opening one connection (host + global token), then hold a connection slot for the body.

        The global token comes first: an operation waiting in the global queue holds none of the device's
        few slots, so the device's other probes go on using the connections they have. (Slot first, a port
        knock queued behind a busy network held one of the two slots while the web and ONVIF requests,
        which need no global token, waited for it; every scan ended with those request chains, about
        0.4 s of a 290-device scan.) When every slot is busy as the token comes, the token is given back,
        the operation waits for a slot and then takes a token again ``REQUEUE_AHEAD`` in the queue: it had
        its turn. Either way a token is spent the moment a connection opens: the global rate holds.

        Raises :class:`HostGivenUp` when the device was given up. ``bypass`` is for the
        health checks themselves (they run while other operations wait on them).
        """
        queued = self.priority
        await self._usable(bypass)
        await self._host_token()
        slots = self._semaphore()
        await self.pacing.global_token(queued)
        if slots.locked():
            self.pacing.refund()
            await slots.acquire()
            try:
                await self._usable(bypass)  # given up while this waited?
                await self.pacing.global_token(queued - REQUEUE_AHEAD)
            except BaseException:
                slots.release()
                raise
        else:
            await slots.acquire()  # free: returns at once
        try:
            await self._settle()
            self.record.count(probe, "connections")
            yield PacedConnection(self, probe)
        finally:
            slots.release()

    async def request(self, probe: str) -> None:
        """A request on a connection held elsewhere (or whose opening a library manages): one host token."""
        await self._usable(False)
        await self._host_token()
        await self._settle()
        self.record.count(probe, "requests")

    async def datagram(self, probe: str, *, bypass: bool = False) -> None:
        """One unicast datagram to the device: one host and one global token."""
        await self._usable(bypass)
        await self._host_token()
        await self.pacing.global_token(self.priority)
        await self._settle()
        self.record.count(probe, "datagrams")

    def count(self, probe: str, kind: str, n: int = 1) -> None:
        """Record packets a sweep already sent (ARP, ICMP echo): counted, not paced here."""
        self.record.count(probe, kind, n)

    # ---------------------------------------------------------------- logins

    def may_log_in(self, username: str) -> bool:
        """True unless this account was refused already in this scan, or the device signalled a lockout."""
        return self.record.lockout is None and self.record.logins.get(username) != "refused"

    def login(self, username: str, accepted: bool) -> None:
        """Record one login attempt's outcome (any probe: ONVIF, a maker's API, the default check)."""
        rec = self.record
        if accepted:
            rec.logins.setdefault(username, "accepted")
            if rec.logins[username] != "refused":
                rec.logins[username] = "accepted"
            return
        rec.logins[username] = "refused"
        rec.failed_logins += 1

    def locked_out(self, why: str) -> None:
        """The device signalled a lockout: stop every login attempt on it at once."""
        if self.record.lockout is None:
            self.record.lockout = why

    # ---------------------------------------------------------------- health

    def answered(self, port: int | None = None, *, refused: bool = False) -> None:
        """The device answered (a SYN-ACK, a reset, a reply)."""
        rec = self.record
        rec.answered = True
        rec.silent_run = 0
        if port is not None:
            ports = rec.refused_ports if refused else rec.open_ports
            if port not in ports:
                ports.append(port)

    def heard(self, probe: str) -> None:
        """A discovery probe heard from the device (ARP, ICMP, WS-Discovery, SADP, DHIP reply)."""
        rec = self.record
        rec.answered = True
        rec.silent_run = 0
        if probe not in rec.heard:
            rec.heard.append(probe)

    def silent(self) -> None:
        """A connection attempt got no answer at all (timeout, host unreachable)."""
        rec = self.record
        if not rec.answered or rec.given_up is not None:
            return
        rec.silent_run += 1
        if rec.silent_run >= self.pacing.backoff_after and (self._checking is None or self._checking.done()):
            self._checking = asyncio.ensure_future(self._check())

    async def _check(self) -> None:
        confirm = self.pacing.confirm
        alive = False
        if confirm is not None:
            try:
                alive = await confirm(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                alive = False
        if alive:
            self.record.silent_run = 0
            return
        self.give_up(f"answered earlier, then {self.record.silent_run} connection attempts in a row went "
                     "unanswered" + (" and a re-check got no answer either" if confirm is not None else ""))

    def give_up(self, why: str) -> None:
        if self.record.given_up is not None:
            return
        self.record.given_up = why
        if self.pacing.on_backoff is not None:
            self.pacing.on_backoff(self)


class PacedConnection:
    """One open connection's pacing handle (see :meth:`HostPacer.connection`)."""

    def __init__(self, host: HostPacer, probe: str) -> None:
        self.host = host
        self.probe = probe
        self.requests = 0

    async def request(self) -> None:
        """Call before sending each request on this connection (the first one is paid for)."""
        self.requests += 1
        if self.requests > 1:
            await self.host.request(self.probe)
        else:
            self.host.record.count(self.probe, "requests")

    def answered(self, port: int | None = None, *, refused: bool = False) -> None:
        self.host.answered(port, refused=refused)

    def silent(self) -> None:
        self.host.silent()
