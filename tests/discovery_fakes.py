"""Test doubles for the discovery probes: a scope, a context and a UDP responder on 127.0.0.x.

Everything here stays on loopback: responders bind 127.0.0.x, probes are built with
``group=None`` (no multicast, no broadcast) so only unicast to 127.0.0.x leaves a socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Iterator
from typing import Any

from auditor.models import Observation
from auditor.probes.base import ProbeContext, RateLimiter


class ListScope:
    def __init__(self, ips: list[str]) -> None:
        self.ips = [ipaddress.IPv4Address(i) for i in ips]

    def __contains__(self, ip: object) -> bool:
        try:
            return ipaddress.IPv4Address(str(ip)) in self.ips
        except ValueError:
            return False

    def addresses(self) -> Iterator[ipaddress.IPv4Address]:
        return iter(self.ips)

    def __len__(self) -> int:
        return len(self.ips)


class CountingRate(RateLimiter):
    def __init__(self) -> None:
        super().__init__(5000, burst=100)
        self.count = 0

    async def acquire(self, n: int = 1, priority: int = 1) -> None:
        self.count += n
        await super().acquire(n, priority)


def make_ctx(
    scope: list[str], timeout: float = 0.3, deadline_s: float = 5.0, iface: str = "127.0.0.1/32"
) -> tuple[ProbeContext, list[Observation]]:
    seen: list[Observation] = []
    ctx = ProbeContext(
        scope=ListScope(scope),
        interface="lo",
        iface_addr=ipaddress.IPv4Interface(iface),
        rate=CountingRate(),
        timeout=timeout,
        deadline=time.monotonic() + deadline_s,
        emit=seen.append,
    )
    return ctx, seen


async def run_probe(probe: Any, ctx: ProbeContext, bound: float = 10.0) -> None:
    """Run a probe; it must return by itself well within ``bound`` seconds (a hang fails the test)."""
    await asyncio.wait_for(probe.run(ctx), timeout=bound)


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, owner: FakeResponder) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.requests.append(data)
        for reply in self.owner.answer(data):
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]
        for ip, reply in self.owner.extra(data):
            self.owner.side_replies.append((ip, reply, addr))


class FakeResponder:
    """A device on 127.0.0.x answering each datagram with ``answer(request)`` (a list of replies).

    ``extra(request)`` may return (other_ip, reply) pairs sent from another loopback address,
    to test that replies from outside the scope are dropped.
    """

    def __init__(
        self,
        ip: str,
        answer: Callable[[bytes], list[bytes]],
        port: int = 0,
        extra: Callable[[bytes], list[tuple[str, bytes]]] | None = None,
    ) -> None:
        assert ip.startswith("127."), "test responders live on loopback only"
        self.ip = ip
        self.answer = answer
        self.extra = extra or (lambda req: [])
        self.port = port
        self.requests: list[bytes] = []
        self.side_replies: list[tuple[str, bytes, tuple[str, int]]] = []
        self._transport: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> FakeResponder:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Proto(self), local_addr=(self.ip, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()


async def send_side_replies(responder: FakeResponder) -> None:
    """Send queued (other_ip → probe) replies from their own loopback sockets."""
    loop = asyncio.get_running_loop()
    for ip, reply, addr in responder.side_replies:
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(ip, 0))
        transport.sendto(reply, addr)
        transport.close()
