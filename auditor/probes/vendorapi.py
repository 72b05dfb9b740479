"""Makers' own identity APIs: pure parsers of what Hikvision, Dahua and Axis firmware answer.

Every function here takes the body of one reply (bytes, hostile, capped) and returns
plain records; none opens a socket. The HTTP probe calls the unauthenticated ones
(ISAPI ``deviceInfo`` where old firmware serves it, Axis ``basicdeviceinfo.cgi``
``getAllUnrestrictedProperties``); a credentialed reader calls the others with the same
functions (issue 12):

* ``GET /ISAPI/System/deviceInfo`` → :func:`parse_isapi_device_info` → :class:`VendorIdentity`
* ``POST /axis-cgi/basicdeviceinfo.cgi`` → :func:`parse_axis_basicdeviceinfo` → :class:`VendorIdentity`
* ``GET /axis-cgi/param.cgi?action=list&group=…`` → :func:`parse_axis_params`, then
  :func:`axis_param_identity` → :class:`VendorIdentity`
* ``GET /cgi-bin/magicBox.cgi?action=getSystemInfo`` (and getDeviceType, getSoftwareVersion,
  getSerialNo…) → :func:`parse_dahua_table`, then :func:`dahua_magicbox_identity` → :class:`VendorIdentity`
* ``GET /ISAPI/ContentMgmt/InputProxy/channels`` → :func:`parse_isapi_channels` → list of :class:`RecorderChannel`
* ``GET /cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice`` →
  :func:`parse_dahua_remote_devices` → list of :class:`RecorderChannel`
* any of them by name: :func:`parse_identity` (``api``, body) → :class:`VendorIdentity`

Each parser raises :class:`VendorReplyError` (a ``ValueError``) when the body is not
that API's reply at all (an HTML login page, a refused XML, JSON of another shape),
so a caller can tell "not this API" from "this API, with nothing in it". Values are
cleaned (:mod:`auditor.text`), MACs normalised (:mod:`auditor.mac`); nothing is
interpreted (who made the device is identification's business).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..mac import normalise_mac
from ..text import clean_or_none, clean_text
from ..xmlsafe import UnsafeXML, local, parse_xml

MAX_BODY = 256 * 1024
"""Largest reply body a parser reads (a recorder's channel list is a few tens of KB)."""
MAX_LINES = 20_000
"""Most key=value lines read from a Dahua or Axis table."""
MAX_CHANNELS = 512
"""Most recorder channels returned (the largest recorders have 256)."""

ISAPI_DEVICE_INFO = "isapi-device-info"
ISAPI_CHANNELS = "isapi-channels"
AXIS_BASICDEVICEINFO = "axis-basicdeviceinfo"
AXIS_PARAM = "axis-param"
DAHUA_MAGICBOX = "dahua-magicbox"
DAHUA_REMOTE_DEVICE = "dahua-remote-device"
APIS: tuple[str, ...] = (ISAPI_DEVICE_INFO, ISAPI_CHANNELS, AXIS_BASICDEVICEINFO, AXIS_PARAM, DAHUA_MAGICBOX,
                         DAHUA_REMOTE_DEVICE)
"""The ``api`` names a :class:`VendorIdentity` carries (the knowledge base's ``vendor_api`` signatures match them)."""

AXIS_UNRESTRICTED_REQUEST = b'{"apiVersion":"1.0","method":"getAllUnrestrictedProperties"}'
"""The body of the ``basicdeviceinfo.cgi`` request Axis firmware answers without credentials."""


_SERIALISH = re.compile(r"[0-9A-Za-z]{4}")


class VendorReplyError(ValueError):
    """The body is not a reply of the API the parser reads (the message says why, briefly)."""


@dataclass(frozen=True)
class VendorIdentity:
    """What a maker's identity API says about the device itself (absent values are None)."""

    api: str
    """Which API answered: one of :data:`APIS`."""
    brand: str | None = None
    """The brand the firmware declares (Axis ``Brand``)."""
    device_name: str | None = None
    """Free-text name or full product name (ISAPI ``deviceName``, Axis ``ProdFullName``)."""
    model: str | None = None
    """The model as sold (ISAPI ``model``, Axis ``ProdNbr``, Dahua ``deviceType`` unless a bare number)."""
    model_code: str | None = None
    """The maker's internal model or board code when it differs from ``model`` (Dahua ``updateSerial``)."""
    device_type: str | None = None
    """The kind of device in the firmware's words (ISAPI ``deviceType``, Axis ``ProdType``, Dahua numeric type)."""
    serial: str | None = None
    firmware: str | None = None
    firmware_date: str | None = None
    mac: str | None = None
    """The MAC the device reports for itself, normalised."""
    hardware_id: str | None = None
    video: bool | None = None
    """The firmware declares video sources (True) or a full capability list without any (False)."""
    channels: int | None = None
    """Camera channels a recorder's channel list holds (configured ones)."""

    def __post_init__(self) -> None:
        # A placeholder a publisher or firmware left ("...", "-", "N/A") is no serial: it would fold
        # unrelated devices together.
        if self.serial is not None and not _SERIALISH.search(self.serial):
            object.__setattr__(self, "serial", None)

    def fields(self) -> dict[str, Any]:
        """The non-empty values, as the HTTP probe's ``device_info`` record (docs/observations.md)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


@dataclass(frozen=True)
class RecorderChannel:
    """One camera channel of a recorder, as the recorder reports it (issue 12 makes these devices)."""

    channel: int
    """The recorder's channel number, 1-based as its web UI shows it."""
    enabled: bool | None = None
    name: str | None = None
    address: str | None = None
    port: int | None = None
    protocol: str | None = None
    """How the recorder talks to the camera: ``HIKVISION``, ``ONVIF``, ``Dahua2``, ``Private``…"""
    vendor: str | None = None
    """The maker the recorder names for the camera (Dahua ``Vendor``), if any."""
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    mac: str | None = None
    online: bool | None = None
    """Whether the recorder reaches the camera now (ISAPI ``channels/status`` ``online``); None: not said."""
    state: str | None = None
    """The recorder's word for the channel's state (ISAPI ``chanDetectResult``: ``connect``, ``offline``…)."""

    @property
    def empty(self) -> bool:
        """A slot with no camera configured (no address, model or serial)."""
        return not (self.address or self.model or self.serial)


# ---------------------------------------------------------------- helpers


def _text(value: Any) -> str | None:
    return clean_or_none(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _body(data: bytes) -> bytes:
    if len(data) > MAX_BODY:
        raise VendorReplyError(f"reply of {len(data)} bytes exceeds the {MAX_BODY}-byte cap")
    return data


def _decode(data: bytes) -> str:
    text = _body(data).decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def _int(value: Any) -> int | None:
    text = clean_text(value, 12)
    return int(text) if text.isdigit() else None


def _bool(value: Any) -> bool | None:
    text = clean_text(value, 8).lower()
    return True if text == "true" else False if text == "false" else None


# ---------------------------------------------------------------- Hikvision ISAPI

_ISAPI_IDENTITY = {
    "deviceName": "device_name",
    "model": "model",
    "serialNumber": "serial",
    "firmwareVersion": "firmware",
    "firmwareReleasedDate": "firmware_date",
    "macAddress": "mac",
    "deviceType": "device_type",
    "hardwareVersion": "hardware_id",
}


def parse_isapi_device_info(data: bytes) -> VendorIdentity:
    """``<DeviceInfo>`` of ``/ISAPI/System/deviceInfo`` (any of the ISAPI namespaces, or none).

    Raises :class:`VendorReplyError` for another document, ``UnsafeXML`` for a hostile or malformed one.
    """
    root = parse_xml(_body(data), max_bytes=MAX_BODY)
    if local(root.tag) != "DeviceInfo":
        raise VendorReplyError(f"not an ISAPI DeviceInfo (root <{local(root.tag)[:40]}>)")
    values: dict[str, Any] = {}
    for child in root:
        key = _ISAPI_IDENTITY.get(local(child.tag))
        if key and key not in values and (text := clean_or_none(child.text)):
            values[key] = text
    if "mac" in values:
        values["mac"] = normalise_mac(values["mac"])
    return VendorIdentity(api=ISAPI_DEVICE_INFO, **values)


def _child_text(elem: Any, name: str) -> str | None:
    for child in elem:
        if local(child.tag) == name:
            return clean_or_none(child.text)
    return None


def _child(elem: Any, name: str) -> Any:
    return next((c for c in elem if local(c.tag) == name), None)


def parse_isapi_channels(data: bytes) -> list[RecorderChannel]:
    """``<InputProxyChannelList>`` of ``/ISAPI/ContentMgmt/InputProxy/channels``: the recorder's IP cameras."""
    root = parse_xml(_body(data), max_bytes=MAX_BODY)
    if local(root.tag) != "InputProxyChannelList":
        raise VendorReplyError(f"not an ISAPI InputProxyChannelList (root <{local(root.tag)[:40]}>)")
    out: list[RecorderChannel] = []
    for elem in root:
        if local(elem.tag) != "InputProxyChannel" or len(out) >= MAX_CHANNELS:
            continue
        number = _int(_child_text(elem, "id"))
        if number is None:
            continue
        source = _child(elem, "sourceInputPortDescriptor")
        src: dict[str, str | None] = {} if source is None else {local(c.tag): clean_or_none(c.text) for c in source}
        out.append(RecorderChannel(
            channel=number, name=_child_text(elem, "name"), address=src.get("ipAddress") or src.get("hostName"),
            port=_int(src.get("managePortNo")), protocol=src.get("proxyProtocol"), model=src.get("model"),
            serial=src.get("serialNumber"), firmware=src.get("firmwareVersion"),
        ))
    return out


def parse_isapi_channel_status(data: bytes) -> dict[int, tuple[bool | None, str | None]]:
    """``<InputProxyChannelStatusList>`` of ``/ISAPI/ContentMgmt/InputProxy/channels/status``:
    channel → (online, chanDetectResult). A channel without ``<online>`` is not said to be offline."""
    root = parse_xml(_body(data), max_bytes=MAX_BODY)
    if local(root.tag) != "InputProxyChannelStatusList":
        raise VendorReplyError(f"not an ISAPI InputProxyChannelStatusList (root <{local(root.tag)[:40]}>)")
    out: dict[int, tuple[bool | None, str | None]] = {}
    for elem in root:
        if local(elem.tag) != "InputProxyChannelStatus" or len(out) >= MAX_CHANNELS:
            continue
        number = _int(_child_text(elem, "id"))
        if number is not None:
            out[number] = (_bool(_child_text(elem, "online")), _child_text(elem, "chanDetectResult"))
    return out


def with_status(channels: list[RecorderChannel],
                status: dict[int, tuple[bool | None, str | None]]) -> list[RecorderChannel]:
    """The channel list with each channel's online state from ``channels/status`` filled in."""
    return [replace(c, online=status[c.channel][0], state=status[c.channel][1]) if c.channel in status else c
            for c in channels]


# ---------------------------------------------------------------- Axis VAPIX

_AXIS_PROPERTIES = {
    "Brand": "brand", "ProdFullName": "device_name", "ProdNbr": "model", "ProdType": "device_type",
    "SerialNumber": "serial", "Version": "firmware", "BuildDate": "firmware_date", "HardwareID": "hardware_id",
}


def parse_axis_basicdeviceinfo(data: bytes) -> VendorIdentity:
    """The JSON ``basicdeviceinfo.cgi`` answers (``getAllProperties`` or ``getAllUnrestrictedProperties``).

    Axis serial numbers are the unit's MAC (see seeds/vendors/makers.yaml); this parser
    reports the serial as given and leaves that reading to identification.
    """
    try:
        doc = json.loads(_decode(data))
    except (ValueError, RecursionError) as exc:
        raise VendorReplyError(f"not JSON: {str(exc)[:80]}") from None
    props = doc.get("data", {}).get("propertyList") if isinstance(doc, dict) and isinstance(
        doc.get("data"), dict) else None
    if not isinstance(props, dict):
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict):
            raise VendorReplyError(f"basicdeviceinfo error {clean_text(error.get('code'), 12)}: "
                                   f"{clean_text(error.get('message'), 80)}")
        raise VendorReplyError("no data.propertyList in the reply")
    values: dict[str, Any] = {key: text for name, key in _AXIS_PROPERTIES.items() if (text := _text(props.get(name)))}
    return VendorIdentity(api=AXIS_BASICDEVICEINFO, **values)


def parse_axis_params(data: bytes) -> dict[str, str]:
    """``root.Group.Name=value`` lines of ``param.cgi?action=list`` → {``Group.Name``: value}."""
    text = _decode(data)
    out: dict[str, str] = {}
    for line in text.splitlines()[:MAX_LINES]:
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.startswith("root.") or len(key) > 200:
            continue
        out[key[5:]] = clean_text(value)
    if not out:
        raise VendorReplyError("no root.<group>=<value> line: not a param.cgi listing")
    return out


def axis_param_identity(params: dict[str, str]) -> VendorIdentity:
    """The identity a ``param.cgi`` listing holds (groups ``Brand`` and ``Properties``)."""
    def get(*keys: str) -> str | None:
        return next((v for k in keys if (v := params.get(k))), None)

    video: bool | None = None
    if any(k.startswith("Properties.") for k in params):
        # Every Axis video product lists its image formats; a full Properties listing without
        # an Image group is a device without video (I/O modules, door controllers, audio).
        video = any(k.startswith(("Properties.Image.", "ImageSource.")) for k in params) or None
        if video is None and "Properties.System.SerialNumber" in params:
            video = False
    return VendorIdentity(
        api=AXIS_PARAM, brand=get("Brand.Brand"), device_name=get("Brand.ProdFullName"),
        model=get("Brand.ProdNbr"), device_type=get("Brand.ProdType"),
        serial=get("Properties.System.SerialNumber"), firmware=get("Properties.Firmware.Version"),
        firmware_date=get("Properties.Firmware.BuildDate"), hardware_id=get("Properties.System.HardwareID"),
        video=video,
    )


# ---------------------------------------------------------------- Dahua CGI

_TABLE_LINE = re.compile(r"^([A-Za-z][\w.\[\]:-]{0,200})=(.*)$")


def parse_dahua_table(data: bytes) -> dict[str, str]:
    """Dahua CGI ``key=value`` lines (magicBox, configManager) → {key: value}; first value wins."""
    text = _decode(data)
    out: dict[str, str] = {}
    for line in text.splitlines()[:MAX_LINES]:
        m = _TABLE_LINE.match(line.strip())
        if m and m.group(1) not in out:
            out[m.group(1)] = clean_text(m.group(2))
    if not out:
        raise VendorReplyError("no key=value line: not a Dahua CGI reply")
    return out


_DAHUA_BUILD = re.compile(r"^(?P<version>[^,\s]+)\s*(?:,\s*build\s*:\s*(?P<date>[\d-]+))?", re.IGNORECASE)


def dahua_magicbox_identity(table: dict[str, str]) -> VendorIdentity:
    """The identity in one or more ``magicBox.cgi`` replies (getSystemInfo, getDeviceType,
    getSoftwareVersion, getSerialNo, getMachineName, merged into one table).

    ``deviceType`` is the model on most firmware, a bare number on some recorders (then the
    model is in ``updateSerial``); ``getDeviceType`` answers ``type=``.
    """
    device_type = table.get("deviceType") or None
    model = table.get("type") or (device_type if device_type and not device_type.isdigit() else None)
    update_serial = table.get("updateSerial") or None
    if model is None:
        model, update_serial = update_serial, None
    firmware = firmware_date = None
    if version := table.get("version"):
        m = _DAHUA_BUILD.match(version)
        if m:
            firmware, firmware_date = m.group("version"), m.group("date")
    return VendorIdentity(
        api=DAHUA_MAGICBOX, device_name=table.get("name") or table.get("machineName") or None, model=model,
        model_code=update_serial if update_serial != model else None,
        device_type=device_type if device_type and device_type.isdigit() else None,
        serial=table.get("serialNumber") or table.get("sn") or None, firmware=firmware, firmware_date=firmware_date,
        hardware_id=table.get("hardwareVersion") or None,
    )


_REMOTE_KEY = re.compile(r"^table\.RemoteDevice\.(?:uuid:)?System_CONFIG_NETCAMERA_INFO_(\d{1,4})\.(\w+)$")


def parse_dahua_remote_devices(data: bytes) -> list[RecorderChannel]:
    """``configManager.cgi?action=getConfig&name=RemoteDevice``: the recorder's IP cameras.

    Slots are 0-based (``INFO_0`` is channel 1). Passwords in the reply are never read.
    A placeholder MAC (``ff:ff:ff:ff:ff:ff``) or address (``192.168.0.0`` on a disabled
    slot) is left out.
    """
    table = parse_dahua_table(data)
    slots: dict[int, dict[str, str]] = {}
    for key, value in table.items():
        m = _REMOTE_KEY.match(key)
        if m is None or m.group(2) == "Password":
            continue
        slots.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if not slots and not any(k.startswith("table.RemoteDevice") for k in table):
        raise VendorReplyError("no table.RemoteDevice line: not a RemoteDevice configuration")
    out: list[RecorderChannel] = []
    for slot in sorted(slots)[:MAX_CHANNELS]:
        values = slots[slot]
        enabled = _bool(values.get("Enable"))
        address = values.get("Address") or None
        if enabled is False and address in ("192.168.0.0", "0.0.0.0"):
            address = None
        out.append(RecorderChannel(
            channel=slot + 1, enabled=enabled, name=values.get("Name") or None, address=address,
            port=_int(values.get("Port")), protocol=values.get("ProtocolType") or None,
            vendor=values.get("Vendor") or None, model=values.get("DeviceType") or None,
            serial=values.get("SerialNo") or None, firmware=values.get("Version") or None,
            mac=normalise_mac(values.get("Mac")),
        ))
    return out


# ---------------------------------------------------------------- one entry point per API


def parse_identity(api: str, data: bytes) -> VendorIdentity:
    """The identity in the reply of ``api`` (a device-level API of :data:`APIS`).

    Raises :class:`VendorReplyError` / ``UnsafeXML`` (both ``ValueError``) for a reply that is not that API's.
    """
    if api == ISAPI_DEVICE_INFO:
        return parse_isapi_device_info(data)
    if api == AXIS_BASICDEVICEINFO:
        return parse_axis_basicdeviceinfo(data)
    if api == AXIS_PARAM:
        return axis_param_identity(parse_axis_params(data))
    if api == DAHUA_MAGICBOX:
        return dahua_magicbox_identity(parse_dahua_table(data))
    if api == ISAPI_CHANNELS:
        return VendorIdentity(api=api, channels=sum(1 for c in parse_isapi_channels(data) if not c.empty))
    if api == DAHUA_REMOTE_DEVICE:
        return VendorIdentity(api=api, channels=sum(1 for c in parse_dahua_remote_devices(data) if not c.empty))
    raise ValueError(f"unknown vendor API {api!r}")


__all__ = [
    "APIS", "AXIS_UNRESTRICTED_REQUEST", "RecorderChannel", "UnsafeXML", "VendorIdentity", "VendorReplyError",
    "axis_param_identity", "dahua_magicbox_identity", "parse_axis_basicdeviceinfo", "parse_axis_params",
    "parse_dahua_remote_devices", "parse_dahua_table", "parse_identity", "parse_isapi_channel_status",
    "parse_isapi_channels", "parse_isapi_device_info", "with_status",
]
