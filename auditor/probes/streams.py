"""Socket helpers the per-host TCP probes share: paced connections, deadline-bounded capped reads.

Every connection goes through the scan's pacing (``auditor.probes.pacing``: a slot among
the device's few, a per-device token and a global one) and reports how the connect went
(answered, refused, silent) for the device's health; every request sent on it calls
``Stream.request()`` first. Every wait is bounded by the probe timeout *and* the scan
deadline, and every read stops at a byte cap, so a tarpit or a multi-megabyte answer costs
at most one timeout and one cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .base import ProbeContext
from .pacing import HostGivenUp, PacedConnection

MAX_REPLY = 64 * 1024
"""Default cap on bytes read from one reply."""

def budget(ctx: ProbeContext, cap: float | None = None) -> float:
    """Seconds a single step may take: the probe timeout, never past the scan deadline."""
    t = min(ctx.timeout, ctx.remaining())
    return max(0.0, min(t, cap) if cap is not None else t)


def insecure_tls_context() -> ssl.SSLContext:
    """TLS without verification (cameras use self-signed certificates) that still accepts old servers.

    We only read the certificate; nothing secret is sent over these connections.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class ConnectFailed(Exception):
    """The port refused, timed out or the TLS handshake failed; ``str()`` says which, briefly.

    ``answered`` is True when the host itself replied (a refusal, a failed TLS
    handshake): the address is alive even though this port is not usable.
    """

    def __init__(self, message: str, answered: bool = False, accepted: bool = False) -> None:
        super().__init__(message)
        self.answered = answered or accepted
        self.accepted = accepted
        """The TCP connect was accepted (the port is open); what failed came after (the TLS handshake)."""


