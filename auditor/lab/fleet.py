"""Load, validate and scale the simulated facility's fleet (``seeds/demo-fleet.yaml``).

Loading is strict: every YAML key must be a field of the ``auditor.lab.spec``
dataclass it fills, every value must have the field's type (``opfile.Value.convert``,
the typed reader every operator file shares), and addresses must fit the topology.
Errors are :class:`~auditor.errors.OperatorError` with ``file:line``. The same
converter reads the fleet back from the lab's JSON state file
(:func:`fleet_from_data` / :func:`fleet_to_data`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import opfile
from ..errors import OperatorError
from ..opfile import Value, line_at
from ..resources import data_dir
from . import spec, topology
from .spec import (
    DeviceSpec,
    DhipService,
    Fleet,
    Fragile,
    HttpService,
    OnvifService,
    RtspService,
    SadpService,
    Services,
    Truth,
    WsdService,
)

DEMO_FLEET_FILE = "demo-fleet.yaml"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_RESERVED_IPS = {
    ipaddress.IPv4Address(topology.ROUTER_LAN_IP),
    ipaddress.IPv4Address(topology.ROUTER_ROUTED_IP),
    ipaddress.IPv4Address(topology.ROUTER_SPARSE_IP),
    ipaddress.IPv4Address(topology.SCANNER_IP),
}
MAX_SCALE = int(topology.LAN.broadcast_address) - int(topology.SCALE_BASE)
"""How many generic cameras fit between SCALE_BASE and the end of the LAN."""
BRIDGE_MAX_PORTS = 1023
"""A Linux bridge takes at most 1023 ports (port numbers below BR_MAX_PORTS = 1024, and 0 is
reserved); the LAN is one bridge. One more port fails deep in bring-up with "Exchange full"."""


# --------------------------------------------------------------------------- typed conversion


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(spec))
    return _HINTS[cls]


# --------------------------------------------------------------------------- validation


def _validate(fleet: Fleet, raw: Any, source: str) -> None:
    raw_devices = raw.get("devices") if isinstance(raw, Mapping) else None
    names: set[str] = set()
    ips: set[ipaddress.IPv4Address] = set()
    macs: set[str] = set()
    for i, dev in enumerate(fleet.devices):
        raw_dev = raw_devices[i] if isinstance(raw_devices, list) and i < len(raw_devices) else None
        where = f"devices[{i}] ({dev.name})"

        def line(key: str, raw_dev: Any = raw_dev) -> int | None:
            return line_at(raw_dev, key, None)

        if not _NAME_RE.match(dev.name):
            raise OperatorError(f"{where}: name must match {_NAME_RE.pattern}", source, line("name"))
        if dev.name in names:
            raise OperatorError(f"{where}: duplicate device name", source, line("name"))
        names.add(dev.name)
        try:
            ip = ipaddress.IPv4Address(dev.ip)
        except ValueError:
            raise OperatorError(f"{where}: {dev.ip!r} is not an IPv4 address", source, line("ip")) from None
        net = topology.SEGMENTS[dev.segment][0]
        if ip not in net or ip in (net.network_address, net.broadcast_address) or ip in _RESERVED_IPS:
            raise OperatorError(f"{where}: {ip} is not a free host address of the {dev.segment} segment {net}",
                                source,
                           line("ip"))
        if ip in ips:
            raise OperatorError(f"{where}: duplicate IP {ip}", source, line("ip"))
        ips.add(ip)
        if not _MAC_RE.match(dev.mac):
            raise OperatorError(f"{where}: MAC must be lower-case aa:bb:cc:dd:ee:ff, got {dev.mac!r}", source,
                                line("mac"))
        if int(dev.mac[:2], 16) & 1:
            raise OperatorError(f"{where}: {dev.mac} is a multicast MAC", source, line("mac"))
        if dev.mac in macs:
            raise OperatorError(f"{where}: duplicate MAC {dev.mac}", source, line("mac"))
        macs.add(dev.mac)
        if dev.fragile is not None and min(dev.fragile.max_connections, dev.fragile.max_per_second,
                                           dev.fragile.max_burst) < 1:
            raise OperatorError(f"{where}: fragile limits must be positive", source, line("fragile"))
        raw_services = raw_dev.get("services") if isinstance(raw_dev, Mapping) else None
        for h in dev.services.hostile:
            if h not in spec.HOSTILE_BEHAVIOURS:
                raise OperatorError(f"{where}: unknown hostile behaviour {h!r} (known: "
                                    f"{', '.join(spec.HOSTILE_BEHAVIOURS)})", source,
                                    line_at(raw_services, "hostile", line("services")))


def fleet_from_data(data: Any, source: str = "<fleet>") -> Fleet:
    """Build and validate a :class:`Fleet` from parsed YAML (line-aware) or JSON (plain) data."""
    if not isinstance(data, Mapping):
        raise OperatorError("a fleet file is a mapping with 'site' and 'devices'", source, 1)
    fleet = Value(source, data, line_at(data, None, 1)).convert(Fleet, "fleet", hints=_hints)
    _validate(fleet, data, source)
    return typing.cast(Fleet, fleet)


def load_fleet(path: str | Path | None = None) -> Fleet:
    """Load a fleet YAML file (default: the shipped ``seeds/demo-fleet.yaml``)."""
    p = Path(path) if path is not None else data_dir("seeds") / DEMO_FLEET_FILE
    doc = opfile.load(p, "fleet file")
    return fleet_from_data(doc.root.data, doc.path)


def fleet_to_data(fleet: Fleet) -> dict[str, Any]:
    """JSON-safe plain data for ``fleet`` that :func:`fleet_from_data` reads back."""
    return typing.cast(dict[str, Any], _plain(dataclasses.asdict(fleet)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


UNKNOWN_PASSWORD: tuple[str, ...] = ("lts-oem-cam",)
"""Devices whose password the lab's operator does not know (their ONVIF calls show as denied)."""
WRONG_PASSWORD = "not-the-password"
"""What the lab's credentials file holds for a device whose ``vendor_api.credentials_file`` is ``wrong``."""


