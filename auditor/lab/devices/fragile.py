"""A fragile device: locks up for good when one source holds or opens too many TCP connections.

Old cameras and DVRs have tiny connection tables and single-threaded web servers: a
scanner that opens a handful of connections at once, or dozens in a second, leaves
them hung until someone power-cycles them. The guard wraps every TCP handler of a
device whose spec has ``fragile`` set and counts, per source address:

* connections *held* at once: the new one plus the device's other connections from that
  source whose kernel state is still ESTABLISHED (``TCP_INFO``), so a connection the
  scanner already reset is not counted even when the emulator (one event loop for
  every device) gets to it late;
* connections *opened* within the last second.

Past either limit the device "crashes": the emulator closes every socket of the device
and takes its interface down, so it answers nothing any more (no TCP reset, no ARP, no
ICMP), exactly what a scanner sees of a hung camera.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..spec import Fragile
from .runtime import DeviceRuntime

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TCP_ESTABLISHED = 1
WINDOW_S = 1.0


def tcp_state(writer: asyncio.StreamWriter) -> int | None:
    """The kernel's TCP state of the connection (1 = ESTABLISHED); None when unknown."""
    sock: Any = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0])
    except (OSError, IndexError, AttributeError):
        return None


class FragileGuard:
    """Counts one device's TCP connections per source and crashes it past ``limits``."""

    def __init__(self, dev: DeviceRuntime, limits: Fragile, clock: Callable[[], float] = time.monotonic) -> None:
        self.dev = dev
        self.limits = limits
        self.clock = clock
        self.held: dict[str, set[asyncio.StreamWriter]] = {}
        self.opened: dict[str, deque[float]] = {}

    def admit(self, source: str, writer: asyncio.StreamWriter) -> str | None:
        """Count a new connection from ``source``; the reason the device crashes, or None."""
        now = self.clock()
        recent = self.opened.setdefault(source, deque())
        recent.append(now)
        while recent and recent[0] <= now - WINDOW_S:
            recent.popleft()
        if len(recent) > self.limits.max_per_second:
            return f"{source} opened {len(recent)} connections within one second (limit {self.limits.max_per_second})"
        live = {w for w in self.held.get(source, ()) if tcp_state(w) in (TCP_ESTABLISHED, None)}
        if tcp_state(writer) in (TCP_ESTABLISHED, None):
            live.add(writer)
        self.held[source] = live
        if len(live) > self.limits.max_connections:
            return f"{source} held {len(live)} connections at once (limit {self.limits.max_connections})"
        return None

    def release(self, source: str, writer: asyncio.StreamWriter) -> None:
        conns = self.held.get(source)
        if conns is not None:
            conns.discard(writer)
            if not conns:
                del self.held[source]

    def connections(self) -> list[asyncio.StreamWriter]:
        return [w for conns in self.held.values() for w in conns]

    def wrap(self, handler: TcpHandler) -> TcpHandler:
        """``handler`` behind the guard: refused once the device is dead, counted while it runs."""

        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.dev.dead:
                writer.transport.abort()
                return
            peer = writer.get_extra_info("peername")
            source = str(peer[0]) if peer else "?"
            reason = self.admit(source, writer)
            if reason is not None:
                self.dev.crash(reason)
                return
            try:
                await handler(reader, writer)
            finally:
                self.release(source, writer)

        return guarded