@dataclass
class Stream:
    """An open, paced connection: call ``await stream.request()`` before each request sent on it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    paced: PacedConnection

    async def request(self) -> None:
        await self.paced.request()


@contextlib.asynccontextmanager
async def open_stream(
    ctx: ProbeContext,
    ip: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    timeout: float | None = None,
    probe: str | None = None,
    bypass: bool = False,
    settle: Callable[[bool | None], None] | None = None,
) -> AsyncIterator[Stream]:
    """Paced, bounded TCP (or TLS) connection to ``ip:port``, closed (aborted) on exit.

    Raises ``ConnectFailed`` on entry when the port refuses, times out, the TLS handshake
    fails, or the device was given up (it stopped answering earlier in the scan). Counted
    against ``probe`` (default ``ctx.probe``) in the device's pacing record; ``bypass`` is for
    the health checks, which run while the device's other operations wait. ``settle`` hears what the TCP
    connect said of the port the moment it is known (True accepted, False refused, None silent or not
    tried): a service probe's first connect standing in for the port probe's knock (``HostState.knocks``).
    """
    try:
        async with ctx.host(ip).connection(probe or ctx.probe, bypass=bypass) as paced:
            reader, writer = await _connect(ctx, ip, port, tls, timeout, paced, settle or _ignore)
            try:
                yield Stream(reader, writer, paced)
            finally:
                close(writer)
    except HostGivenUp as exc:
        if settle is not None:
            settle(None)
        raise ConnectFailed(str(exc)) from None


def _ignore(state: bool | None) -> None:
    pass


async def _connect(ctx: ProbeContext, ip: str, port: int, tls: ssl.SSLContext | None, timeout: float | None,
                   paced: PacedConnection, settle: Callable[[bool | None], None],
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    t = budget(ctx, timeout)
    if t <= 0:
        settle(None)
        raise ConnectFailed("scan deadline reached")
    end = time.monotonic() + t
    try:
        # asyncio.timeout, not wait_for: no task hop, the SYN leaves in the step the pacing allowed it
        async with asyncio.timeout(t):
            reader, writer = await asyncio.open_connection(ip, port)
    except TimeoutError:
        paced.silent()
        settle(None)
        raise ConnectFailed(f"no answer within {t:.1f}s") from None
    except ConnectionRefusedError as exc:
        paced.answered(port, refused=True)
        settle(False)
        raise ConnectFailed(exc.strerror or "connection refused", answered=True) from None
    except OSError as exc:  # host unreachable (no ARP answer, an ICMP error): no answer from the device
        paced.silent()
        settle(None)
        raise ConnectFailed(exc.strerror or type(exc).__name__) from None
    except BaseException:  # cancelled: nothing known of the port
        settle(None)
        raise
    paced.answered(port)
    settle(True)
    if tls is None:
        return reader, writer
    # The handshake after the connect, not inside it: a port that accepted is open whatever TLS does next
    # (the service probes' first connects stand in for the port probe's knocks: ``settle``).
    try:
        async with asyncio.timeout(max(0.0, end - time.monotonic())):
            await writer.start_tls(tls)  # no SNI: cameras are asked by address
    except BaseException as exc:
        close(writer)
        if isinstance(exc, TimeoutError):
            raise ConnectFailed(f"TLS handshake: no answer within {t:.1f}s", accepted=True) from None
        if isinstance(exc, ssl.SSLError):
            raise ConnectFailed(f"TLS handshake failed: {exc.reason or exc}", accepted=True) from None
        if isinstance(exc, OSError):  # reset during the handshake: the port is open, the device answered
            raise ConnectFailed(exc.strerror or type(exc).__name__, accepted=True) from None
        raise
    return reader, writer


async def knock(ctx: ProbeContext, ip: str, port: int, *, probe: str | None = None,
                bypass: bool = False) -> bool | None:
    """A bare paced connect, closed at once with a reset: True open, False refused, None no answer.

    For the port probe and the re-check: no streams, transport or protocol objects (a thousand
    devices are twenty thousand connects), nothing sent. Same pacing and health reporting as
    ``open_stream``; a given-up device is None without a packet.
    """
    loop = asyncio.get_running_loop()
    try:
        async with ctx.host(ip).connection(probe or ctx.probe, bypass=bypass) as paced:
            t = budget(ctx)
            if t <= 0:
                return None
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                async with asyncio.timeout(t):  # no task hop: the SYN leaves in the step the pacing allowed
                    await loop.sock_connect(sock, (ip, port))
            except TimeoutError:
                paced.silent()
                return None
            except ConnectionRefusedError:
                paced.answered(port, refused=True)
                return False
            except OSError:
                paced.silent()
                return None
            finally:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            paced.answered(port)
            return True
    except HostGivenUp:
        return None


def close(writer: asyncio.StreamWriter) -> None:
    """Drop the connection at once (no lingering close handshakes with hostile peers)."""
    with contextlib.suppress(Exception):
        writer.transport.abort()


@dataclass
class ReadResult:
    data: bytes
    truncated: bool = False
    """The peer sent more than the cap; ``data`` holds the first ``cap`` bytes."""
    timed_out: bool = False
    """The time budget ran out before the reply was complete."""


async def read_reply(
    reader: asyncio.StreamReader,
    seconds: float,
    *,
    cap: int = MAX_REPLY,
    complete: Callable[[bytes], bool] | None = None,
) -> ReadResult:
    """Read until EOF, ``cap`` bytes, ``seconds`` elapsed, or ``complete(data)`` says the reply is whole."""
    end = time.monotonic() + seconds
    buf = bytearray()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return ReadResult(bytes(buf), timed_out=True)
        try:
            chunk = await asyncio.wait_for(reader.read(min(16384, cap + 1 - len(buf))), left)
        except TimeoutError:
            return ReadResult(bytes(buf), timed_out=True)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            return ReadResult(bytes(buf))
        if not chunk:
            return ReadResult(bytes(buf))
        buf += chunk
        if len(buf) > cap:
            return ReadResult(bytes(buf[:cap]), truncated=True)
        if complete is not None and complete(bytes(buf)):
            return ReadResult(bytes(buf))
