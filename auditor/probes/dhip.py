"""Dahua DHIP discovery (UDP 37810): MAC, serial, model, vendor (OEM name) and firmware.

Dahua devices and their relabels (Lorex, Amcrest, "General") answer a
``DHDiscover.search`` with ``client.notifyDevInfo``; ``Vendor`` is the brand the device
is sold under, which is exactly what identification needs to unmask. Framing: a
32-byte little-endian header (``20 00 00 00`` ``DHIP`` 8 zero bytes, body length, 0,
body length, 0) then JSON. Reference: julienblitte/UniversalScanner ``Dahua2.cs``.
"""

from __future__ import annotations

import json
import struct
from typing import Any, ClassVar

from ..mac import normalise_mac
from ..text import clean_or_none
from .contract import Field, ProbeFields
from .udp import ReplyError, UdpProbe, copy_fields, device_key, to_int

FIELDS = ProbeFields("dhip", (
    Field("mac", "str", "MAC, normalised", "3c:ef:8c:12:34:56"),
    Field("serial", "str", "SerialNo", "7J01234PAZ5A6B7"),
    Field("model", "str", "DeviceType", "IPC-HFW2431S-S-S2"),
    Field("device_class", "str", "DeviceClass (e.g. `IPC`, `NVR`, `VTO`)", "IPC"),
    Field("vendor", "str", "Vendor (the brand of a relabelled unit)", "General"),
    Field("machine_name", "str", "MachineName", "7J01234PAZ5A6B7"),
    Field("firmware", "str", "Version", "2.800.0000000.16.R"),
    Field("ipv4", "str", "IPv4Address the device reports", "198.18.0.21",
          kept="the sender's address is the observation's ip; this is what the device believes"),
    Field("http_port", "int", "HttpPort", 80, kept="the port probe finds open ports itself"),
    Field("service_port", "int", "Port (the SDK port)", 37777, kept="the port probe finds open ports itself"),
), note="Dahua DHIP `client.notifyDevInfo`.")

PORT = 37810
GROUP = "239.255.255.251"
HEADER_LEN = 32
MAGIC = b"DHIP"
MAX_BODY_BYTES = 32 * 1024
"""A real notifyDevInfo is ~800 bytes; anything past this is hostile."""
SEARCH_BODY = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n'

_HEADER = struct.Struct("<I4s8xIIII")
"""header size, magic, 8 reserved bytes, body length, 0, body length, 0."""

_TEXT_FIELDS = {
    "serial": "SerialNo",
    "model": "DeviceType",
    "device_class": "DeviceClass",
    "vendor": "Vendor",
    "machine_name": "MachineName",
    "firmware": "Version",
}
_INT_FIELDS = {"http_port": "HttpPort", "service_port": "Port"}


def build_dhip_header(body_len: int) -> bytes:
    return _HEADER.pack(HEADER_LEN, MAGIC, body_len, 0, body_len, 0)


def build_dhip_search() -> bytes:
    """The ``DHDiscover.search`` datagram: 32-byte header + JSON body with its newline."""
    return build_dhip_header(len(SEARCH_BODY)) + SEARCH_BODY


def _body(data: bytes) -> bytes:
    if len(data) < HEADER_LEN:
        raise ReplyError(f"DHIP reply of {len(data)} bytes is shorter than its header")
    size, magic, len1, _, len2, _ = _HEADER.unpack_from(data)
    if size != HEADER_LEN or magic != MAGIC:
        raise ReplyError("not a DHIP frame (bad header)")
    body = data[HEADER_LEN:]
    declared = len1 or len2
    if declared > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        raise ReplyError(f"DHIP body over the {MAX_BODY_BYTES}-byte cap")
    if declared:
        if declared > len(body):
            raise ReplyError(f"truncated DHIP reply: header says {declared} bytes, {len(body)} arrived")
        body = body[:declared]
    return body.rstrip(b"\x00 \r\n\t")


def parse_dhip_reply(data: bytes) -> dict[str, Any]:
    """A DHIP ``client.notifyDevInfo`` → fields (names per docs/observations.md).

    Returns {} for a datagram that is not a device reply (another tool's
    ``DHDiscover.search``). Raises ``ReplyError`` for malformed/hostile payloads.
    """
    body = _body(data)
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReplyError("DHIP body is not UTF-8") from exc
    except RecursionError as exc:
        raise ReplyError("DHIP JSON nested too deep") from exc
    except ValueError as exc:
        raise ReplyError(f"DHIP body is not JSON: {str(exc)[:80]}") from exc
    if not isinstance(doc, dict):
        raise ReplyError("DHIP body is not a JSON object")
    method = doc.get("method")
    if method != "client.notifyDevInfo":
        if isinstance(method, str) and method.startswith("DHDiscover."):
            return {}
        raise ReplyError(f"unexpected DHIP method {clean_or_none(method, 60)!r}")
    params = doc.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        raise ReplyError("DHIP notifyDevInfo without params.deviceInfo")
    fields: dict[str, Any] = {}
    mac = normalise_mac(doc.get("mac")) or normalise_mac(info.get("Mac")) or normalise_mac(info.get("MAC"))
    if mac:
        fields["mac"] = mac
    copy_fields(fields, _TEXT_FIELDS, info.get, clean_or_none)
    ipv4 = info.get("IPv4Address")
    if isinstance(ipv4, dict):
        address = clean_or_none(ipv4.get("IPAddress"), 64)
        if address:
            fields["ipv4"] = address
    copy_fields(fields, _INT_FIELDS, info.get, to_int)
    if "mac" not in fields and "serial" not in fields:
        raise ReplyError("DHIP notifyDevInfo without MAC or serial")
    return fields


dhip_key = device_key
"""De-duplicate by MAC, else serial (a reply has one or the other)."""


class DhipProbe(UdpProbe):
    """Multicast/broadcast + routed-unicast DHIP search; one observation per MAC/serial."""

    name: ClassVar[str] = "dhip"
    default_port: ClassVar[int] = PORT
    default_group: ClassVar[str] = GROUP
    broadcast: ClassVar[bool] = True

    def payloads(self, multicast: bool) -> list[bytes]:
        return [build_dhip_search()]

    def parse_reply(self, data: bytes) -> dict[str, Any]:
        return parse_dhip_reply(data)
