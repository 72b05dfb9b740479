"""A maker's identity API on an emulated device, with its login and lockout: Hikvision ISAPI, Dahua CGI,
Axis VAPIX, written as the real replies in tests/real are.

* ISAPI ``/ISAPI/System/deviceInfo``: the element set and order of a real NVR's reply
  (tests/real/data/isapi/hikvision_next-nvr.xml: ``<DeviceInfo version="2.0"
  xmlns="http://www.isapi.org/ver20/XMLSchema">``); ``/ISAPI/ContentMgmt/InputProxy/channels``:
  the channel list of a real DS-7608NXI-I2 (tests/real/data/recorder_channels/…-InputProxy-channels.json,
  published as xmltodict JSON: same elements, in XML again); ``…/channels/status``: the
  documented ``InputProxyChannelStatusList`` (``id``, ``sourceInputPortDescriptor``, ``online``,
  ``chanDetectResult``; no real capture was found, so the element set is the one ISAPI clients
  read); ``/ISAPI/Security/userCheck``: ``statusValue``/``statusString``, and on a refusal
  ``lockStatus``, ``unlockTime``, ``retryLoginTime``.
* Dahua ``magicBox.cgi`` (getSystemInfo as a real Lorex/Dahua NVR answers it: numeric
  ``deviceType``, the model in ``updateSerial``; getDeviceType ``type=``; getSoftwareVersion
  ``version=…,build:…``: tests/real/data/dahua) and ``configManager.cgi?action=getConfig&name=RemoteDevice``
  (the key layout of tests/real/data/recorder_channels/node-wms-nvr-dahua-RemoteDevice.txt: every
  slot's ``table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_<n>.<Key>=`` lines, CRLF,
  ``Address=192.168.0.0`` and ``Enable=false`` on an empty slot, ``Mac=ff:ff:ff:ff:ff:ff`` when the
  recorder does not know it, and the camera's password in clear, as real recorders send it).
* Axis ``param.cgi?action=list``: ``root.Brand.*`` and ``root.Properties.*`` lines as
  tests/real/data/axis shows them.

Logins are HTTP Digest against the challenge the device's web server sends
(``http._challenge``: its realm and nonce), checked with the account's password. Each failed
login counts against the account; past ``lockout_after`` it is locked for the lab's lifetime and
answers as the maker's firmware does when locked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qs

from ..spec import ChannelSpec, VendorApiService
from .runtime import DeviceRuntime

ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
HIK_NS = "http://www.hikvision.com/ver20/XMLSchema"
ISAPI_PATHS = ("/ISAPI/System/deviceInfo", "/ISAPI/ContentMgmt/InputProxy/channels",
               "/ISAPI/ContentMgmt/InputProxy/channels/status", "/ISAPI/Security/userCheck")
DAHUA_PATHS = ("/cgi-bin/magicBox.cgi", "/cgi-bin/configManager.cgi")
VAPIX_PATHS = ("/axis-cgi/param.cgi",)
LOCKED_UNLOCK_S = 1800

_PARAM = re.compile(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def serves(api: VendorApiService, path: str) -> bool:
    return path in {"isapi": ISAPI_PATHS, "dahua": DAHUA_PATHS, "vapix": VAPIX_PATHS}[api.style]


def _digest_params(header: str) -> dict[str, str]:
    if not header.lower().startswith("digest "):
        return {}
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) or ""
            for m in _PARAM.finditer(header[7:])}


def check_digest(header: str, method: str, passwords: dict[str, str], realm: str,
                 nonce: str) -> tuple[str | None, bool]:
    """(username, valid) of a Digest ``Authorization`` header; (None, False) when there is none."""
    p = _digest_params(header)
    user = p.get("username")
    if not user:
        return None, False
    password = passwords.get(user)
    if password is None or p.get("realm") != realm or p.get("nonce") != nonce:
        return user, False
    algorithm = (p.get("algorithm") or "MD5").upper()
    h = hashlib.sha256 if algorithm.startswith("SHA-256") else hashlib.md5

    def hx(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = hx(f"{user}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = hx(f"{ha1}:{nonce}:{p.get('cnonce', '')}")
    ha2 = hx(f"{method}:{p.get('uri', '')}")
    if p.get("qop"):
        expected = hx(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
    else:
        expected = hx(f"{ha1}:{nonce}:{ha2}")
    return user, hmac.compare_digest(expected, p.get("response", ""))


def login(dev: DeviceRuntime, api: VendorApiService, header: str, method: str, realm: str,
          nonce: str) -> tuple[str, str | None]:
    """``ok`` | ``none`` (no credentials sent) | ``refused`` | ``locked``, and the user named."""
    user, valid = check_digest(header, method, api.accounts, realm, nonce)
    if user is None:
        return "none", None
    if user in dev.locked:
        return "locked", user
    if valid:
        return "ok", user
    dev.failed_logins[user] = dev.failed_logins.get(user, 0) + 1
    if api.lockout_after is not None and dev.failed_logins[user] >= api.lockout_after:
        dev.lock(user)
    return "refused", user


# ---------------------------------------------------------------- refusals, as each maker writes them


def refusal_body(dev: DeviceRuntime, api: VendorApiService, path: str, user: str | None, locked: bool) -> bytes:
    """The body of a 401 (or a locked account's reply)."""
    if api.style == "isapi":
        if path == "/ISAPI/Security/userCheck" or locked:
            left = 0 if locked else max(0, (api.lockout_after or 7) - dev.failed_logins.get(user or "", 0))
            return (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<userCheck version="2.0" xmlns="{HIK_NS}">\r\n'
                    f"<statusValue>401</statusValue>\r\n<statusString>Unauthorized</statusString>\r\n"
                    f"<lockStatus>{'lock' if locked else 'unlock'}</lockStatus>\r\n"
                    f"<unlockTime>{LOCKED_UNLOCK_S if locked else 0}</unlockTime>\r\n"
                    f"<retryLoginTime>{left}</retryLoginTime>\r\n</userCheck>\r\n").encode()
        return (b"<!DOCTYPE html>\n<html><head><title>Document Error: Unauthorized</title></head>\n<body><h2>Access "
                b"Error: 401 -- Unauthorized</h2>\n<p>Authentication Error</p>\n</body>\n</html>\n")
    if api.style == "dahua":
        return b"Error\r\nUser locked\r\n" if locked else b"Error\r\nInvalid Authority!\r\n"
    return (b"<HTML><HEAD><TITLE>401 Unauthorized</TITLE></HEAD><BODY><H1>401 Unauthorized</H1>"
            + (b"Account locked" if locked else b"Your client does not have permission") + b"</BODY></HTML>\n")


# ---------------------------------------------------------------- Hikvision ISAPI


def _x(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def isapi_device_info(dev: DeviceRuntime, api: VendorApiService) -> bytes:
    name = api.device_name or ("nvr" if api.device_type == "NVR" else "IP CAMERA")
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<DeviceInfo version="2.0"\n  xmlns="{ISAPI_NS}">\n'
            f"  <deviceName>{_x(name)}</deviceName>\n"
            f"  <deviceID>484a3831-3130-0000-0000-{dev.spec.mac.replace(':', '')}</deviceID>\n"
            f"  <model>{_x(api.model)}</model>\n  <serialNumber>{_x(api.serial)}</serialNumber>\n"
            f"  <macAddress>{dev.spec.mac}</macAddress>\n  <firmwareVersion>{_x(api.firmware)}</firmwareVersion>\n"
            f"  <firmwareReleasedDate>{_x(api.firmware_date)}</firmwareReleasedDate>\n"
            f"  <encoderVersion>V5.0</encoderVersion>\n  <encoderReleasedDate>build 230530</encoderReleasedDate>\n"
            f"  <deviceType>{_x(api.device_type)}</deviceType>\n  <telecontrolID>255</telecontrolID>\n"
            f"  <hardwareVersion>0100000092010000</hardwareVersion>\n</DeviceInfo>\n").encode()


def _descriptor(ch: ChannelSpec, full: bool) -> str:
    parts = [f"<proxyProtocol>{_x(ch.protocol)}</proxyProtocol>",
             "<addressingFormatType>ipaddress</addressingFormatType>",
             f"<ipAddress>{_x(ch.address or '')}</ipAddress>", f"<managePortNo>{ch.port}</managePortNo>",
             "<srcInputPort>1</srcInputPort>", "<userName>admin</userName>"]
    if full:
        parts += ["<connMode>plugplay</connMode>", "<streamType>auto</streamType>"]
        if ch.model:
            parts += [f"<model>{_x(ch.model)}</model>"]
        if ch.serial:
            parts += [f"<serialNumber>{_x(ch.serial)}</serialNumber>"]
        if ch.firmware:
            parts += [f"<firmwareVersion>{_x(ch.firmware)}</firmwareVersion>"]
    else:
        parts += ["<streamType>auto</streamType>"]
    parts.append("<deviceID></deviceID>")
    return "<sourceInputPortDescriptor>\n" + "\n".join(parts) + "\n</sourceInputPortDescriptor>"


def isapi_channels(api: VendorApiService) -> bytes:
    """The configured channels only (a real InputProxyChannelList lists no empty slot)."""
    used = [c for c in api.channels if c.address]
    items = "".join(
        f"<InputProxyChannel>\n<id>{c.channel}</id>\n<name>{_x(c.name or f'Camera {c.channel:02d}')}</name>\n"
        f"{_descriptor(c, True)}\n<certificateValidationEnabled>false</certificateValidationEnabled>\n"
        f"<defaultAdminPortEnabled>true</defaultAdminPortEnabled>\n<enableAnr>false</enableAnr>\n"
        f"<enableTiming>true</enableTiming>\n<devIndex>{hashlib.md5(c.serial.encode()).hexdigest().upper()}"
        f"</devIndex>\n</InputProxyChannel>\n" for c in used)
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<InputProxyChannelList version="2.0" xmlns="{ISAPI_NS}" '
            f'size="{len(used)}">\n{items}</InputProxyChannelList>\n').encode()


