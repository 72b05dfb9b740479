"""Dahua DHIP discovery (UDP 37810): ``DHDiscover.search`` in, ``client.notifyDevInfo`` out.

Frame: 32-byte little-endian header — header size 0x20, magic ``DHIP``, two reserved
words, body length, 0, body length, 0 — then a JSON body (Dahua appends a newline).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from . import hostile
from .runtime import DeviceRuntime

PORT = 37810
GROUP = "239.255.255.251"
HEADER = struct.Struct("<I4sIIIIII")
MAGIC = b"DHIP"
MAX_BODY = 8 * 1024


def frame(body: bytes) -> bytes:
    """Header + ``body``."""
    return HEADER.pack(HEADER.size, MAGIC, 0, 0, len(body), 0, len(body), 0) + body


def unframe(data: bytes, max_body: int = MAX_BODY) -> bytes | None:
    """The body of a well-formed DHIP datagram; None when the header is wrong or lies."""
    if len(data) < HEADER.size:
        return None
    size, magic, _r1, _r2, len1, _r3, len2, _r4 = HEADER.unpack_from(data)
    body = data[HEADER.size :]
    if size != HEADER.size or magic != MAGIC or len1 != len2 or len1 != len(body) or len1 > max_body:
        return None
    return body


def parse_search(data: bytes) -> dict[str, Any] | None:
    """The JSON of a ``DHDiscover.search`` request, else None."""
    body = unframe(data)
    if body is None:
        return None
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(msg, dict) or msg.get("method") != "DHDiscover.search":
        return None
    return msg


def notify(dev: DeviceRuntime, request: dict[str, Any]) -> dict[str, Any]:
    """The ``client.notifyDevInfo`` message for ``dev``."""
    d = dev.spec.services.dhip
    assert d is not None
    net = dev.network()
    info: dict[str, Any] = {
        "AlarmInputChannels": 0 if d.device_class == "IPC" else 4,
        "AlarmOutputChannels": 0 if d.device_class == "IPC" else 2,
        "DeviceClass": d.device_class,
        "DeviceType": d.device_type,
        "HttpPort": d.http_port,
        "IPv4Address": {
            "DefaultGateway": dev.gateway(),
            "DhcpEnable": False,
            "IPAddress": dev.ip,
            "SubnetMask": str(net.netmask),
        },
        "IPv6Address": {
            "DefaultGateway": "",
            "DhcpEnable": False,
            "IPAddress": "",
            "LinkLocalAddress": "",
        },
        "Init": 1,
        "MachineName": d.machine_name or d.serial,
        "Manufacturer": d.vendor,
        "Port": d.port,
        "RemoteVideoInputChannels": 0,
        "SerialNo": d.serial,
        "Vendor": d.vendor,
        "Version": d.firmware,
        "VideoInputChannels": 1 if d.device_class == "IPC" else 0,
        "VideoOutputChannels": 0 if d.device_class == "IPC" else 1,
    }
    msg: dict[str, Any] = {
        "mac": dev.spec.mac.lower(),
        "method": "client.notifyDevInfo",
        "params": {"deviceInfo": info},
    }
    if "id" in request:
        msg["id"] = request["id"]
    return msg


class DhipResponder:
    """Datagram handler for the DHIP port."""

    def __init__(self, dev: DeviceRuntime) -> None:
        self.dev = dev

    def __call__(self, data: bytes, addr: tuple[str, int]) -> list[bytes]:
        req = parse_search(data)
        if req is None:
            return []
        if self.dev.hostile("garbage_udp"):
            return [hostile.garbage_dhip()]
        body = (json.dumps(notify(self.dev, req)) + "\n").encode()
        if self.dev.hostile("oversize"):
            pad = hostile.UDP_OVERSIZE - len(body) - HEADER.size - 32
            msg = notify(self.dev, req)
            msg["params"]["deviceInfo"]["Padding"] = "A" * max(0, pad)
            body = (json.dumps(msg) + "\n").encode()
        return [frame(body)]
