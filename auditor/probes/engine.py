"""The probe scheduler: concurrency, pacing, one global deadline, the end-of-scan re-check, progress.

Before anything is sent the scan is planned (``probes.plan``): scope size, estimated duration,
the deadline (by default it grows with the scope), and the time kept at its end for the
re-check. Then the discovery probes (ARP sweep, ICMP sweep of routed ranges, WS-Discovery,
SADP, DHIP) run at once, and every address they hear from is probed straight away, while
they are still listening: the port probe first (with, for a routed device, the unicast
discovery questions), then HTTP, RTSP and ONVIF concurrently. Hosts run in parallel;
every operation goes through the scan's ``Pacing`` (``probes.pacing``): the global rate
and, per device, a few connections at once and a few new connections or requests per
second. A device that stops answering in the middle is given up (``Pacing.on_backoff``).
At the end every device that answered gets one gentle re-check (``probes.safety``).

Observations leave through ``emit`` the moment they exist, so a scan stopped by
Ctrl-C, SIGTERM or the deadline keeps everything seen so far.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import ipaddress
import logging
import math
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import OperatorError, ScanError
from ..models import Observation
from ..scope import ScanScope
from .base import HostState, ProbeContext, RateLimiter
from .pacing import PROFILES, HostPacer, Limits, Pacing
from .plan import ScanPlan, plan_scan
from .registry import ALL_PROBES, DISCOVERY_PROBES, HOST_PROBES, load_probe
from .safety import SAFETY, Rechecker, Result

if TYPE_CHECKING:
    from ..credentials import Credentials

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
DEFAULT_PROFILE = "default"
MIN_HOST_CONCURRENCY = 512
MAX_HOST_CONCURRENCY = 2048
_UNICAST_DISCOVERY = ("wsdiscovery", "sadp", "dhip")
WEB_PROBE = "http"
"""The probe whose end starts the `after_web` probes (ONVIF), handing them its open connection."""


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
    limits: Limits = PROFILES[DEFAULT_PROFILE]
    """Global rate and per-device limits (a profile with the operator's explicit values on top)."""
    timeout: float = DEFAULT_TIMEOUT
    deadline: float | None = None
    """Seconds for the whole scan; None: the default for the scope (``probes.plan``)."""
    credentials: Credentials | None = None
    host_concurrency: int | None = None
    """Devices probed at once; None: enough to keep the global rate busy at the per-device rate."""
    maker_hints: Callable[[list[Observation]], set[str]] | None = None
    """Observations → the makers they point to (the pipeline passes ``identify.maker_hints`` with the
    knowledge base): a probe sends a maker's own identity request only where these name that maker."""
    check_default_credentials: bool = False
    """The factory-default password check (opt-in: ``--check-default-credentials``, audit config
    ``check_default_credentials``); the pipeline loads the seed into ``default_credentials``."""
    default_credentials: Any = None
    """``auditor.defaultcreds.DefaultCredentials`` when the check is on; None: off."""


@dataclass
class ScanOutcome:
    status: str
    """complete | interrupted (deadline hit or stopped by a signal)."""
    stats: dict[str, Any] = field(default_factory=dict)


def parse_probe_list(text: str | None) -> tuple[str, ...]:
    """``--probes arp,onvif`` → validated tuple in registry order; None → all probes."""
    if text is None:
        return ALL_PROBES
    wanted = [p.strip() for p in text.split(",") if p.strip()]
    if not wanted:
        raise OperatorError(f"--probes names no probe: a scan without probes audits nothing; "
                            f"name some of {', '.join(ALL_PROBES)} (or leave --probes out for all)")
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


def scan_plan(options: ScanOptions, probe_share: float | None = 1.0) -> ScanPlan:
    """The scan's plan (sizes, estimate, deadline); ``OperatorError`` if the deadline cannot work.

    Reads the interface's address (an ioctl, no packet): call it before the scan to show the
    estimate and to refuse an impossible deadline before anything is sent.
    """
    iface = interface_address(options.interface)
    return plan_scan(options.scope.spans, iface, options.limits, options.timeout, options.deadline, options.probes,
                     probe_share)


MAX_SEEN = 32
"""Answers kept per address for the probes' maker hints (a device gives a handful)."""


class _Guard:
    """Wraps ``emit``: drops anything outside the scope, counts warnings, notes who answered."""

    def __init__(self, scope: ScanScope, emit: Callable[[Observation], None], pacing: Pacing | None = None) -> None:
        self.scope, self._emit = scope, emit
        self.pacing = pacing if pacing is not None else Pacing(PROFILES[DEFAULT_PROFILE])
        self.count = self.warnings = self.dropped = 0
        self.xaddrs: dict[str, list[str]] = {}
        self.seen: dict[str, list[Observation]] = {}
        """Each address's answers so far (HostState.seen): what maker-specific requests are decided on."""
        self.on_address: Callable[[str], None] | None = None
        """Called with each address something answered from (the engine schedules its host probes)."""
        self.probe_errors: list[str] = []
        """Probes that could not run at all (scan-level, e.g. no permission for raw sockets)."""

    def __call__(self, obs: Observation) -> None:
        if obs.ip not in self.scope:
            self.dropped += 1
            return
        self.count += 1
        if obs.probe in DISCOVERY_PROBES:
            # What this scan heard (a neighbour-table entry is the kernel's memory, not an answer).
            if obs.probe != "arp" or obs.fields.get("source") == "sweep":
                self.pacing.host(obs.ip).heard(obs.probe)
            if self.on_address is not None:
                self.on_address(obs.ip)
        if obs.warning:
            self.warnings += 1
        if obs.probe == "wsdiscovery":
            self.xaddrs.setdefault(obs.ip, []).extend(obs.fields.get("xaddrs", []))
        seen = self.seen.setdefault(obs.ip, [])
        if len(seen) < MAX_SEEN and obs.fields and not obs.warning:
            seen.append(obs)
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


def host_concurrency(options: ScanOptions) -> int:
    """Devices probed at once: enough that the per-device rate never idles the global one."""
    if options.host_concurrency is not None:
        return options.host_concurrency
    lim = options.limits
    return min(MAX_HOST_CONCURRENCY, max(MIN_HOST_CONCURRENCY, math.ceil(2 * lim.rate / lim.host_rate)))


def _sent_fields(host: HostPacer) -> dict[str, Any]:
    rec = host.record
    return {"sent": {p: dict(c) for p, c in sorted(rec.sent.items())}, "sent_summary": rec.sent_summary()}


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
    plan = scan_plan(options, probe_share=None)  # checked by the caller; here the deadline is what is left
    iface = interface_address(options.interface)
    limiter = RateLimiter(options.limits.rate)
    pacing = Pacing(options.limits, limiter)
    guard = _Guard(options.scope, emit, pacing)
    started = time.monotonic()
    final = started + plan.deadline
    reserve = min(plan.recheck_reserve, plan.deadline / 3)  # a tiny deadline still leaves the probes most of it
    ctx = ProbeContext(
        scope=options.scope, interface=options.interface, iface_addr=iface,
        rate=limiter, timeout=options.timeout, deadline=final - reserve, emit=guard,
        credentials=options.credentials, pacing=pacing, unicast_routed=False,
        default_credentials=options.default_credentials,
    )
    probes = {n: load(n) for n in options.probes}
    rechecker = Rechecker(dataclasses.replace(ctx, deadline=final),
                          {n: p for n, p in probes.items() if n in DISCOVERY_PROBES})
    backed_off: list[dict[str, str]] = []

    def on_backoff(host: HostPacer) -> None:
        why = host.record.given_up or ""
        backed_off.append({"ip": host.ip, "reason": why})
        guard(Observation(ip=host.ip, probe=SAFETY, fields={"check": "backoff", "reason": why, **_sent_fields(host)},
                          warning=f"stopped answering in the middle of its probes ({why}); no further probes "
                                  "were sent to it in this scan"))

    pacing.confirm = rechecker.one
    pacing.on_backoff = on_backoff
    stop = stop or asyncio.Event()
    work = asyncio.ensure_future(_run_phases(options, ctx, guard, progress, probes))
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({work, stopper}, timeout=max(0.0, ctx.remaining()) + 5,
                                 return_when=asyncio.FIRST_COMPLETED)
    interrupted = work not in done
    for task in (work, stopper):
        if not task.done():
            task.cancel()
    await asyncio.gather(work, stopper, return_exceptions=True)
    if work.done() and not work.cancelled() and work.exception() is not None:
        raise work.exception()  # type: ignore[misc]
    deadline_hit = time.monotonic() >= ctx.deadline
    recheck = await _recheck(rechecker, pacing, guard, progress, final, stop)
    stats = {
        "addresses": len(options.scope),
        "observations": guard.count,
        "warnings": guard.warnings,
        "out_of_scope_dropped": guard.dropped,
        "live_hosts": len(ctx.live),
        "elapsed_s": round(time.monotonic() - started, 3),
        "deadline_hit": deadline_hit,
        "stopped_by_operator": stop.is_set(),
        "probe_errors": guard.probe_errors,
        "limits": options.limits.as_dict(),
        "plan": plan.as_dict(),
        "sent": _sent_totals(pacing),
        "backed_off": backed_off,
        "recheck": recheck,
    }
    if not interrupted and not work.cancelled():
        stats.update(work.result())
    # A scan cut short by the deadline did not look at everything: it must not pass for a
    # complete audit (exit 0), nor be the baseline of the next diff (unprobed devices would
    # show as "gone").
    status = "interrupted" if (interrupted or stop.is_set() or deadline_hit) else "complete"
    return ScanOutcome(status=status, stats=stats)


def _sent_totals(pacing: Pacing) -> dict[str, int]:
    total: Counter[str] = Counter()
    for host in pacing.hosts.values():
        for counts in host.record.sent.values():
            total.update(counts)
    return {k: total[k] for k in ("connections", "requests", "datagrams")}


async def _recheck(rechecker: Rechecker, pacing: Pacing, guard: _Guard, progress: Progress, final: float,
                   stop: asyncio.Event) -> dict[str, Any]:
    """The end-of-scan re-check of every device that answered (see ``probes.safety``); a stop
    (Ctrl-C, SIGTERM) ends it at once."""
    stopped = stop.is_set()
    if not stopped:
        await pacing.settle(final - time.monotonic())  # a back-off being confirmed: let it decide first
    hosts = [h for h in pacing.hosts.values() if h.record.answered]
    summary: dict[str, Any] = {"devices": len(hosts), "checked": 0, "answered": 0, "silent": [],
                               "not_possible": 0, "skipped": None}
    if not hosts:
        return summary
    if stopped:
        summary["skipped"] = "the scan was stopped by the operator"
        return summary
    progress.phase("re-checking")
    results: list[Result] = []
    left = final - time.monotonic()
    if left <= 0:
        summary["skipped"] = "no time left before the deadline"
        return summary
    checking = asyncio.ensure_future(rechecker.all(hosts))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({checking, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    for task in (checking, stopper):
        if not task.done():
            task.cancel()
    await asyncio.gather(checking, stopper, return_exceptions=True)
    if stop.is_set() or checking.cancelled() or checking.exception() is not None:
        summary["skipped"] = ("the scan was stopped by the operator" if stop.is_set()
                              else "the deadline came first" if checking.cancelled() else
                              f"the re-check failed: {checking.exception()!r:.200}")
        return summary
    results = checking.result()
    by_ip = {h.ip: h for h in hosts}
    for res in results:
        if res.alive is None:
            summary["not_possible"] += 1
            continue
        summary["checked"] += 1
        check = res.check.describe() if res.check is not None else ""
        if res.alive and res.partly:
            summary["answered"] += 1
            summary.setdefault("service_silent", []).append(res.ip)
            guard(Observation(ip=res.ip, probe=SAFETY,
                              fields={"check": "recheck", "alive": True, "method": f"{check}, then ARP request"},
                              warning=f"at the end of the audit it answered an ARP request but not the re-check's "
                                      f"{check} (attempt and retry): a service may have hung, or this host could not "
                                      "reach it"))
            continue
        if res.alive:
            summary["answered"] += 1
            guard(Observation(ip=res.ip, probe=SAFETY, fields={"check": "recheck", "alive": True, "method": check}))
            continue
        host = by_ip[res.ip]
        summary["silent"].append(res.ip)
        guard(Observation(
            ip=res.ip, probe=SAFETY,
            fields={"check": "recheck", "alive": False, "method": check, **_sent_fields(host)},
            warning=f"stopped answering during the audit: it answered earlier, but not the re-check at the end "
                    f"({check}, attempt and retry); sent to it: {host.record.sent_summary()}"))
    return summary


async def _run_phases(options: ScanOptions, ctx: ProbeContext, guard: _Guard, progress: Progress,
                      probes: dict[str, Any]) -> dict[str, Any]:
    """Discovery and host probing overlap: a host is probed the moment anything answers from it.

    On-link hosts are scheduled as soon as a discovery probe reports them, routed ones as soon
    as the ICMP sweep does (or all at once when ``ping`` is not among the probes: like nmap -Pn).
    The discovery probes' listening windows therefore cost no extra wall time.
    """
    timings: dict[str, float] = {}

    async def timed(name: str, coro: Any, ip: str | None) -> None:
        t0 = time.monotonic()
        await _bounded(coro, ctx, name, ip, guard)
        timings[name] = round(timings.get(name, 0.0) + time.monotonic() - t0, 3)

    def for_probe(name: str, base: ProbeContext = ctx) -> ProbeContext:
        return dataclasses.replace(base, probe=name)

    contexts = {n: for_probe(n) for n in probes}
    host_probes = [p for n, p in probes.items() if n in HOST_PROBES]
    port_probe = next((p for p in host_probes if p.name == "ports"), None)
    # Probes that build on what the others found (a maker's API with the site's credentials, once the
    # web and ONVIF answers say whose firmware it is and whether a login already failed) run after them.
    late = [p for p in host_probes if getattr(p, "after_others", False)]
    others = [p for p in host_probes if p.name != "ports" and p not in late]
    # ONVIF (SOAP over the device's web servers) as soon as the web probe is done: a port that accepted and
    # then told the web probe nothing is not asked again, so a hung web server costs one timeout, not two in
    # a row on the device's two connection slots (the lab's tarpit was the whole scan's tail); and the web
    # probe's open connection is ONVIF's (HostState.keep).
    after_web = [p for p in others if getattr(p, "after_web", False)]
    early = [p for p in others if p not in after_web]
    unicast = [p for n, p in probes.items() if n in _UNICAST_DISCOVERY and hasattr(p, "probe_host")]
    sem = asyncio.Semaphore(host_concurrency(options))
    own = str(ctx.iface_addr.ip)
    scheduled: set[str] = set()
    tasks: list[asyncio.Future[None]] = []
    done = 0

    async def ports_then_done(state: HostState) -> None:
        try:
            if port_probe is not None:
                await timed("ports", port_probe.probe_host(contexts["ports"], state), state.ip)
        finally:
            state.ports_done.set()

    async def beside_ports(probe: Any, state: HostState, ports: list[int]) -> None:
        try:
            await timed(probe.name, probe.probe_host(contexts[probe.name], state), state.ip)
        finally:
            for port in ports:  # never leave the port probe waiting on a knock this probe did not make
                state.settle_knock(port, None)

    def run(probe: Any, state: HostState) -> Any:
        return timed(probe.name, probe.probe_host(contexts[probe.name], state), state.ip)

    async def after_ports(probe: Any, state: HostState) -> None:
        await state.ports_done.wait()
        await run(probe, state)

    async def web_then(state: HostState, web: Any) -> None:
        """The web probe, and the probes that follow it (ONVIF: SOAP to the same web servers) as soon as it
        has spoken to the ports it knocked on (HostState.web_ready), on the connection it left open
        (HostState.keep), while the port probe may still be knocking elsewhere; what nobody took is closed.
        A port those probes may want whose state only the port probe will know makes them wait for it."""
        web_task = asyncio.ensure_future(web) if web is not None else None
        try:
            if web_task is not None:
                ready = asyncio.ensure_future(state.web_ready.wait())
                try:
                    await asyncio.wait({web_task, ready}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
            if not all(state.port_known(port) for port, _ in state.keep_for):
                await state.ports_done.wait()
            state.xaddrs = heard_xaddrs(state.ip)  # discovery may have answered since the host was scheduled
            await asyncio.gather(*(run(p, state) for p in after_web))
            if web_task is not None:
                await web_task
        finally:
            try:
                if web_task is not None and not web_task.done():
                    web_task.cancel()
                    await asyncio.gather(web_task, return_exceptions=True)
            finally:  # also when a second cancellation cuts that wait short: the web probe, still finishing,
                await state.close_kept()  # then closes its connection itself (HostState.kept_closed)

    async def one_host(ip: str) -> None:
        nonlocal done
        async with sem:
            state = HostState(ip=ip, seen=guard.seen.setdefault(ip, []), hints=options.maker_hints)
            # A host discovery heard: the web and RTSP probes start beside the port probe and make the first
            # connect to their standard ports themselves (HostState.knocks: one connection, not two, per open
            # service port). An address nothing heard yet is the port probe's alone until it answers.
            beside: dict[Any, list[int]] = {}
            if port_probe is not None and ip in ctx.live:
                standard = getattr(port_probe, "standard", ())
                for p in early:
                    if own := [port for port in getattr(p, "service_ports", ()) if port in standard]:
                        beside[p] = own
                state.expect_knocks(port for own in beside.values() for port in own)
            if ip in ctx.live:
                prepare(state)
            web = next((p for p in early if p.name == WEB_PROBE), None)
            first = [ports_then_done(state)]
            if not ctx.on_link(ip):  # beyond multicast: ask the discovery protocols one to one
                first += [timed(p.name, p.probe_host(contexts[p.name], state), ip) for p in unicast]
            if beside:
                first += [beside_ports(p, state, beside[p]) if p in beside else after_ports(p, state)
                          for p in early if p is not web]
                web_first = None if web is None else beside_ports(web, state, beside[web]) if web in beside else \
                    after_ports(web, state)
                first.append(web_then(state, web_first))
            await asyncio.gather(*first)
            if state.open_ports:
                ctx.live.add(ip)
            if ip in ctx.live:
                if not beside:
                    prepare(state)
                    await asyncio.gather(*(run(p, state) for p in early if p is not web),
                                         web_then(state, run(web, state) if web is not None else None))
                if late:
                    state.xaddrs = heard_xaddrs(ip)
                    await asyncio.gather(*(run(p, state) for p in late))
            done += 1
            progress.hosts(done, len(scheduled), len(ctx.live))

    def heard_xaddrs(ip: str) -> list[str]:
        return list(dict.fromkeys(guard.xaddrs.get(ip, [])))

    def prepare(state: HostState) -> None:
        """What the host probes need to know of a live host before they start."""
        state.xaddrs = heard_xaddrs(state.ip)
        # A connection left open for ONVIF holds one of the device's slots until ONVIF takes it, which is once the
        # web probe has been through its other ports: with a single slot (--profile ot) that would never come.
        if options.limits.host_connections > 1:
            state.keep_for = frozenset(e for p in after_web if hasattr(p, "web_endpoints")
                                       for e in p.web_endpoints(state))

    def schedule(ip: str) -> None:
        if ip in scheduled or ip == own or ip not in options.scope:
            return
        scheduled.add(ip)
        tasks.append(asyncio.ensure_future(one_host(ip)))

    guard.on_address = schedule
    progress.phase("discovery")
    discovery = [p for n, p in probes.items() if n in DISCOVERY_PROBES]
    if "ping" not in probes:
        for address in ctx.routed_targets():
            schedule(str(address))
    if not any(n in probes for n in ("arp", "wsdiscovery", "sadp", "dhip")):
        for address in options.scope.addresses():
            if ctx.on_link(address):
                schedule(str(address))
    lane = ctx.rate.lane(0) if isinstance(ctx.rate, RateLimiter) else ctx.rate
    await asyncio.gather(*(timed(p.name, p.run(for_probe(p.name, dataclasses.replace(ctx, rate=lane))), None)
                           for p in discovery))
    for ip in sorted(ctx.live):
        schedule(ip)
    progress.phase("hosts")
    while len(tasks) > done:  # host probes may not add hosts, but wait for every scheduled one
        await asyncio.gather(*tasks)
    return {"hosts_probed": len(scheduled), "probe_seconds": timings}
