"""A fragile device: locks up for good when one source holds or opens too many TCP connections.

Old cameras and DVRs have tiny connection tables and weak TCP stacks: a scanner that holds
a handful of connections at once, or fires connection attempts in a burst, leaves them hung
until someone power-cycles them. The guard counts, per source address:

* connections *held* at once: counted when the device accepts one, as the new connection
  plus the device's other connections from that source whose kernel state is still
  ESTABLISHED (``TCP_INFO``), so a connection the scanner already reset is not counted
  even when the emulator (one event loop for every device) gets to it late;
* connection *attempts* (SYNs, to any port: the device's stack sees closed ports too) within
  the last second and the last tenth of a second. In a lab namespace they are read off the
  wire (:func:`open_syn_sniffer`: a packet socket on the device's interface with a BPF
  filter, kernel timestamps, so the emulator's own delays cannot make a burst out of paced
  attempts); without one (``--loopback``) the accepted connections are counted instead.

Past any limit the device "crashes": the emulator closes every socket of the device and
takes its interface down, so it answers nothing any more (no TCP reset, no ARP, no ICMP),
exactly what a scanner sees of a hung camera.
"""

from __future__ import annotations

import asyncio
import ctypes
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..spec import Fragile
from .runtime import DeviceRuntime

TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TCP_ESTABLISHED = 1
WINDOW_S = 1.0
BURST_S = 0.1

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
PACKET_HOST = 0
_SYN_FILTER = (
    (0x28, 0, 0, 12),        # ldh [12]               ethertype
    (0x15, 0, 8, 0x0800),    # jeq IPv4 ? next : drop
    (0x30, 0, 0, 23),        # ldb [23]               IP protocol
    (0x15, 0, 6, 6),         # jeq TCP ? next : drop
    (0x28, 0, 0, 20),        # ldh [20]               flags + fragment offset
    (0x45, 4, 0, 0x1FFF),    # jset fragment ? drop : next
    (0xB1, 0, 0, 14),        # ldxb 4*([14]&0xf)      IP header length
    (0x50, 0, 0, 27),        # ldb [x + 27]           TCP flags (14 + 13)
    (0x54, 0, 0, 0x12),      # and SYN|ACK
    (0x15, 1, 0, 0x02),      # jeq SYN alone ? keep : drop
    (0x06, 0, 0, 0),         # drop
    (0x06, 0, 0, 0x40000),   # keep
)
"""Classic BPF: IPv4 TCP segments with SYN set and ACK clear (new connection attempts)."""


def tcp_state(writer: asyncio.StreamWriter) -> int | None:
    """The kernel's TCP state of the connection (1 = ESTABLISHED); None when unknown."""
    sock: Any = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0])
    except (OSError, IndexError, AttributeError):
        return None


def open_syn_sniffer(iface: str) -> socket.socket:
    """A non-blocking packet socket on ``iface`` (this thread's namespace) that receives only the
    SYNs arriving for the device, each with its kernel receive time."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    try:
        program = b"".join(struct.pack("HBBI", *insn) for insn in _SYN_FILTER)
        buf = ctypes.create_string_buffer(program)
        fprog = struct.pack("HL", len(_SYN_FILTER), ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((iface, ETH_P_IP))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def read_syns(sock: socket.socket) -> list[tuple[str, float]]:
    """Every SYN waiting on ``sock``: (source address, kernel receive time)."""
    out: list[tuple[str, float]] = []
    while True:
        try:
            data, anc, _flags, addr = sock.recvmsg(128, socket.CMSG_SPACE(16))
        except (BlockingIOError, InterruptedError):
            return out
        if len(addr) > 2 and addr[2] != PACKET_HOST or len(data) < 34:
            continue
        at = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                at = sec + nsec / 1e9
        out.append((socket.inet_ntoa(data[26:30]), at))


class FragileGuard:
    """Counts one device's TCP connections per source and crashes it past ``limits``."""

    def __init__(self, dev: DeviceRuntime, limits: Fragile, clock: Callable[[], float] = time.time) -> None:
        self.dev = dev
        self.limits = limits
        self.clock = clock
        self.held: dict[str, set[asyncio.StreamWriter]] = {}
        self.attempts: dict[str, deque[float]] = {}
        self.sniffing = False
        """True when SYNs come off the wire (then an accepted connection is not counted again)."""

    def attempt(self, source: str, at: float | None = None) -> str | None:
        """Count one connection attempt from ``source`` at time ``at``; why the device crashes, or None."""
        now = self.clock() if at is None else at
        recent = self.attempts.setdefault(source, deque())
        recent.append(now)
        while recent and recent[0] <= now - WINDOW_S:
            recent.popleft()
        if len(recent) > self.limits.max_per_second:
            return f"{source} opened {len(recent)} connections within one second (limit {self.limits.max_per_second})"
        burst = sum(1 for t in recent if t > now - BURST_S)
        if burst > self.limits.max_burst:
            return (f"{source} opened {burst} connections within a tenth of a second "
                    f"(limit {self.limits.max_burst})")
        return None

    def admit(self, source: str, writer: asyncio.StreamWriter) -> str | None:
        """Count a newly accepted connection from ``source``; why the device crashes, or None."""
        if not self.sniffing:
            reason = self.attempt(source)
            if reason is not None:
                return reason
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

    def watch(self, sock: socket.socket) -> None:
        """Count the SYNs ``sock`` (from :func:`open_syn_sniffer`) receives, from the running loop."""
        self.sniffing = True
        loop = asyncio.get_running_loop()

        def readable() -> None:
            for source, at in read_syns(sock):
                if self.dev.dead is not None:
                    break
                reason = self.attempt(source, at)
                if reason is not None:
                    self.dev.crash(reason)
            if self.dev.dead is not None:
                loop.remove_reader(sock.fileno())
                sock.close()

        loop.add_reader(sock.fileno(), readable)

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
