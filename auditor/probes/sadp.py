"""Hikvision SADP (UDP 37020): model, serial, MAC, firmware and activation state, no login.

A Hikvision device (and its relabels) answers an ``inquiry`` with a ``<ProbeMatch>``
even when ONVIF is disabled, which is Hikvision's default. Devices answer to the
sender and, on some firmware, to the multicast group, so the probe listens on both.
Reference parsers: cameronnewman/hikvision-tooling ``internal/sadp/scanner.go``;
julienblitte/UniversalScanner ``Hikvision.cs``.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from ..mac import normalise_mac
from ..text import clean_or_none
from ..xmlsafe import local, parse_xml, text_of
from .contract import Field, ProbeFields
from .udp import ReplyError, UdpProbe, copy_fields, device_key, to_bool, to_int

FIELDS = ProbeFields("sadp", (
    Field("mac", "str", "MAC, normalised", "c0:56:e3:12:34:56"),
    Field("serial", "str", "DeviceSN", "DS-2CD2143G2-I20210315AAWRG12345678"),
    Field("model", "str", "DeviceDescription", "DS-2CD2143G2-I"),
    Field("device_type", "str", "DeviceType (a number or a class name)", "139"),
    Field("firmware", "str", "SoftwareVersion", "V5.7.3build 220112"),
    Field("dsp_version", "str", "DSPVersion", "V7.3 build 220112", kept="firmware detail, for a person"),
    Field("oem_info", "str", "OEMInfo (the brand of a relabelled unit)", "LTS"),
    Field("ipv4", "str", "IPv4Address the device reports", "198.18.0.11",
          kept="the sender's address is the observation's ip; this is what the device believes"),
    Field("boot_time", "str", "BootTime", "2026-11-01 03:12:44", kept="for a person"),
    Field("http_port", "int", "HttpPort", 80, kept="the port probe finds open ports itself"),
    Field("command_port", "int", "CommandPort (the SDK port)", 8000, kept="the port probe finds open ports itself"),
    Field("activated", "bool", "Activated (false: no admin password set yet)", True),
    Field("encrypted", "bool", "Encrypt", False, kept="protocol detail, for a person"),
), note="Hikvision SADP ProbeMatch.")

PORT = 37020
GROUP = "239.255.255.250"
MAX_REPLY_BYTES = 16 * 1024
"""A real ProbeMatch is ~1.5 KB; anything past this is hostile."""

_TEXT_FIELDS = {
    "serial": "DeviceSN",
    "model": "DeviceDescription",
    "device_type": "DeviceType",
    "firmware": "SoftwareVersion",
    "dsp_version": "DSPVersion",
    "oem_info": "OEMInfo",
    "ipv4": "IPv4Address",
    "boot_time": "BootTime",
}
_INT_FIELDS = {"http_port": "HttpPort", "command_port": "CommandPort"}
_BOOL_FIELDS = {"activated": "Activated", "encrypted": "Encrypt"}


def build_sadp_inquiry(probe_uuid: str | None = None, types: str = "inquiry") -> bytes:
    """The SADP inquiry; ``probe_uuid`` defaults to a fresh upper-case UUID (as SADPTool sends)."""
    uid = probe_uuid or str(uuid.uuid4()).upper()
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Probe><Uuid>{escape(uid)}</Uuid><Types>{escape(types)}</Types></Probe>"
    ).encode()


def parse_sadp_reply(data: bytes) -> dict[str, Any]:
    """A SADP ``<ProbeMatch>`` → fields (names per docs/observations.md).

    Returns {} for a message that is not a reply (an inquiry from another SADP tool).
    Raises ``ValueError`` (``UnsafeXML``/``ReplyError``) for malformed/hostile payloads.
    """
    root = parse_xml(data, max_bytes=MAX_REPLY_BYTES)
    tag = local(root.tag)
    if tag == "Probe":
        return {}
    if tag != "ProbeMatch":
        raise ReplyError(f"not a SADP ProbeMatch (root <{tag[:40]}>)")
    fields: dict[str, Any] = {}
    mac = normalise_mac(text_of(root, "MAC"))
    if mac:
        fields["mac"] = mac
    def element_text(name: str) -> str | None:
        return text_of(root, name)

    copy_fields(fields, _TEXT_FIELDS, element_text, clean_or_none)
    copy_fields(fields, _INT_FIELDS, element_text, to_int)
    copy_fields(fields, _BOOL_FIELDS, element_text, to_bool)
    if not fields.get("mac") and not fields.get("serial") and not fields.get("encrypted"):
        raise ReplyError("SADP ProbeMatch without MAC or serial")
    return fields


sadp_key = device_key
"""De-duplicate by MAC, else serial, else sender."""


class SadpProbe(UdpProbe):
    """Multicast/broadcast + routed-unicast SADP inquiry; one observation per MAC/serial."""

    name: ClassVar[str] = "sadp"
    default_port: ClassVar[int] = PORT
    default_group: ClassVar[str] = GROUP
    broadcast: ClassVar[bool] = True

    def payloads(self, multicast: bool) -> list[bytes]:
        # One inquiry per destination: ``inquiry_v32`` as well would double a storm of
        # replies that already arrive twice per round (multicast and broadcast).
        return [build_sadp_inquiry()]

    def parse_reply(self, data: bytes) -> dict[str, Any]:
        return parse_sadp_reply(data)