def isapi_channel_status(api: VendorApiService) -> bytes:
    used = [c for c in api.channels if c.address]
    items = "".join(
        f"<InputProxyChannelStatus>\n<id>{c.channel}</id>\n{_descriptor(c, False)}\n"
        f"<online>{'true' if c.online else 'false'}</online>\n"
        f"<chanDetectResult>{'connect' if c.online else 'offline'}</chanDetectResult>\n</InputProxyChannelStatus>\n"
        for c in used)
    return (f'<?xml version="1.0" encoding="UTF-8" ?>\n<InputProxyChannelStatusList version="2.0" '
            f'xmlns="{ISAPI_NS}">\n{items}</InputProxyChannelStatusList>\n').encode()


def isapi_user_check() -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<userCheck version="2.0" xmlns="{HIK_NS}">\r\n'
            "<statusValue>200</statusValue>\r\n<statusString>OK</statusString>\r\n</userCheck>\r\n").encode()


# ---------------------------------------------------------------- Dahua CGI


def _crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def dahua_reply(api: VendorApiService, path: str, query: str) -> bytes | None:
    args = parse_qs(query)
    action = (args.get("action") or [""])[0]
    recorder = api.device_type.isdigit()  # Dahua recorders report a number (tests/real lorex-nvr: 31)
    if path == "/cgi-bin/magicBox.cgi":
        if action == "getSystemInfo":
            info = [f"deviceType={api.device_type}", "processor=ST7108" if recorder else "processor=SSC339",
                    f"serialNumber={api.serial}", f"updateSerial={api.model}"]
            if not recorder:
                info = ["appAutoStart=true", *info[:1], "hardwareVersion=1.00", *info[1:]]
            return _crlf(info)
        if action == "getDeviceType":
            return _crlf([f"type={api.model}"])
        if action == "getSoftwareVersion":
            return _crlf([f"version={api.firmware},build:{api.firmware_date or '2021-03-31'}"])
        if action == "getSerialNo":
            return _crlf([f"sn={api.serial}"])
        return None
    name = (args.get("name") or [""])[0]
    if path == "/cgi-bin/configManager.cgi" and action == "getConfig" and name == "RemoteDevice":
        lines: list[str] = []
        for n, ch in enumerate(api.channels):
            key = f"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{n}"
            empty = not ch.address
            values = {
                "Address": ch.address or "192.168.0.0", "DeviceType": ch.model, "Enable": "false" if empty else "true",
                "HttpPort": "80", "Mac": ch.mac or "ff:ff:ff:ff:ff:ff", "Name": ch.name,
                "Password": "Lab-Channel-Secret1", "Port": str(ch.port), "ProtocolType": ch.protocol,
                "RtspPort": "554", "SerialNo": ch.serial, "UserName": "admin",
                "Vendor": ch.vendor or ch.protocol, "Version": ch.firmware,
                "VideoInputs[0].ExtraStreamUrl": "", "VideoInputs[0].MainStreamUrl": "",
                "VideoInputs[0].Name": ch.name, "VideoInputs[0].ServiceType": "AUTO",
            }
            lines += [f"{key}.{k}={v}" for k, v in values.items() if not (k in ("SerialNo", "Version") and not v)]
        return _crlf(lines)
    return None


# ---------------------------------------------------------------- Axis VAPIX


def vapix_params(api: VendorApiService, query: str) -> bytes | None:
    args = parse_qs(query)
    if (args.get("action") or [""])[0] != "list":
        return None
    groups = ",".join(args.get("group") or ["root"]).split(",")
    brand = ["root.Brand.Brand=AXIS", f"root.Brand.ProdFullName=AXIS {api.model} Network Camera",
             f"root.Brand.ProdNbr={api.model}", f"root.Brand.ProdShortName=AXIS {api.model}",
             "root.Brand.ProdType=Network Camera", "root.Brand.ProdVariant=", "root.Brand.WebURL=http://www.axis.com"]
    props = ["root.Properties.API.HTTP.Version=3", "root.Properties.Firmware.BuildDate=Mar 14 2013 11:46",
             f"root.Properties.Firmware.Version={api.firmware}", "root.Properties.Image.Format=jpeg,mjpeg,h264",
             "root.Properties.System.HardwareID=1A5", f"root.Properties.System.SerialNumber={api.serial}"]
    out = [line for line in [*brand, *props]
           if any(line.startswith(g if g.startswith("root") else f"root.{g}") for g in groups)]
    return ("\n".join(out) + "\n").encode() if out else None
