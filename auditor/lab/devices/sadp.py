"""Hikvision SADP (UDP 37020): ``<Probe>…<Types>inquiry</Types></Probe>`` in, ``<ProbeMatch>`` out.

Element set, order and format follow real replies (tests/real, kind sadp): one element
per line, MAC dash-separated lower case, DeviceType a numeric model code,
DeviceDescription the model, DeviceSN model + date + serial; two firmware generations
(the spec's ``layout``).
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


def _v56_fields(dev: DeviceRuntime, head: list[tuple[str, str]], boot: str) -> list[tuple[str, str]]:
    """Firmware V5.6 and later, as a real DS-2CD2385G1-I on V5.6.2 answers (tests/real
    sadp-hikvision-ds-2cd2385g1-i-haicam): IPv6 block, Encrypt, Salt, the SDK ports in this order,
    no OEMInfo, and the firmware's own misspelling ``flase``."""
    s = dev.spec.services.sadp
    assert s is not None
    recorder = dev.spec.truth.device_class == "recorder"
    return head + [
        ("IPv6Address", "::"),
        ("IPv6Gateway", "::"),
        ("IPv6MaskLen", "64"),
        ("DHCP", "false"),
        ("AnalogChannelNum", "0"),
        ("DigitalChannelNum", "16" if recorder else "1"),
        ("SoftwareVersion", s.firmware),
        ("DSPVersion", s.dsp_version),
        ("BootTime", boot),
        ("Encrypt", _b(s.encrypted)),
        ("ResetAbility", "false"),
        ("DiskNumber", "1" if recorder else "0"),
        ("Activated", _b(s.activated)),
        ("PasswordResetAbility", "true"),
        ("PasswordResetModeSecond", "true"),
        ("DetailOEMCode", "1"),
        ("SupportSecurityQuestion", "true"),
        ("SupportHCPlatform", "true"),
        ("HCPlatformEnable", "flase"),
        ("IsModifyVerificationCode", "true"),
        ("Salt", hashlib.sha256(dev.spec.mac.encode()).hexdigest()),
        ("DeviceLock", "flase"),
        ("SDKOverTLSPort", "8443"),
        ("SDKServerStatus", "true"),
        ("SDKOverTLSServerStatus", "true"),
        ("SupportMailBox", "true"),
    ]


def _v52_fields(dev: DeviceRuntime, head: list[tuple[str, str]], boot: str) -> list[tuple[str, str]]:
    """Older firmware (V5.2 and before), as a real EZVIZ CS-C6TC on V5.2.3 answers (tests/real
    sadp-ezviz-cs-c6tc-32wfr-itread01): OEMInfo, no IPv6, Encrypt or Salt."""
    s = dev.spec.services.sadp
    assert s is not None
    recorder = dev.spec.truth.device_class == "recorder"
    return head + [
        ("DHCP", "false"),
        ("AnalogChannelNum", "0"),
        ("DigitalChannelNum", "16" if recorder else "1"),
        ("SoftwareVersion", s.firmware),
        ("DSPVersion", s.dsp_version),
        ("BootTime", boot),
        ("OEMInfo", s.oem_info),
        ("Activated", _b(s.activated)),
        ("PasswordResetAbility", "false"),
    ]


def probe_match(dev: DeviceRuntime, probe_uuid: str) -> str:
    """The ProbeMatch document for ``dev``, one element per line as real firmware writes it (the
    spec's ``layout`` says which firmware generation's element set and XML declaration)."""
    s = dev.spec.services.sadp
    assert s is not None
    net = dev.network()
    boot = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dev.started - 3 * 86400))
    head: list[tuple[str, str]] = [
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
    if s.layout == "v5.2":
        body = "".join(f"<{k}>{escape(v)}</{k}>\n" for k, v in _v52_fields(dev, head, boot))
        return f'<?xml version="1.0" encoding="UTF-8" ?>\n<ProbeMatch>\n{body}</ProbeMatch>\n'
    body = "".join(f"\t<{k}>{escape(v)}</{k}>\n" for k, v in _v56_fields(dev, head, boot))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<ProbeMatch>\n{body}</ProbeMatch>\n'


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
