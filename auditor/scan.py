"""Run the probes: concurrency, one global deadline, one shared rate limit, progress.

Phase 1 runs every discovery probe at once (ARP sweep, WS-Discovery, SADP, DHIP).
Phase 2 probes each candidate host — every address something answered from, plus
every routed target (beyond ARP and multicast, only unicast can find them): the
port probe first, then HTTP, RTSP and ONVIF concurrently. Hosts run in parallel up
to ``host_concurrency``; every packet waits on the one rate limiter.

Observations leave through ``emit`` the moment they exist, so a scan stopped by
Ctrl-C, SIGTERM or the deadline keeps everything seen so far.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import OperatorError, ScanError
from .models import Observation
from .probes.base import HostState, ProbeContext, RateLimiter
from .probes.registry import ALL_PROBES, DISCOVERY_PROBES, HOST_PROBES, load_probe
from .scope import ScanScope

if TYPE_CHECKING:
    from .credentials import Credentials

log = logging.getLogger(__name__)

DEFAULT_RATE = 300.0
"""Packets (or connection attempts) per second, shared by all probes; gentle for old cameras."""
DEFAULT_TIMEOUT = 2.0
DEFAULT_DEADLINE = 300.0
DEFAULT_HOST_CONCURRENCY = 128


class Progress(Protocol):
    """Where the engine reports progress; the CLI draws it, tests may count it."""

    def phase(self, name: str) -> None: ...
    def hosts(self, done: int, total: int, found: int) -> None: ...


class NullProgress:
    def phase(self, name: str) -> None:
        pass

    def hosts(self, done: int, total: int, found: int) -> None:
        pass


@dataclass
class ScanOptions:
    scope: ScanScope
    interface: str
    probes: tuple[str, ...] = ALL_PROBES
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    credentials: Credentials | None = None
    host_concurrency: int = DEFAULT_HOST_CONCURRENCY


@dataclass
class ScanOutcome:
    status: str
    """complete | interrupted (deadline, signal)."""
    stats: dict[str, Any] = field(default_factory=dict)


def parse_probe_list(text: str | None) -> tuple[str, ...]:
    """``--probes arp,onvif`` → validated tuple in registry order; None → all probes."""
    if not text:
        return ALL_PROBES
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in wanted if p not in ALL_PROBES]
    if unknown:
        raise OperatorError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(ALL_PROBES)}")
    return tuple(p for p in ALL_PROBES if p in wanted)


def interface_address(interface: str) -> ipaddress.IPv4Interface:
    """The IPv4 address and attached network of ``interface`` in the current namespace."""
    if interface not in {name for _, name in socket.if_nameindex()}:
        raise ScanError(f"interface {interface!r} does not exist on this host (see 'ip -br addr')")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = struct.pack("256s", interface.encode()[:15])
            addr = fcntl.ioctl(s.fileno(), 0x8915, packed)[20:24]  # SIOCGIFADDR
            mask = fcntl.ioctl(s.fileno(), 0x891B, packed)[20:24]  # SIOCGIFNETMASK
        except OSError:
            raise ScanError(f"interface {interface!r} has no IPv4 address") from None
    return ipaddress.IPv4Interface(f"{socket.inet_ntoa(addr)}/{socket.inet_ntoa(mask)}")


class _Guard:
    """Wraps ``emit``: drops anything outside the scope and counts warnings."""

    def __init__(self, scope: ScanScope, emit: Callable[[Observation], None]) -> None:
        self.scope, self._emit = scope, emit
        self.count = self.warnings = self.dropped = 0
        self.xaddrs: dict[str, list[str]] = {}

    def __call__(self, obs: Observation) -> None:
        if obs.ip not in self.scope:
            self.dropped += 1
            return
        self.count += 1
        if obs.warning:
            self.warnings += 1
        if obs.probe == "wsdiscovery":
            self.xaddrs.setdefault(obs.ip, []).extend(obs.fields.get("xaddrs", []))
        self._emit(obs)


async def _bounded(coro: Any, ctx: ProbeContext, name: str, ip: str, guard: _Guard) -> None:
    """Run one probe step under the deadline; a crash becomes a warning on that host, not a dead scan."""
    try:
        await asyncio.wait_for(coro, timeout=max(0.01, ctx.remaining()))
    except TimeoutError:
        log.debug("%s on %s stopped at the deadline", name, ip)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe bug must not kill the scan; record it where a person will see it
        log.warning("probe %s failed on %s: %s", name, ip, exc)
        guard(Observation(ip=ip, probe=name, fields={}, warning=f"probe error: {type(exc).__name__}: {exc}"[:300]))


async def run_scan(
    options: ScanOptions,
    emit: Callable[[Observation], None],
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> ScanOutcome:
    """Probe everything in ``options.scope``; return when done, at the deadline, or when ``stop`` is set."""
    progress = progress or NullProgress()
    iface = interface_address(options.interface)
    guard = _Guard(options.scope, emit)
    started = time.monotonic()
    ctx = ProbeContext(
        scope=options.scope, interface=options.interface, iface_addr=iface,
        rate=RateLimiter(options.rate), timeout=options.timeout,
        deadline=started + options.deadline, emit=guard, credentials=options.credentials,
    )
    stop = stop or asyncio.Event()
    work = asyncio.ensure_future(_run_phases(options, ctx, guard, progress))
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({work, stopper}, timeout=options.deadline + 5, return_when=asyncio.FIRST_COMPLETED)
    interrupted = work not in done
    for task in (work, stopper):
        if not task.done():
            task.cancel()
    await asyncio.gather(work, stopper, return_exceptions=True)
    if work.done() and not work.cancelled() and work.exception() is not None:
        raise work.exception()  # type: ignore[misc]
    stats = {
        "addresses": len(options.scope),
        "observations": guard.count,
        "warnings": guard.warnings,
        "out_of_scope_dropped": guard.dropped,
        "live_hosts": len(ctx.live),
        "elapsed_s": round(time.monotonic() - started, 3),
        "deadline_hit": time.monotonic() >= ctx.deadline,
        "stopped_by_operator": stop.is_set(),
    }
    if not interrupted and not work.cancelled():
        stats.update(work.result())
    status = "interrupted" if (interrupted or stop.is_set()) else "complete"
    return ScanOutcome(status=status, stats=stats)


async def _run_phases(options: ScanOptions, ctx: ProbeContext, guard: _Guard, progress: Progress) -> dict[str, Any]:
    timings: dict[str, float] = {}

    async def timed(name: str, coro: Any, ip: str) -> None:
        t0 = time.monotonic()
        await _bounded(coro, ctx, name, ip, guard)
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - t0, 3)

    progress.phase("discovery")
    discovery = [load_probe(n) for n in options.probes if n in DISCOVERY_PROBES]
    await asyncio.gather(*(timed(p.name, p.run(ctx), str(ctx.iface_addr.ip)) for p in discovery))

    host_probes = [load_probe(n) for n in options.probes if n in HOST_PROBES]
    candidates = _candidates(ctx, options)
    progress.phase("hosts")
    total, done = len(candidates), 0
    progress.hosts(0, total, len(ctx.live))
    sem = asyncio.Semaphore(options.host_concurrency)
    port_probe = next((p for p in host_probes if p.name == "ports"), None)
    others = [p for p in host_probes if p.name != "ports"]

    async def one_host(ip: str) -> None:
        nonlocal done
        async with sem:
            state = HostState(ip=ip)
            if hasattr(state, "xaddrs"):
                state.xaddrs = list(dict.fromkeys(guard.xaddrs.get(ip, [])))
            if port_probe is not None:
                await timed("ports", port_probe.probe_host(ctx, state), ip)
                if state.open_ports:
                    ctx.live.add(ip)
            if ip in ctx.live:
                await asyncio.gather(*(timed(p.name, p.probe_host(ctx, state), ip) for p in others))
            done += 1
            progress.hosts(done, total, len(ctx.live))

    await asyncio.gather(*(one_host(ip) for ip in candidates))
    return {"hosts_probed": total, "probe_seconds": timings}


def _candidates(ctx: ProbeContext, options: ScanOptions) -> list[str]:
    """Live hosts from discovery, plus every routed target (unicast is the only way to find those).

    Without any discovery probe selected, every in-scope address is a candidate.
    """
    found: Iterable[str] = ctx.live
    if not any(n in DISCOVERY_PROBES for n in options.probes):
        found = (str(a) for a in options.scope.addresses())
    out = set(found) | {str(a) for a in ctx.routed_targets()}
    own = str(ctx.iface_addr.ip)
    out.discard(own)
    return sorted((ip for ip in out if ip in options.scope), key=lambda s: ipaddress.IPv4Address(s))
