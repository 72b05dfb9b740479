"""The simulated facility's fleet description: what each emulated device is and answers.

Loaded from ``seeds/demo-fleet.yaml`` (and generated for ``--scale N``). The lab's
network code reads ``name/segment/ip/mac``; the device emulators read ``services``;
tests read ``truth``. A service that is absent (None) is off: its port is closed
and its discovery protocol is silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Segment = Literal["lan", "routed", "sparse"]
"""lan: the scanner's own subnet; routed: a /24 behind the router; sparse: a /16 behind the
router holding few devices among silent addresses (see ``auditor.lab.topology``)."""

HOSTILE_BEHAVIOURS = (
    "xxe_wsd",  # WS-Discovery ProbeMatch carrying a DOCTYPE with an external entity
    "xxe_soap",  # ONVIF SOAP replies carrying a DOCTYPE with an external entity
    "billion_laughs",  # SADP reply with nested entity expansion
    "garbage_udp",  # SADP/DHIP/WS-D ports answer random bytes
    "oversize",  # replies of several megabytes
    "tarpit",  # TCP ports accept and then never send a byte
    "malformed_soap",  # ONVIF answers truncated / non-XML bodies with HTTP 200
    "script_names",  # handled by data: <script> in names; listed for clarity
)


@dataclass(frozen=True)
class Truth:
    """Ground truth for tests: what identification must conclude."""

    maker: str | None
    """Canonical maker name as the knowledge base spells it; None = must come out unknown."""
    covered: bool
    device_class: Literal["camera", "recorder", "other", "unknown"]
    brand: str | None = None


@dataclass(frozen=True)
class WsdService:
    endpoint: str
    """urn:uuid:…"""
    types: tuple[str, ...] = ("dn:NetworkVideoTransmitter", "tds:Device")
    scopes: tuple[str, ...] = ()
    xaddr_host: str | None = None
    """Address put in XAddrs; defaults to the device's own IP (a few real devices name another)."""
    metadata_version: int = 1
    style: Literal["generic", "hikvision"] = "generic"
    """Whose ProbeMatch to write: ``hikvision`` as real Hikvision firmware does (env/wsadis/d
    prefixes, no mustUnderstand, pretty-printed: tests/real wsd-hikvision-dfi6256te-edgex)."""


@dataclass(frozen=True)
class OnvifService:
    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str = ""
    hostname: str = ""
    port: int = 80
    path: str = "/onvif/device_service"
    username: str | None = "admin"
    password: str | None = None
    """None: no auth at all (every call open)."""
    unauth_calls: tuple[str, ...] = ("GetSystemDateAndTime",)
    """Calls answered without credentials (GetSystemDateAndTime always is)."""
    clock_offset_s: float = 0.0
    """Device clock minus real time; digests are checked against the device clock."""
    style: Literal["generic", "hikvision"] = "generic"
    """Whose SOAP envelope to write: ``hikvision`` declares the namespaces Hikvision firmware does."""
    video_sources: int = 1
    """Video inputs the media service lists (GetVideoSources): a camera's one, a recorder's channels."""
    auth: Literal["wsse", "http-digest"] = "wsse"
    """How calls that need credentials are authenticated: a WS-Security UsernameToken in the SOAP
    header (SOAP fault NotAuthorized without one), or HTTP Digest (a 401 with a challenge and no SOAP
    body), as many recorders and some camera firmware do."""


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of an emulated recorder: a camera on its own PoE network (or an empty slot)."""

    channel: int
    name: str = ""
    address: str | None = None
    """The camera's address on the recorder's internal network; None: an empty slot."""
    port: int = 8000
    protocol: str = "HIKVISION"
    """ISAPI ``proxyProtocol`` / Dahua ``ProtocolType``: how the recorder talks to the camera."""
    vendor: str = ""
    """Dahua ``Vendor`` (real recorders repeat the protocol there: ``Onvif``, ``Dahua2``)."""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    mac: str | None = None
    """Reported by Dahua's RemoteDevice (``ff:ff:ff:ff:ff:ff`` when the recorder does not know it)."""
    online: bool = True
    truth: Truth | None = None
    """What identification must conclude of the camera; None for an empty slot."""


@dataclass(frozen=True)
class VendorApiService:
    """A maker's own identity API on the device's web port, with its login: Hikvision ISAPI, Dahua CGI or
    Axis VAPIX, answering in the real replies' formats (auditor/lab/devices/vendor.py names them)."""

    style: Literal["isapi", "dahua", "vapix"]
    model: str
    serial: str
    firmware: str
    firmware_date: str = ""
    """ISAPI firmwareReleasedDate (``build 210610``), Dahua build date (``2021-03-31``)."""
    device_type: str = "IPCamera"
    """ISAPI deviceType (``IPCamera``, ``NVR``); Dahua deviceType (a model, or a number on recorders)."""
    device_name: str = ""
    accounts: dict[str, str] = field(default_factory=dict)
    """username → password (lab only). Empty: the API answers without a login."""
    lockout_after: int | None = None
    """Failed logins (per account) after which the account locks: every later login to it is refused with
    the maker's lockout reply, and the emulator prints ``LOCKED <device> <user>``."""
    credentials_file: Literal["right", "none", "wrong"] = "right"
    """What the lab's credentials file (demo, tests) holds for this device: its account, nothing, or a wrong
    password (to prove a refused login is never retried and never followed by the default check)."""
    channels: tuple[ChannelSpec, ...] = ()
    """A recorder's channel list (empty slots included)."""


