"""Proof that the scan harmed no device: one gentle re-check of every device that answered.

At the end of every scan (inside its deadline: the engine keeps ``plan.recheck_reserve``
for it) each device that answered anything gets the cheapest question that it answered
before, once, and once more only if the first got no answer:

1. a TCP connect to a port that accepted one (the handshake alone; aborted at once);
2. a TCP connect to a port that refused one (a reset is an answer);
3. the unicast discovery question it answered (WS-Discovery, SADP, DHIP);
4. an ARP request (a device on the interface's own subnet that ARP alone found);
5. an ICMP echo (a routed device the sweep alone found).

A device that answered earlier and answers none of this any more "stopped answering during
the audit": the engine records it as a ``safety`` observation with what was sent to it, and
the always-applied ``scan-safety`` rules turn it into a high finding. The same check, for one
device, confirms a back-off in the middle of the scan (``Pacing.confirm``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import ProbeContext
from .contract import Field, ProbeFields
from .pacing import HostPacer, HostRecord
from .streams import knock

SAFETY = "safety"
"""Probe name of the engine's own observations (back-offs, re-checks) and of what re-checks send."""
_SENT_BY = ("arp", "ping", "wsdiscovery", "sadp", "dhip", "ports", "http", "rtsp", "onvif", "safety")
FIELDS = ProbeFields(SAFETY, (
    Field("check", "str", "`backoff` (the device went quiet in the middle of its probes and got no further ones) or "
          "`recheck` (the end-of-scan re-check)", "recheck"),
    Field("alive", "bool", "`recheck`: the device answered the cheapest question it had answered before (attempt "
          "and one retry)", False),
    Field("method", "str", "what the re-check asked", "TCP connect to port 80", kept="for a person"),
    Field("reason", "str", "`backoff`: why the device was given up", "answered earlier, then 3 connection attempts "
          "in a row went unanswered and a re-check got no answer either", kept="for a person"),
    Field("sent", "record", "everything the scan had sent to the device, per probe", {"ports": {"connections": 20}},
          record=tuple(Field(p, "map[int]", f"what {p} sent: connections, requests, datagrams",
                             {"connections": 1}, kept="for a person; `sent_summary` says it in words")
                       for p in _SENT_BY),
          kept="for a person; `sent_summary` says it in words"),
    Field("sent_summary", "str", "the same in words", "http: 2 connections, 5 requests; ports: 20 connections"),
), note="The scan engine's own observations, not a probe's: set on a device that went quiet mid-scan, and on "
        "every device the end-of-scan re-check asked (`warning` set when it did not answer).")
UNICAST_DISCOVERY = ("sadp", "dhip", "wsdiscovery")
"""Discovery protocols a device can be asked again one to one, in order of preference (smallest reply)."""


@dataclass(frozen=True)
class Check:
    """How to re-check one device."""

    method: str
    """tcp | udp | arp | ping"""
    port: int | None = None
    probe: str | None = None
    """The discovery probe asked again (udp), else None."""

    def describe(self) -> str:
        if self.method == "tcp":
            return f"TCP connect to port {self.port}"
        if self.method == "udp":
            return f"{self.probe} question"
        return {"arp": "ARP request", "ping": "ICMP echo"}.get(self.method, self.method)


@dataclass(frozen=True)
class Result:
    ip: str
    alive: bool | None
    """None: nothing it had answered can be asked again (no re-check possible)."""
    check: Check | None
    partly: bool = False
    """Alive only at the network level: it answered an ARP request but not the question asked
    (its service may have hung, or this host could not reach it: see ``Rechecker``)."""


def choose(record: HostRecord, on_link: bool, available: Iterable[str]) -> Check | None:
    """The cheapest check the device answered before (see the module docstring), or None."""
    if record.open_ports:
        return Check("tcp", port=record.open_ports[0])
    if record.refused_ports:
        return Check("tcp", port=record.refused_ports[0])
    can = set(available)
    for name in UNICAST_DISCOVERY:
        if name in record.heard and name in can:
            return Check("udp", probe=name)
    if "arp" in record.heard and on_link and "arp" in can:
        return Check("arp")
    if "ping" in record.heard and "ping" in can:
        return Check("ping")
    return None


class Rechecker:
    """Runs the checks; ``probes`` are the scan's discovery probe objects by name (for udp/arp/ping)."""

    def __init__(self, ctx: ProbeContext, probes: Mapping[str, Any]) -> None:
        self.ctx = dataclasses.replace(ctx, probe=SAFETY)
        self.probes = dict(probes)

    def plan(self, host: HostPacer) -> Check | None:
        return choose(host.record, self.ctx.on_link(host.ip), self.probes)

    async def one(self, host: HostPacer) -> bool:
        """One device (a back-off's confirmation): True when it still answers."""
        check = self.plan(host)
        if check is None:
            return False
        return (await self._run({host.ip: check})).get(host.ip, False)

    async def all(self, hosts: Iterable[HostPacer]) -> list[Result]:
        """Every device in ``hosts`` checked concurrently (each paced like any other operation).

        An on-link device that does not answer the question it answered before gets one more,
        over ARP (raw frames: no use of this host's neighbour table), before it is called dark:
        a scanning host whose neighbour table overflows (``gc_thresh3``, 1024 by default, shared
        by every namespace) drops its own connections to on-link devices, which would otherwise
        look like hundreds of devices going dark at once. A device that answers ARP but not its
        service is reported as such (``partly``), not as dark.
        """
        host_list = list(hosts)
        checks: dict[str, Check | None] = {h.ip: self.plan(h) for h in host_list}
        alive = await self._run({ip: c for ip, c in checks.items() if c is not None})
        silent = [ip for ip, c in checks.items() if c is not None and c.method != "arp" and not alive.get(ip)
                  and self.ctx.on_link(ip)]
        partly: set[str] = set()
        if silent and "arp" in self.probes and self.ctx.remaining() > 0:
            partly = set(await self.probes["arp"].sweep(self.ctx, silent))
        return [Result(ip, (alive.get(ip, False) or ip in partly) if c is not None else None, c, ip in partly)
                for ip, c in checks.items()]

    async def _run(self, checks: dict[str, Check]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        batches: dict[str, list[str]] = {"arp": [], "ping": []}

        async def single(ip: str, check: Check) -> None:
            if check.method == "tcp":
                out[ip] = await self._tcp(ip, check.port or 0)
            elif check.method == "udp":
                out[ip] = await self.probes[check.probe or ""].ask(self.ctx, ip)

        jobs = []
        for ip, check in checks.items():
            if check.method in batches:
                batches[check.method].append(ip)
            else:
                jobs.append(single(ip, check))
        for method, ips in batches.items():
            if ips:
                jobs.append(self._batch(method, ips, out))
        await asyncio.gather(*jobs)
        return out

    async def _batch(self, method: str, ips: list[str], out: dict[str, bool]) -> None:
        found: set[str] = await self.probes[method].sweep(self.ctx, ips)
        for ip in ips:
            out[ip] = ip in found

    async def _tcp(self, ip: str, port: int) -> bool:
        for _ in range(2):  # one attempt, one retry: never more
            if await knock(self.ctx, ip, port, bypass=True) is not None:
                return True  # accepted, or refused: either way the device answered
            if self.ctx.remaining() <= 0:
                break
        return False
