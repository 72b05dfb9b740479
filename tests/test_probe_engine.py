"""The scan engine with fake probes: scheduling, scope guard, deadline, stop, crash isolation, pacing.

Nothing here sends a packet: the fake probes only emit observations. The interface is
loopback so the engine can read a real address.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from auditor.errors import OperatorError
from auditor.models import Observation
from auditor.probes.base import HostState, ProbeContext, RateLimiter
from auditor.probes.engine import ScanOptions, parse_probe_list, run_scan, scan_plan
from auditor.probes.pacing import HostGivenUp, Limits
from auditor.scope import build_scope


class FakeDiscovery:
    name = "arp"

    def __init__(self, answers: list[str], linger: float = 0.3) -> None:
        self.answers, self.linger = answers, linger
        self.finished_at = 0.0

    async def run(self, ctx: ProbeContext) -> None:
        for ip in self.answers:
            ctx.live.add(ip)
            ctx.emit(Observation(ip=ip, probe="arp", fields={"mac": "c0:56:e3:00:00:01"}))
        await asyncio.sleep(self.linger)  # still listening for late answers
        self.finished_at = time.monotonic()


class FakePorts:
    name = "ports"

    def __init__(self) -> None:
        self.started: dict[str, float] = {}

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        self.started[host.ip] = time.monotonic()
        host.open_ports.add(80)
        ctx.emit(Observation(ip=host.ip, probe="ports", fields={"open": [80]}))


class Hanging:
    name = "http"

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        await asyncio.sleep(3600)


class Crashing:
    name = "rtsp"

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        raise RuntimeError("parser bug")


def options(**kw: object) -> ScanOptions:
    base: dict[str, object] = {"scope": build_scope(["127.0.0.2-20"]), "interface": "lo",
                               "probes": ("arp", "ports"), "limits": Limits(10_000.0, 1000.0, 4), "timeout": 0.5,
                               "deadline": 5.0}
    base.update(kw)
    return ScanOptions(**base)  # type: ignore[arg-type]


def loader(**probes: object):
    return lambda name: probes[name]


def test_hosts_are_probed_while_discovery_still_listens_and_scope_is_guarded():
    disc, ports = FakeDiscovery(["127.0.0.5", "127.0.0.7", "10.9.9.9"]), FakePorts()
    seen: list[Observation] = []
    outcome = asyncio.run(run_scan(options(), seen.append, load=loader(arp=disc, ports=ports)))
    assert outcome.status == "complete"
    assert set(ports.started) == {"127.0.0.5", "127.0.0.7"}
    assert all(t < disc.finished_at for t in ports.started.values())
    assert all(o.ip != "10.9.9.9" for o in seen)
    assert outcome.stats["out_of_scope_dropped"] == 1 and outcome.stats["hosts_probed"] == 2


def test_deadline_stops_a_hanging_probe_and_keeps_what_was_seen():
    seen: list[Observation] = []
    t0 = time.monotonic()
    outcome = asyncio.run(run_scan(options(probes=("arp", "ports", "http"), deadline=3.0), seen.append,
                                   load=loader(arp=FakeDiscovery(["127.0.0.5"], 0), ports=FakePorts(),
                                               http=Hanging())))
    assert time.monotonic() - t0 < 3.5  # the main phases stop early enough to leave the re-check its time
    assert outcome.stats["deadline_hit"] is True
    assert outcome.status == "interrupted"  # an audit cut short is not a complete one
    assert {o.probe for o in seen} == {"arp", "ports"}


def test_stop_event_interrupts_within_a_second():
    async def main() -> tuple[object, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        t0 = time.monotonic()
        outcome = await run_scan(options(probes=("arp", "ports", "http"), deadline=60), lambda o: None,
                                 stop=stop, load=loader(arp=FakeDiscovery(["127.0.0.5"], 0), ports=FakePorts(),
                                                        http=Hanging()))
        return outcome, time.monotonic() - t0

    outcome, took = asyncio.run(main())
    assert outcome.status == "interrupted" and took < 1.3  # type: ignore[attr-defined]


def test_a_crashing_probe_becomes_a_warning_on_its_host():
    seen: list[Observation] = []
    outcome = asyncio.run(run_scan(options(probes=("arp", "ports", "rtsp")), seen.append,
                                   load=loader(arp=FakeDiscovery(["127.0.0.5"], 0), ports=FakePorts(),
                                               rtsp=Crashing())))
    assert outcome.status == "complete"
    warnings = [o for o in seen if o.warning]
    assert [(o.ip, o.probe) for o in warnings] == [("127.0.0.5", "rtsp")]
    assert "parser bug" in warnings[0].warning


def test_without_discovery_every_address_is_probed():
    ports = FakePorts()
    asyncio.run(run_scan(options(probes=("ports",)), lambda o: None, load=loader(ports=ports)))
    assert len(ports.started) == 19


def test_probe_list_validation():
    assert parse_probe_list("onvif,arp") == ("arp", "onvif")
    with pytest.raises(OperatorError, match="unknown probe"):
        parse_probe_list("arp,nmap")


def test_rate_limiter_paces_and_serves_priority_first():
    async def main() -> tuple[float, list[str]]:
        limiter = RateLimiter(rate=200, burst=1)
        order: list[str] = []

        async def take(tag: str, priority: int) -> None:
            await limiter.acquire(priority=priority)
            order.append(tag)

        t0 = time.monotonic()
        await asyncio.gather(*(take(f"port{i}", 1) for i in range(20)), take("discovery", 0))
        return time.monotonic() - t0, order

    took, order = asyncio.run(main())
    assert 0.07 <= took < 0.5  # 21 tokens at 200/s with a burst of 1 ≈ 0.1 s
    assert order.index("discovery") <= 1


class NoPermission:
    name = "arp"

    async def run(self, ctx: ProbeContext) -> None:
        raise PermissionError(1, "Operation not permitted")


def test_a_discovery_probe_that_cannot_run_is_a_scan_level_error_not_a_device():
    seen: list[Observation] = []
    outcome = asyncio.run(run_scan(options(scope=build_scope(["127.0.0.1-20"])), seen.append,
                                   load=loader(arp=NoPermission(), ports=FakePorts())))
    assert seen == []  # no warning "device" at the scanner's own address
    assert outcome.stats["probe_errors"] == [
        "arp: Operation not permitted: needs root (CAP_NET_RAW); the other probes still ran"]


# ------------------------------------------------------------------ pacing, back-off and re-check


class SweepDiscovery(FakeDiscovery):
    """ARP that answers from ``answers``; as the re-check's ARP it finds only ``still_alive``."""

    def __init__(self, answers: list[str], still_alive: set[str]) -> None:
        super().__init__(answers, linger=0)
        self.still_alive = still_alive
        self.rechecked: list[str] = []

    async def run(self, ctx: ProbeContext) -> None:
        for ip in self.answers:
            ctx.live.add(ip)
            ctx.emit(Observation(ip=ip, probe="arp", fields={"mac": "c0:56:e3:00:00:01", "source": "sweep"}))

    async def sweep(self, ctx: ProbeContext, targets: list[str]) -> set[str]:
        self.rechecked += targets
        return {ip for ip in targets if ip in self.still_alive}


