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
from auditor.probes.engine import ScanOptions, parse_probe_list, run_scan
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
                               "probes": ("arp", "ports"), "rate": 10_000.0, "timeout": 0.5, "deadline": 5.0}
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
    outcome = asyncio.run(run_scan(options(probes=("arp", "ports", "http"), deadline=1.0), seen.append,
                                   load=loader(arp=FakeDiscovery(["127.0.0.5"], 0), ports=FakePorts(),
                                               http=Hanging())))
    assert time.monotonic() - t0 < 2.5
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
