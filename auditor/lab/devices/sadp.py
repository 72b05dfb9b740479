"""Hikvision SADP (UDP 37020): ``<Probe>…<Types>inquiry</Types></Probe>`` in, ``<ProbeMatch>`` out.

Field set and order follow public captures of real cameras (see the hikvision-tooling and
UniversalScanner parsers): MAC dash-separated lower case, DeviceType a numeric model
code, DeviceDescription the model, DeviceSN model + date + serial.
"""

from __future__ import annotations

import hashlib
import time
from xml.sax.saxutils import escape

from ...xmlsafe import UnsafeXML, local, parse_xml, text_of
from . import hostile
from .runtime import DeviceRuntime

PORT = 37020
GROUP = "239.255.255.250"
INQUIRY_TYPES = ("inquiry", "inquiry_v32")
MAX_PROBE = 8 * 1024


def parse_probe(data: bytes) -> tuple[str, str] | None:
    """(Uuid, Types) of an inquiry Probe; None for anything else (including our own replies)."""
    try:
        root = parse_xml(data, max_bytes=MAX_PROBE)
    except UnsafeXML:
        return None
    if local(root.tag) != "Probe":
        return None
    types = (text_of(root, "Types") or "").lower()
    if types not in INQUIRY_TYPES:
        return None
    return text_of(root, "Uuid") or "", types


def _b(value: bool) -> str:
    return "true" if value else "false"


def probe_match(dev: DeviceRuntime, probe_uuid: str) -> str:
    """The ProbeMatch document for ``dev`` (fewer fields when the spec says ``encrypted``)."""
    s = dev.spec.services.sadp
    assert s is not None
    net = dev.network()
    boot = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dev.started - 3 * 86400))
    salt = hashlib.sha256(dev.spec.mac.encode()).hexdigest()
    base: list[tuple[str, str]] = [
        ("Uuid", probe_uuid),
        ("Types", "inquiry"),
        ("DeviceType", s.device_type),
        ("DeviceDescription", s.description),
        ("DeviceSN", s.serial),
        ("CommandPort", str(s.command_port)),
        ("HttpPort", str(s.http_port)),
        ("MAC", dev.mac_dashes()),
        ("IPv4Address", dev.ip),
        ("IPv4SubnetMask", str(net.netmask)),
        ("IPv4Gateway", dev.gateway()),
    ]
    if s.encrypted:
        fields = base + [
            ("SoftwareVersion", s.firmware),
            ("Encrypt", "true"),
            ("Activated", _b(s.activated)),
            ("PasswordResetAbility", "true"),
        ]
    else:
        recorder = dev.spec.truth.device_class == "recorder"
        fields = base + [
            ("IPv6Address", "::"),
            ("IPv6Gateway", "::"),
            ("IPv6MaskLen", "64"),
            ("DHCP", "false"),
            ("AnalogChannelNum", "0"),
            ("DigitalChannelNum", "16" if recorder else "1"),
            ("SoftwareVersion", s.firmware),
            ("DSPVersion", s.dsp_version),
            ("BootTime", boot),
            ("Encrypt", "false"),
            ("ResetAbility", "false"),
            ("DiskNumber", "1" if recorder else "0"),
            ("Activated", _b(s.activated)),
            ("PasswordResetAbility", "true"),
            ("PasswordResetModeSecond", "true"),
            ("DetailOEMCode", "1"),
            ("SupportSecurityQuestion", "true"),
            ("SupportHCPlatform", "true"),
            ("HCPlatformEnable", "false"),
            ("IsModifyVerificationCode", "false"),
            ("Salt", salt),
            ("DeviceLock", "false"),
            ("SDKServerStatus", "true"),
            ("SDKOverTLSServerStatus", "false"),
            ("SDKOverTLSPort", "8443"),
            ("SupportMailBox", "true"),
            ("supportEzvizUnbind", "true"),
            ("OEMInfo", s.oem_info),
        ]
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields)
    return f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch>{body}</ProbeMatch>'


class SadpResponder:
    """Datagram handler for the SADP port."""

    def __init__(self, dev: DeviceRuntime) -> None:
        self.dev = dev

    def __call__(self, data: bytes, addr: tuple[str, int]) -> list[bytes]:
        probe = parse_probe(data)
        if probe is None:
            return []
        if self.dev.hostile("garbage_udp"):
            return [hostile.garbage()]
        if self.dev.hostile("billion_laughs"):
            return [hostile.billion_laughs("ProbeMatch", "DeviceDescription")]
        text = probe_match(self.dev, probe[0])
        if self.dev.hostile("oversize"):
            return [hostile.pad_udp(text)]
        return [text.encode()]