class BusyPorts:
    """Opens many connections per host at once and measures what the pacing lets through."""

    name = "ports"

    def __init__(self, per_host: int = 12) -> None:
        self.per_host = per_host
        self.open: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.starts: dict[str, list[float]] = {}

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        async def one() -> None:
            async with ctx.host(host.ip).connection(ctx.probe) as conn:
                self.starts.setdefault(host.ip, []).append(time.monotonic())
                self.open[host.ip] = self.open.get(host.ip, 0) + 1
                self.peak[host.ip] = max(self.peak.get(host.ip, 0), self.open[host.ip])
                conn.answered(80, refused=True)
                await asyncio.sleep(0.12)  # held longer than the 50 ms between starts: a second one opens
                self.open[host.ip] -= 1

        await asyncio.gather(*(one() for _ in range(self.per_host)))


def test_the_engine_holds_every_probe_to_the_per_device_limits():
    busy = BusyPorts()
    hosts = [f"127.0.0.{i}" for i in range(5, 9)]
    opts = options(limits=Limits(rate=10_000, host_rate=20, host_connections=2))
    outcome = asyncio.run(run_scan(opts, lambda o: None, load=loader(arp=FakeDiscovery(hosts, 0), ports=busy)))
    assert set(busy.peak) == set(hosts) and max(busy.peak.values()) == 2
    for starts in busy.starts.values():
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= 0.045  # 20/s: 50 ms apart, so never more than 20 in a second
    # the devices were paced side by side, not one after another
    assert outcome.stats["elapsed_s"] < 2.5
    assert outcome.stats["limits"] == {"profile": "default", "rate": 10_000, "host_rate": 20,
                                       "host_connections": 2, "overrides": []}
    # every connection counted, the end-of-scan re-check's (one TCP connect per device) included
    assert outcome.stats["sent"]["connections"] == 12 * len(hosts) + len(hosts)
    assert outcome.stats["recheck"]["answered"] == len(hosts)


class GoesQuiet:
    """A port probe on a device that ARP heard, and that answers no connection at all."""

    name = "ports"

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        pacer = ctx.host(host.ip)
        for _ in range(8):
            try:
                async with pacer.connection(ctx.probe) as conn:
                    conn.silent()
            except HostGivenUp:
                return
            await asyncio.sleep(0)
        host.open_ports.add(80)


class CountingHttp:
    name = "http"

    def __init__(self) -> None:
        self.connections: list[str] = []

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        try:
            async with ctx.host(host.ip).connection(ctx.probe):
                self.connections.append(host.ip)
        except HostGivenUp:
            pass