@dataclass(frozen=True)
class SadpService:
    device_type: str
    description: str
    """Model, e.g. DS-2CD2143G2-I."""
    serial: str
    """DeviceSN: model + YYYYMMDD + serial, as Hikvision formats it."""
    firmware: str
    """SoftwareVersion, e.g. 'V5.7.3build 220112'."""
    dsp_version: str = "V7.3 build 220112"
    activated: bool = True
    oem_info: str = "N/A"
    command_port: int = 8000
    http_port: int = 80
    encrypted: bool = False
    """<Encrypt>true</Encrypt> (real firmware still sends every field: tests/real sadp-hikvision-ds-2cd2385g1-i)."""
    layout: Literal["v5.6", "v5.2"] = "v5.6"
    """The element set and format of the reply: ``v5.6`` as firmware V5.6 and later writes it (IPv6,
    Encrypt, Salt, SDK ports, no OEMInfo; tab-indented), ``v5.2`` as older firmware does (OEMInfo,
    no IPv6/Encrypt/Salt; ``encoding="UTF-8" ?>``): tests/real sadp-ezviz-cs-c6tc-32wfr-itread01."""


@dataclass(frozen=True)
class DhipService:
    device_class: str
    """e.g. IPC, NVR."""
    device_type: str
    """Model, e.g. IPC-HFW2431S-S-S2."""
    serial: str
    vendor: str = "Dahua"
    machine_name: str = ""
    firmware: str = "2.800.0000000.16.R"
    http_port: int = 80
    port: int = 37777
    format: Literal["compact", "spaced"] = "compact"
    """How the JSON is written: ``compact`` as firmware 2.8xx does (tests/real
    dhip-dahua-ipc-hdw1431t1-s4-haicam), ``spaced`` as 2.4xx does (``{ "mac" : … }``, tests/real
    dhip-dahua-ipc-hdw5421s-amp). Both escape ``/`` as ``\\/``."""


@dataclass(frozen=True)
class HttpService:
    port: int = 80
    server: str | None = None
    """Server header; None = no header."""
    title: str = ""
    realm: str | None = None
    """WWW-Authenticate realm on protected paths; None = no auth."""
    auth_scheme: Literal["Basic", "Digest"] = "Digest"
    upper_case_headers: bool = False
    """Dahua web servers send header names in upper case."""
    extra_headers: dict[str, str] = field(default_factory=dict)
    challenge: Literal["generic", "hikvision", "dahua"] = "generic"
    """Whose digest challenge to send: ``hikvision`` (qop first, the nonce hex-encoded base64 text),
    ``dahua`` (realm and a 32-hex nonce only), ``generic``."""
    paths: dict[str, int] = field(default_factory=dict)
    """Path → status the device answers (200/401/404...); '/' always answers."""
    https_port: int | None = None
    cert_subject_cn: str | None = None
    keep_alive: bool = True
    """Answer several requests on one connection (HTTP/1.1 persistence, as most camera web servers
    do); False: ``Connection: close`` after every reply (old embedded servers)."""


@dataclass(frozen=True)
class RtspService:
    port: int = 554
    server: str | None = None
    auth: Literal["none", "basic", "digest"] = "digest"
    realm: str = ""
    style: Literal["generic", "hikvision", "dahua", "axis", "hanwha"] = "generic"
    """Whose RTSP server to imitate: header set and order, Date format, nonce form and quoting as real
    firmware writes them (auditor/lab/devices/rtsp.py names the real replies each follows)."""


@dataclass(frozen=True)
class Services:
    wsd: WsdService | None = None
    onvif: OnvifService | None = None
    sadp: SadpService | None = None
    dhip: DhipService | None = None
    http: HttpService | None = None
    rtsp: RtspService | None = None
    vendor_api: VendorApiService | None = None
    tcp_ports: tuple[int, ...] = ()
    """Extra open TCP ports with a plausible banner or silence (8000, 37777, 23 telnet, 21 ftp, 22 ssh...)."""
    hostile: tuple[str, ...] = ()
    """Names from HOSTILE_BEHAVIOURS."""


@dataclass(frozen=True)
class Fragile:
    """An old device that locks up for good when one source hits it too hard.

    Counted per source address: more than ``max_connections`` TCP connections held at once
    (to its open ports), or more than ``max_per_second`` connection attempts (SYNs, to any
    port, open or closed: its TCP stack sees them all) within one second, or more than
    ``max_burst`` within a tenth of a second. Past any of them the device goes dark on
    every service (ARP included) until the lab is rebuilt, as old cameras and DVRs do.
    """

    max_connections: int = 2
    max_per_second: int = 50
    max_burst: int = 8


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    """Short unique name, [a-z0-9-], used in reports and test ids."""
    segment: Segment
    ip: str
    mac: str
    """Lower-case colon-separated; a real vendor OUI (or locally administered on purpose)."""
    truth: Truth
    services: Services
    note: str = ""
    fragile: Fragile | None = None
    """None: a robust device; else the limits past which it stops answering (see ``Fragile``)."""


@dataclass(frozen=True)
class Fleet:
    site: str
    devices: tuple[DeviceSpec, ...]
    extra: dict[str, Any] = field(default_factory=dict)
