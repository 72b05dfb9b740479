"""Shared helpers for the per-host probe tests: a loopback-only context and tiny fake servers.

Every server here binds 127.0.0.1 on an ephemeral port; probes are pointed at those
ports through their constructor parameters. Nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from auditor.credentials import Credentials
from auditor.models import Observation
from auditor.probes.base import ProbeContext, RateLimiter

ASSETS = Path(__file__).parent / "assets"
LOOPBACK = "127.0.0.1"


class LoopbackScope:
    """Scope holding 127.0.0.0/8 only."""

    net = ipaddress.IPv4Network("127.0.0.0/8")

    def __contains__(self, ip: object) -> bool:
        try:
            return ipaddress.IPv4Address(str(ip)) in self.net
        except ValueError:
            return False

    def addresses(self) -> Iterator[ipaddress.IPv4Address]:
        yield ipaddress.IPv4Address(LOOPBACK)

    def __len__(self) -> int:
        return 1


def make_ctx(
    out: list[Observation],
    *,
    timeout: float = 1.0,
    deadline_in: float = 10.0,
    credentials: Credentials | None = None,
    rate: float = 10000.0,
) -> ProbeContext:
    return ProbeContext(
        scope=LoopbackScope(),
        interface="lo",
        iface_addr=ipaddress.IPv4Interface("127.0.0.1/8"),
        rate=RateLimiter(rate, burst=1000),
        timeout=timeout,
        deadline=time.monotonic() + deadline_in,
        emit=out.append,
        credentials=credentials,
    )


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler, ssl: object = None) -> tuple[asyncio.AbstractServer, int]:
    """Start ``handler`` on 127.0.0.1 (ephemeral port); returns the server and its port."""

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, LOOPBACK, 0, ssl=ssl)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, port


async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never say a word."""
    await asyncio.sleep(30)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read an HTTP/RTSP request head (and a Content-Length body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    import socket

    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])
