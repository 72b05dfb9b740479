"""Extra open TCP ports: a banner where the real service volunteers one, else silence, then close."""

from __future__ import annotations

import asyncio
import contextlib

from . import hostile
from .runtime import DeviceRuntime

IDLE_S = 10.0
"""How long a silent port waits for the client before closing (the SDK ports wait for a login)."""

TELNET_NEGOTIATION = bytes([255, 253, 1, 255, 253, 31, 255, 251, 1, 255, 251, 3])
BANNERS: dict[int, bytes] = {
    21: b"220 Welcome to ftp service.\r\n",
    22: b"SSH-2.0-dropbear_2019.78\r\n",
    23: TELNET_NEGOTIATION + b"\r\n(none) login: ",
}


def banner(port: int) -> bytes:
    """What ``port`` sends on connect (empty = silent)."""
    return BANNERS.get(port, b"")


class PortListener:
    def __init__(self, dev: DeviceRuntime, port: int) -> None:
        self.dev = dev
        self.port = port

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dev.hostile("tarpit"):
            await hostile.tarpit(self.dev, reader, writer)
            return
        try:
            data = banner(self.port)
            if data:
                writer.write(data)
                await asyncio.wait_for(writer.drain(), 5)
            async with asyncio.timeout(IDLE_S):
                await reader.read(1024)
        except (OSError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