def lab_credentials(fleet: Fleet, skip: tuple[str, ...] = UNKNOWN_PASSWORD) -> dict[str, dict[str, str]]:
    """The ``hosts`` section of the credentials file the demo and the tests use: each device's ONVIF
    account, or its maker API's (as ``vendor_api.credentials_file`` says: right, none, wrong)."""
    hosts: dict[str, dict[str, str]] = {}
    for dev in fleet.devices:
        if dev.name in skip:
            continue
        onvif, api = dev.services.onvif, dev.services.vendor_api
        if api is not None and api.accounts:
            if api.credentials_file == "none":
                continue
            user, password = next(iter(api.accounts.items()))
            hosts[dev.ip] = {"username": user,
                             "password": password if api.credentials_file == "right" else WRONG_PASSWORD}
        elif onvif is not None and onvif.password and onvif.username:
            hosts[dev.ip] = {"username": onvif.username, "password": onvif.password}
    return hosts


def prefixlen(device: DeviceSpec) -> int:
    """Prefix length of the device's segment (20 on the LAN, 24 routed, 16 sparse)."""
    return topology.SEGMENTS[device.segment][0].prefixlen


def gateway(device: DeviceSpec) -> str:
    """The router's address on the device's segment."""
    return topology.SEGMENTS[device.segment][1]


# --------------------------------------------------------------------------- scaling

# (maker, brand, OUIs, covered) — OUIs from the IEEE registry scapy ships.
_SCALE_VENDORS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("Hikvision", ("c0:56:e3", "44:19:b6", "bc:ad:28", "54:c4:15"), True),
    ("Dahua", ("3c:ef:8c", "e0:50:8b", "38:af:29", "4c:11:bf"), True),
    ("Axis", ("00:40:8c", "ac:cc:8e", "b8:a4:4f"), False),
    ("Hanwha", ("00:09:18", "e4:30:22"), False),
)


