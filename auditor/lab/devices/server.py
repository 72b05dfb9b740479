"""Open one device's sockets (synchronously, so the caller can do it inside the device's
namespace) and serve them later from a shared asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import struct
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..spec import DeviceSpec
from . import dhip, sadp, wsd
from .fragile import FragileGuard
from .http import HttpListener
from .rtsp import RtspListener
from .runtime import DeviceRuntime
from .tcp_ports import PortListener
from .tls import CertStore

log = logging.getLogger(__name__)

UdpHandler = Callable[[bytes, tuple[str, int]], list[bytes]]
TcpHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
MAX_DATAGRAM = 65535
TCP_BACKLOG = 64


@dataclass
class Bound:
    """One open socket of a device and what serves it."""

    sock: socket.socket
    udp: UdpHandler | None = None
    tcp: TcpHandler | None = None
    ssl: ssl.SSLContext | None = None


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: UdpHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            replies = self.handler(data, addr)
        except Exception:  # a bad datagram must never take the device down
            log.exception("UDP handler failed")
            return
        if self.transport is not None:
            for reply in replies:
                self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


def _udp_socket(bind_ip: str, port: int, group: str | None, iface: str | None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setblocking(False)
        s.bind((bind_ip, port))
        if group is not None and iface is not None:
            mreqn = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"),
                                socket.if_nametoindex(iface))  # fmt: skip
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    except BaseException:
        s.close()
        raise
    return s


def _tcp_socket(bind_ip: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setblocking(False)
        s.bind((bind_ip, port))
    except BaseException:
        s.close()
        raise
    return s


def open_device(
    spec: DeviceSpec,
    *,
    bind_ip: str = "0.0.0.0",
    iface: str | None = "eth0",
    port_map: Callable[[int], int] | None = None,
    certs: CertStore | None = None,
) -> tuple[DeviceRuntime, list[Bound]]:
    """Create and bind every socket ``spec`` needs, in the calling thread's namespace.

    ``iface``: join the discovery multicast groups on it (None: no multicast, as in
    unit tests on 127.0.0.1). ``port_map``: spec port -> port to bind (tests pass
    ``lambda p: 0`` for ephemeral ports; the real ports are recorded in ``runtime.ports``).
    """
    dev = DeviceRuntime(spec)
    svc = spec.services
    pm = port_map or (lambda p: p)
    bound: list[Bound] = []
    if spec.fragile is not None:
        dev.guard = FragileGuard(dev, spec.fragile)

    def add_udp(port: int, group: str, handler: UdpHandler) -> None:
        s = _udp_socket(bind_ip, pm(port), group, iface)
        dev.ports[port] = s.getsockname()[1]
        bound.append(Bound(s, udp=handler))

    def add_tcp(port: int, handler: TcpHandler, ctx: ssl.SSLContext | None = None) -> None:
        if dev.guard is not None:
            handler = dev.guard.wrap(handler)
        s = _tcp_socket(bind_ip, pm(port))
        dev.ports[port] = s.getsockname()[1]
        bound.append(Bound(s, tcp=handler, ssl=ctx))

    try:
        if svc.wsd is not None:
            add_udp(wsd.PORT, wsd.GROUP, wsd.WsdResponder(dev))
        if svc.sadp is not None:
            add_udp(sadp.PORT, sadp.GROUP, sadp.SadpResponder(dev))
        if svc.dhip is not None:
            add_udp(dhip.PORT, dhip.GROUP, dhip.DhipResponder(dev))
        tcp_used: set[int] = set()
        if svc.http is not None:
            shares = svc.onvif is not None and svc.onvif.port == svc.http.port
            add_tcp(svc.http.port, HttpListener(dev, svc.http, onvif=shares))
            tcp_used.add(svc.http.port)
            if svc.http.https_port is not None:
                store = certs or CertStore()
                ctx = store.context(svc.http.cert_subject_cn)
                add_tcp(svc.http.https_port, HttpListener(dev, svc.http, onvif=False, tls=True), ctx)
                tcp_used.add(svc.http.https_port)
        if svc.onvif is not None and svc.onvif.port not in tcp_used:
            add_tcp(svc.onvif.port, HttpListener(dev, None, onvif=True))
            tcp_used.add(svc.onvif.port)
        if svc.rtsp is not None and svc.rtsp.port not in tcp_used:
            add_tcp(svc.rtsp.port, RtspListener(dev))
            tcp_used.add(svc.rtsp.port)
        for port in svc.tcp_ports:
            if port not in tcp_used:
                add_tcp(port, PortListener(dev, port))
                tcp_used.add(port)
    except BaseException:
        close_all(bound)
        raise
    return dev, bound


def close_all(bound: list[Bound]) -> None:
    for b in bound:
        b.sock.close()


async def serve(bound: list[Bound]) -> list[asyncio.AbstractServer | asyncio.BaseTransport]:
    """Attach every socket to the running loop; returns what to close on shutdown."""
    loop = asyncio.get_running_loop()
    handles: list[asyncio.AbstractServer | asyncio.BaseTransport] = []
    for b in bound:
        if b.udp is not None:
            factory = functools.partial(UdpProtocol, b.udp)
            transport, _ = await loop.create_datagram_endpoint(factory, sock=b.sock)
            handles.append(transport)
        elif b.tcp is not None:
            server = await asyncio.start_server(
                b.tcp, sock=b.sock, ssl=b.ssl, backlog=TCP_BACKLOG, limit=64 * 1024,
                ssl_handshake_timeout=10 if b.ssl else None,
            )  # fmt: skip
            handles.append(server)
    return handles


async def shutdown(handles: list[asyncio.AbstractServer | asyncio.BaseTransport]) -> None:
    for h in handles:
        h.close()
    waits = [h.wait_closed() for h in handles if isinstance(h, asyncio.AbstractServer)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 2)
