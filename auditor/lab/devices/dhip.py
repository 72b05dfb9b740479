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


def _link_local(mac: str) -> str:
    """The IPv6 link-local address of ``mac`` (EUI-64), written as Dahua firmware writes it."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    groups = [f"{eui[i]:02x}{eui[i + 1]:02x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups) + "/64"


def notify(dev: DeviceRuntime, request: dict[str, Any]) -> dict[str, Any]:
    """The ``client.notifyDevInfo`` message for ``dev``, with the field set of the firmware
    generation the spec's ``format`` names (tests/real, kind dhip)."""
    d = dev.spec.services.dhip
    assert d is not None
    net = dev.network()
    recorder = d.device_class != "IPC"
    info: dict[str, Any] = {
        "AlarmInputChannels": 4 if recorder else 0,
        "AlarmOutputChannels": 2 if recorder else 0,
        "DeviceClass": d.device_class,
        "DeviceType": d.device_type,
        "HttpPort": d.http_port,
        "IPv4Address": {
            "DefaultGateway": dev.gateway(),
            "DhcpEnable": False,
            "IPAddress": dev.ip,
            "SubnetMask": str(net.netmask),
        },
        "MachineName": d.machine_name or d.serial,
        "Manufacturer": "Private",
        "Port": d.port,
        "RemoteVideoInputChannels": 0,
        "SerialNo": d.serial,
        "Vendor": d.vendor,
        "Version": d.firmware,
        "VideoInputChannels": 0 if recorder else 1,
        "VideoOutputChannels": 1 if recorder else 0,
    }
    if d.format == "compact":
        # firmware 2.8xx (tests/real dhip-dahua-ipc-hdw1431t1-s4-haicam): discovery flags and a boot counter
        info.update({
            "DeviceID": "", "Find": "BC", "FindVersion": 1, "Init": 2714, "UnLoginFuncMask": 1,
            "IPv6Address": {"DefaultGateway": None, "DhcpEnable": False, "IPAddress": "/0",
                            "LinkLocalAddress": _link_local(dev.spec.mac.lower())},
        })
    else:
        # firmware 2.4xx (tests/real dhip-dahua-ipc-hdw5421s-amp)
        info["IPv6Address"] = {"DefaultGateway": "", "DhcpEnable": False, "IPAddress": "",
                               "LinkLocalAddress": _link_local(dev.spec.mac.lower())}
    msg: dict[str, Any] = {
        "mac": dev.spec.mac.lower(),
        "method": "client.notifyDevInfo",
        "params": {"deviceInfo": info},
    }
    if "id" in request:
        msg["id"] = request["id"]
    return msg


def _spaced(value: Any) -> str:
    """JSON as Dahua 2.4xx firmware writes it: ``{ "key" : value, … }``, keys sorted."""
    if isinstance(value, dict):
        if not value:
            return "{ }"
        return "{ " + ", ".join(f"{_spaced(str(k))} : {_spaced(v)}" for k, v in sorted(value.items())) + " }"
    if isinstance(value, list):
        return "[ " + ", ".join(_spaced(v) for v in value) + " ]"
    return json.dumps(value)


def encode(dev: DeviceRuntime, msg: dict[str, Any]) -> bytes:
    """The datagram body: the message in the firmware's JSON style, ``/`` escaped as ``\\/`` as Dahua
    firmware does, and the trailing newline its header counts."""
    d = dev.spec.services.dhip
    assert d is not None
    text = _spaced(msg) if d.format == "spaced" else json.dumps(msg, separators=(",", ":"), sort_keys=True)
    return (text.replace("/", "\\/") + "\n").encode()


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
        body = encode(self.dev, notify(self.dev, req))
        if self.dev.hostile("oversize"):
            pad = hostile.UDP_OVERSIZE - len(body) - HEADER.size - 32
            msg = notify(self.dev, req)
            msg["params"]["deviceInfo"]["Padding"] = "A" * max(0, pad)
            body = encode(self.dev, msg)
        return [frame(body)]