SPARSE_MAC_OFFSET = 0x10000
"""Sparse cameras number their MACs from here, so they never collide with the scaled LAN ones."""


def _scale_device(i: int, ip: ipaddress.IPv4Address, segment: spec.Segment = "lan",
                  fragile: bool = False) -> DeviceSpec:
    maker, ouis, covered = _SCALE_VENDORS[i % len(_SCALE_VENDORS)]
    oui = ouis[(i // len(_SCALE_VENDORS)) % len(ouis)]
    n = i + (SPARSE_MAC_OFFSET if segment == "sparse" else 0)
    mac = f"{oui}:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"
    mac_scope = mac
    uuid = f"urn:uuid:5ca1e000-{n >> 16:04x}-4000-8000-{int(ip):012x}"
    name = f"{'sparse' if segment == 'sparse' else 'scale'}-{i:04d}"
    http: HttpService
    rtsp: RtspService
    extra: dict[str, Any] = {}
    if maker == "Hikvision":
        model = "DS-2CD2143G2-I"
        serial = f"{model}20220315AAWRJ{n:08d}"
        firmware = "V5.7.3 build 220112"
        extra["sadp"] = SadpService(
            device_type="IPC", description=model, serial=serial, firmware="V5.7.3build 220112",
        )
        http = HttpService(server="App-webs/", title="", realm="Hikvision",
                           paths={"/doc/page/login.asp": 200, "/ISAPI/System/deviceInfo": 401})
        rtsp = RtspService(server=None, realm="Hikvision")
        tcp: tuple[int, ...] = (8000,)
        manufacturer, onvif_name = "HIKVISION", f"HIKVISION%20{model}"
    elif maker == "Dahua":
        model = "IPC-HFW2431S-S-S2"
        serial = f"7J0{n:06d}PAZ{n % 97:02d}"
        firmware = "2.800.0000000.16.R, Build Date 2021-08-25"
        extra["dhip"] = DhipService(device_class="IPC", device_type=model, serial=serial,
                                    machine_name=serial, firmware="2.800.0000000.16.R")
        http = HttpService(server=None, title="WEB SERVICE", realm="Login to 7J0", upper_case_headers=True,
                           extra_headers={"P3P": "CP=CAO PSA OUR"}, paths={"/RPC2_Login": 200})
        rtsp = RtspService(server="Dahua Rtsp Server", realm="Login to 7J0")
        tcp = (37777,)
        manufacturer, onvif_name = "Dahua", "Dahua"
    elif maker == "Axis":
        model = "M2036-LE"
        serial = mac.replace(":", "").upper()
        firmware = "10.12.153"
        http = HttpService(server="Apache", title="AXIS", realm="AXIS_" + serial,
                           paths={"/axis-cgi/basicdeviceinfo.cgi": 200})
        rtsp = RtspService(server="AXIS Media Control", realm="AXIS_" + serial)
        tcp = ()
        manufacturer, onvif_name = "AXIS", f"AXIS%20{model}"
    else:
        model = "XNO-6080R"
        serial = f"ZNKJ7{n:07d}X"
        firmware = "2.21.02_20231110_R45"
        http = HttpService(server="nginx", title="Wisenet", realm="iPOLiS_" + mac.replace(":", "")[6:],
                           paths={"/stw-cgi/system.cgi": 401})
        rtsp = RtspService(server="Wisenet Media Server", realm="iPOLiS")
        tcp = ()
        manufacturer, onvif_name = "Hanwha Vision", "Hanwha%20Vision"
    scopes = (
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/Profile/Streaming",
        f"onvif://www.onvif.org/name/{onvif_name}",
        f"onvif://www.onvif.org/hardware/{model}",
        "onvif://www.onvif.org/location/city/hangzhou" if covered else "onvif://www.onvif.org/location/",
        f"onvif://www.onvif.org/MAC/{mac_scope}",
    )
    if fragile:  # an old camera: its embedded web server closes after every reply
        http = dataclasses.replace(http, keep_alive=False)
    services = Services(
        wsd=WsdService(endpoint=uuid, scopes=scopes),
        onvif=OnvifService(manufacturer=manufacturer, model=model, firmware=firmware, serial=serial,
                           hardware_id="88", hostname=name, password="Lab-passw0rd"),
        http=http,
        rtsp=rtsp,
        tcp_ports=tcp,
        **extra,
    )
    return DeviceSpec(
        name=name, segment=segment, ip=str(ip), mac=mac,
        truth=Truth(maker=maker, covered=covered, device_class="camera", brand=maker),
        services=services, fragile=Fragile() if fragile else None,
        note=f"generic {'fragile ' if fragile else ''}camera added by --{'sparse' if segment == 'sparse' else 'scale'}",
    )


DEMO_SCALE_LIMIT = 991
"""``scale_limit`` of the shipped demo fleet, for the commands' help (a test keeps them equal)."""


def scale_limit(fleet: Fleet) -> int:
    """How many generic cameras ``fleet`` can take: the LAN bridge's free ports, the LAN's free addresses."""
    lan_ports = sum(1 for d in fleet.devices if d.segment == "lan") + 2  # + scanner and router
    return min(MAX_SCALE, BRIDGE_MAX_PORTS - lan_ports)


def sparse_address(i: int, n: int) -> ipaddress.IPv4Address:
    """The ``i``-th of ``n`` sparse cameras: spread evenly over ``topology.SPARSE``, never its first
    two addresses (network, router) nor its last (broadcast), nor a .0 or .255 (so a scan of the
    /24 around each still holds it)."""
    usable = topology.SPARSE.num_addresses - 3
    ip = topology.SPARSE.network_address + 2 + (i * usable) // max(1, n)
    last = int(ip) & 0xFF
    return ip + 1 if last == 0 else ip - 1 if last == 255 else ip


def _is_fragile(i: int, every: int) -> bool:
    return every > 0 and i % every == every - 1


def scaled_fleet(fleet: Fleet, n: int, *, sparse: int = 0, fragile_every: int = 0) -> Fleet:
    """``fleet`` plus ``n`` generic cameras on consecutive IPs from ``topology.SCALE_BASE`` and
    ``sparse`` more spread over ``topology.SPARSE``; with ``fragile_every`` K, every K-th camera
    of each group is fragile (``spec.Fragile``)."""
    limit = scale_limit(fleet)
    if n < 0 or n > limit:
        raise OperatorError(f"--scale must be between 0 and {limit} (one Linux bridge holds {BRIDGE_MAX_PORTS} "
                            f"ports), got {n}")
    sparse_limit = BRIDGE_MAX_PORTS - 1 - sum(1 for d in fleet.devices if d.segment == "sparse")
    if sparse < 0 or sparse > sparse_limit:
        raise OperatorError(f"--sparse must be between 0 and {sparse_limit} (one Linux bridge holds "
                            f"{BRIDGE_MAX_PORTS} ports), got {sparse}")
    if fragile_every < 0:
        raise OperatorError(f"--fragile-every must be 0 (none) or positive, got {fragile_every}")
    if n == 0 and sparse == 0:
        return fleet
    taken_ips = {d.ip for d in fleet.devices}
    taken_macs = {d.mac for d in fleet.devices}
    added: list[DeviceSpec] = []
    planned = [(i, topology.SCALE_BASE + i, "lan") for i in range(n)]
    planned += [(i, sparse_address(i, sparse), "sparse") for i in range(sparse)]
    for i, ip, segment in planned:
        dev = _scale_device(i, ip, segment, _is_fragile(i, fragile_every))  # type: ignore[arg-type]
        if dev.ip in taken_ips or dev.mac in taken_macs:
            raise OperatorError(f"scaled device {dev.name} collides with the fleet ({dev.ip} / {dev.mac})")
        taken_ips.add(dev.ip)
        taken_macs.add(dev.mac)
        added.append(dev)
    return Fleet(site=fleet.site, devices=fleet.devices + tuple(added), extra=dict(fleet.extra))
