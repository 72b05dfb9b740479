"""The probe scheduler: concurrency, one global deadline, one shared rate limit, progress.

The discovery probes (ARP sweep, WS-Discovery, SADP, DHIP) run at once, and every
address they hear from is probed straight away, while they are still listening: the
port probe first, then HTTP, RTSP and ONVIF concurrently. Every routed target
(beyond ARP and multicast, only unicast can find it) is probed from the start. Hosts
run in parallel up to ``host_concurrency``; every packet waits on the one rate limiter.

Observations leave through ``emit`` the moment they exist, so a scan stopped by
Ctrl-C, SIGTERM or the deadline keeps everything seen so far.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import OperatorError, ScanError
from ..models import Observation
from ..scope import ScanScope
from .base import HostState, ProbeContext, RateLimiter
from .registry import ALL_PROBES, DISCOVERY_PROBES, HOST_PROBES, load_probe

if TYPE_CHECKING:
    from ..credentials import Credentials

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
    """complete | interrupted (deadline hit or stopped by a signal)."""
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
        self.on_address: Callable[[str], None] | None = None
        """Called with each address something answered from (the engine schedules its host probes)."""
        self.probe_errors: list[str] = []
        """Probes that could not run at all (scan-level, e.g. no permission for raw sockets)."""

    def __call__(self, obs: Observation) -> None:
        if obs.ip not in self.scope:
            self.dropped += 1
            return
        self.count += 1
        if self.on_address is not None and obs.probe in DISCOVERY_PROBES:
            self.on_address(obs.ip)
        if obs.warning:
            self.warnings += 1
        if obs.probe == "wsdiscovery":
            self.xaddrs.setdefault(obs.ip, []).extend(obs.fields.get("xaddrs", []))
        self._emit(obs)


def _describe_failure(exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return f"{exc.strerror or exc}: needs root (CAP_NET_RAW); the other probes still ran"
    return f"{type(exc).__name__}: {exc}"[:300]


async def _bounded(coro: Any, ctx: ProbeContext, name: str, ip: str | None, guard: _Guard) -> None:
    """Run one probe step under the deadline; a crash is recorded, never a dead scan.

    ``ip`` None marks a scan-wide (discovery) probe: its failure is a scan-level probe
    error, not a warning on some host (the scanner's own address is no device).
    """
    try:
        await asyncio.wait_for(coro, timeout=max(0.01, ctx.remaining()))
    except TimeoutError:
        log.debug("%s on %s stopped at the deadline", name, ip or "the network")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a probe bug must not kill the scan; record it where a person will see it
        what = _describe_failure(exc)
        if ip is None:
            log.warning("probe %s could not run: %s", name, what)
            guard.probe_errors.append(f"{name}: {what}")
        else:
            log.warning("probe %s failed on %s: %s", name, ip, what)
            guard(Observation(ip=ip, probe=name, fields={}, warning=f"probe error: {what}"))


async def run_scan(
    options: ScanOptions,
    emit: Callable[[Observation], None],
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    load: Callable[[str], Any] = load_probe,
) -> ScanOutcome:
    """Probe everything in ``options.scope``; return when done, at the deadline, or when ``stop`` is set.

    ``load`` builds a probe from its registered name (tests pass fakes).
    """
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
    work = asyncio.ensure_future(_run_phases(options, ctx, guard, progress, load))
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
        "probe_errors": guard.probe_errors,
    }
    if not interrupted and not work.cancelled():
        stats.update(work.result())
    # A scan cut short by the deadline did not look at everything: it must not pass for a
    # complete audit (exit 0), nor be the baseline of the next diff (unprobed devices would
    # show as "gone").
    status = "interrupted" if (interrupted or stop.is_set() or stats["deadline_hit"]) else "complete"
    return ScanOutcome(status=status, stats=stats)


async def _run_phases(options: ScanOptions, ctx: ProbeContext, guard: _Guard, progress: Progress,
                      load: Callable[[str], Any]) -> dict[str, Any]:
    """Discovery and host probing overlap: a host is probed the moment anything answers from it.

    Routed targets are scheduled at once (unicast is the only way to reach them); on-link
    hosts as soon as a discovery probe reports them. The discovery probes' listening
    windows therefore cost no extra wall time.
    """
    timings: dict[str, float] = {}

    async def timed(name: str, coro: Any, ip: str | None) -> None:
        t0 = time.monotonic()
        await _bounded(coro, ctx, name, ip, guard)
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - t0, 3)

    host_probes = [load(n) for n in options.probes if n in HOST_PROBES]
    port_probe = next((p for p in host_probes if p.name == "ports"), None)
    others = [p for p in host_probes if p.name != "ports"]
    sem = asyncio.Semaphore(options.host_concurrency)
    own = str(ctx.iface_addr.ip)
    scheduled: set[str] = set()
    tasks: list[asyncio.Future[None]] = []
    done = 0

    async def one_host(ip: str) -> None:
        nonlocal done
        async with sem:
            state = HostState(ip=ip)
            if port_probe is not None:
                await timed("ports", port_probe.probe_host(ctx, state), ip)
                if state.open_ports:
                    ctx.live.add(ip)
            if ip in ctx.live:
                state.xaddrs = list(dict.fromkeys(guard.xaddrs.get(ip, [])))
                await asyncio.gather(*(timed(p.name, p.probe_host(ctx, state), ip) for p in others))
            done += 1
            progress.hosts(done, len(scheduled), len(ctx.live))

    def schedule(ip: str) -> None:
        if ip in scheduled or ip == own or ip not in options.scope:
            return
        scheduled.add(ip)
        tasks.append(asyncio.ensure_future(one_host(ip)))

    guard.on_address = schedule
    progress.phase("discovery")
    for address in ctx.routed_targets():
        schedule(str(address))
    discovery = [load(n) for n in options.probes if n in DISCOVERY_PROBES]
    if not discovery:
        for address in options.scope.addresses():
            schedule(str(address))
    discovery_ctx = dataclasses.replace(ctx, rate=ctx.rate.lane(0)) if isinstance(ctx.rate, RateLimiter) else ctx
    await asyncio.gather(*(timed(p.name, p.run(discovery_ctx), None) for p in discovery))
    for ip in sorted(ctx.live):
        schedule(ip)
    progress.phase("hosts")
    while len(tasks) > done:  # host probes may not add hosts, but wait for every scheduled one
        await asyncio.gather(*tasks)
    return {"hosts_probed": len(scheduled), "probe_seconds": timings}