def test_a_device_that_goes_quiet_mid_scan_gets_no_further_probes_and_is_recorded():
    arp = SweepDiscovery(["127.0.0.5", "127.0.0.6"], still_alive={"127.0.0.6"})
    http = CountingHttp()
    seen: list[Observation] = []

    class Mixed(GoesQuiet):
        async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
            if host.ip == "127.0.0.5":
                await super().probe_host(ctx, host)
            else:
                host.open_ports.add(80)

    outcome = asyncio.run(run_scan(options(probes=("arp", "ports", "http")), seen.append,
                                   load=loader(arp=arp, ports=Mixed(), http=http)))
    assert http.connections == ["127.0.0.6"]  # nothing more for the device that went quiet
    [backoff] = [o for o in seen if o.probe == "safety" and o.fields.get("check") == "backoff"]
    assert backoff.ip == "127.0.0.5" and "no further probes" in (backoff.warning or "")
    assert backoff.fields["sent"]["ports"]["connections"] == 3
    assert [b["ip"] for b in outcome.stats["backed_off"]] == ["127.0.0.5"]


def test_the_end_of_scan_recheck_finds_the_device_that_went_dark():
    arp = SweepDiscovery(["127.0.0.5", "127.0.0.6", "127.0.0.7"], still_alive={"127.0.0.5", "127.0.0.7"})
    seen: list[Observation] = []
    outcome = asyncio.run(run_scan(options(probes=("arp",)), seen.append, load=loader(arp=arp)))
    assert sorted(arp.rechecked) == ["127.0.0.5", "127.0.0.6", "127.0.0.7"]  # each once (attempt+retry inside)
    checks = {o.ip: o for o in seen if o.probe == "safety"}
    assert {ip: o.fields["alive"] for ip, o in checks.items()} == {"127.0.0.5": True, "127.0.0.6": False,
                                                                   "127.0.0.7": True}
    dark = checks["127.0.0.6"]
    assert dark.warning is not None and dark.warning.startswith("stopped answering during the audit")
    assert dark.fields["method"] == "ARP request" and dark.fields["sent_summary"] == "nothing unicast"
    assert checks["127.0.0.5"].warning is None
    assert outcome.stats["recheck"] == {"devices": 3, "checked": 3, "answered": 2, "silent": ["127.0.0.6"],
                                        "not_possible": 0, "skipped": None}
    assert outcome.status == "complete"


def test_the_recheck_is_skipped_when_the_operator_stopped_the_scan():
    async def main() -> object:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        return await run_scan(options(probes=("arp", "ports", "http"), deadline=60), lambda o: None, stop=stop,
                              load=loader(arp=SweepDiscovery(["127.0.0.5"], set()), ports=FakePorts(),
                                          http=Hanging()))

    outcome = asyncio.run(main())
    assert outcome.stats["recheck"]["skipped"] == "the scan was stopped by the operator"  # type: ignore[attr-defined]


def test_a_deadline_too_short_for_the_scope_is_refused_before_anything_is_sent():
    with pytest.raises(OperatorError, match="too short for 19 addresses"):
        scan_plan(options(deadline=1.0, timeout=2.0), probe_share=0.9)  # what the pipeline checks first
    assert scan_plan(options(deadline=None)).deadline == 300 + 2 * (2 * 19 / 10_000)  # the scope's default


def test_a_stop_during_the_recheck_ends_it_within_a_second():
    class SlowRecheck(SweepDiscovery):
        async def sweep(self, ctx: ProbeContext, targets: list[str]) -> set[str]:
            await asyncio.sleep(3600)  # a re-check that would take forever
            return set()

    async def main() -> tuple[object, float]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        t0 = time.monotonic()
        outcome = await run_scan(options(probes=("arp",), deadline=60), lambda o: None, stop=stop,
                                 load=loader(arp=SlowRecheck(["127.0.0.5"], set())))
        return outcome, time.monotonic() - t0

    outcome, took = asyncio.run(main())
    assert took < 1.3
    assert outcome.stats["recheck"]["skipped"] == "the scan was stopped by the operator"  # type: ignore[attr-defined]
    assert outcome.status == "interrupted"  # type: ignore[attr-defined]


def test_a_device_that_answers_arp_but_not_its_question_is_not_called_dark():
    """A scanning host whose neighbour table overflows drops its own packets to on-link devices: before
    one is called dark, a raw ARP request (which does not need that table) gets the last word."""

    class Sadp:
        name = "sadp"

        async def run(self, ctx: ProbeContext) -> None:
            ctx.emit(Observation(ip="127.0.0.5", probe="sadp", fields={"serial": "X"}))

        async def ask(self, ctx: ProbeContext, ip: str) -> bool:
            return False  # the SADP question goes unanswered at the end

    arp = SweepDiscovery([], still_alive={"127.0.0.5"})
    seen: list[Observation] = []
    outcome = asyncio.run(run_scan(options(probes=("arp", "sadp")), seen.append, load=loader(arp=arp, sadp=Sadp())))
    [check] = [o for o in seen if o.probe == "safety"]
    assert check.fields["alive"] is True and check.fields["method"] == "sadp question, then ARP request"
    assert check.warning is not None and "answered an ARP request but not" in check.warning
    assert arp.rechecked == ["127.0.0.5"]
    assert outcome.stats["recheck"]["silent"] == [] and outcome.stats["recheck"]["service_silent"] == ["127.0.0.5"]
