"""The lab speaks like real firmware: each emulated reply against the real reply (tests/real) it imitates.

For every fleet device whose service imitates a maker's firmware (the specs' ``layout``,
``format``, ``style`` and ``challenge``), the lab's reply is built without a network and
compared with the real item: the same elements in the same order, the same JSON keys and
writing style, the same header names in the same order, and the same challenge form (the
realm's device-specific part aside). Both then go through the probe's own parser and must
give the same observation field names.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from real_corpus import load_manifest, message

from auditor.lab.devices import dhip as lab_dhip
from auditor.lab.devices import rtsp as lab_rtsp
from auditor.lab.devices import sadp as lab_sadp
from auditor.lab.devices import wire
from auditor.lab.devices import wsd as lab_wsd
from auditor.lab.devices.http import HttpListener
from auditor.lab.devices.runtime import DeviceRuntime
from auditor.lab.fleet import load_fleet
from auditor.probes import dhip, rtsp, sadp, wsdiscovery
from auditor.probes.challenge import challenge_form
from auditor.probes.http import parse_response

ITEMS = {i.id: i for i in load_manifest()}
FLEET = {d.name: DeviceRuntime(d) for d in load_fleet().devices}


def real(item_id: str) -> bytes:
    return message(ITEMS[item_id])


def _tags(xml: bytes) -> list[str]:
    return [re.sub(r"^\{[^}]*\}", "", e.tag) for e in ET.fromstring(xml).iter()]


def _keys(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    out = set()
    for k, v in value.items():
        out.add(prefix + k)
        out |= _keys(v, f"{prefix}{k}.")
    return out


# ---------------------------------------------------------------- SADP


@pytest.mark.parametrize(("device", "item"), [
    ("hik-cam-onvif", "sadp-hikvision-ds-2cd2385g1-i-haicam"),
    ("ezviz-cam", "sadp-ezviz-cs-c6tc-32wfr-itread01"),
])
def test_sadp_reply_is_the_real_firmwares(device: str, item: str) -> None:
    lab = lab_sadp.probe_match(FLEET[device], "E8ECFE09-90E4-44C0-842B-703F46B58C81").encode()
    theirs = real(item)
    assert lab.split(b"\n", 1)[0] == theirs.split(b"\n", 1)[0], "the XML declaration as the firmware writes it"
    assert _tags(lab) == _tags(theirs), "the same elements in the same order"
    assert set(sadp.parse_sadp_reply(lab)) == set(sadp.parse_sadp_reply(theirs))


# ---------------------------------------------------------------- DHIP


@pytest.mark.parametrize(("device", "item", "style"), [
    ("dahua-cam", "dhip-dahua-ipc-hdw1431t1-s4-haicam", "compact"),
    ("imou-localmac", "dhip-dahua-ipc-hdw5421s-amp", "spaced"),
])
def test_dhip_reply_is_the_real_firmwares(device: str, item: str, style: str) -> None:
    dev = FLEET[device]
    body = lab_dhip.encode(dev, lab_dhip.notify(dev, {}))
    theirs = real(item)
    their_body = theirs[32:]
    assert _keys(json.loads(body)) == _keys(json.loads(their_body))
    assert b"\\/" in body and b"\\/" in their_body, "Dahua escapes / in JSON strings"
    if style == "spaced":
        assert body.startswith(b'{ "mac" : ') and their_body.startswith(b'{ "mac" : ')
    else:
        assert body.startswith(b'{"mac":"') and their_body.startswith(b'{"mac":"')
    assert set(dhip.parse_dhip_reply(lab_dhip.frame(body))) == set(dhip.parse_dhip_reply(theirs))


# ---------------------------------------------------------------- WS-Discovery


def test_hikvision_probe_match_is_the_real_firmwares() -> None:
    lab = lab_wsd.probe_match(FLEET["hik-cam-onvif"], "uuid:a86f9421-b764-4256-8762-5ed0d8602a9c", 17).encode()
    theirs = real("wsd-hikvision-dfi6256te-edgex")
    assert _tags(lab) == _tags(theirs)
    prefixes = re.compile(rb"<(\w+):")
    assert sorted(set(prefixes.findall(lab))) == sorted(set(prefixes.findall(theirs))) == [b"d", b"env", b"wsadis"]
    assert b"mustUnderstand" not in lab
    (lab_fields,), (their_fields,) = wsdiscovery.parse_probe_match(lab), wsdiscovery.parse_probe_match(theirs)
    assert set(their_fields) <= set(lab_fields)


# ---------------------------------------------------------------- RTSP


def _rtsp(device: str, method: str) -> bytes:
    req = wire.Request(method=method, target=f"rtsp://{FLEET[device].ip}:554/", version="RTSP/1.0",
                       headers={"cseq": "2"}, body=b"")
    return lab_rtsp.respond(FLEET[device], req)


def _header_names(data: bytes) -> list[str]:
    return [k for k, _ in parse_response(data).headers]


def _form(data: bytes) -> str:
    """The challenge's form with the realm's device-specific part (id, serial) generalised."""
    form = challenge_form(parse_response(data).all("WWW-Authenticate")) or ""
    return re.sub(r"(IP Camera\(|Login to |AXIS_)[0-9A-Za-z]+", r"\1<id>", form)


@pytest.mark.parametrize(("device", "method", "item"), [
    ("hik-cam-onvif", "DESCRIBE", "rtsp-hikvision-ipcamera-c2875-describe-easydarwin"),
    ("hik-cam-onvif", "OPTIONS", "rtsp-hikvision-ipcamera-c2875-options-easydarwin"),
    ("axis-cam", "DESCRIBE", "rtsp-axis-kane610-describe-401"),
    ("axis-cam", "OPTIONS", "rtsp-axis-kane610-options-200"),
])
def test_rtsp_reply_is_the_real_firmwares(device: str, method: str, item: str) -> None:
    lab, theirs = _rtsp(device, method), real(item)
    assert _header_names(lab) == _header_names(theirs)
    assert _form(lab) == _form(theirs)
    if method == "OPTIONS":
        assert parse_response(lab).header("Public") == parse_response(theirs).header("Public")
        pair: tuple[Any, Any] = (parse_response(lab), None), (parse_response(theirs), None)
    else:
        pair = (None, parse_response(lab)), (None, parse_response(theirs))
    assert set(rtsp.summarize(*pair[0])) == set(rtsp.summarize(*pair[1]))
    if device == "hik-cam-onvif":
        assert re.search(rb"\r\nDate:  \w{3}, \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n", lab), \
            "Hikvision's own Date: two spaces, month before day"


@pytest.mark.parametrize(("device", "item"), [
    ("dahua-cam", "rtsp-realm-dahua-login-to-retina62"),
    ("hanwha-cam", "rtsp-realm-hanwha-ipolis-cameradar199"),
    ("hik-cam-noonvif", "rtsp-realm-hikvision-ipcamera-21388-sharprtsp"),
])
def test_rtsp_challenge_is_the_real_firmwares(device: str, item: str) -> None:
    assert _form(_rtsp(device, "DESCRIBE")) == _form(real(item))


def test_hanwha_and_dahua_401_headers_are_the_real_firmwares() -> None:
    # cameradar#199's 401: CSeq, Date, Expires, Cache-Control, WWW-Authenticate (no Server);
    # retina#62's Dahua 401: CSeq, WWW-Authenticate only.
    assert _header_names(_rtsp("hanwha-cam", "DESCRIBE")) == ["CSeq", "Date", "Expires", "Cache-Control",
                                                              "WWW-Authenticate"]
    assert _header_names(_rtsp("dahua-cam", "DESCRIBE")) == ["CSeq", "WWW-Authenticate"]


# ---------------------------------------------------------------- HTTP


def _http(device: str, path: str) -> bytes:
    dev = FLEET[device]
    listener = HttpListener(dev, dev.spec.services.http, onvif=False)
    status, headers, body = listener.respond(wire.Request(method="GET", target=path, version="HTTP/1.1",
                                                          headers={}, body=b""))
    return listener._render(status, headers, body, len(body))


def test_hikvision_web_challenge_builds_its_nonce_as_the_firmware_does() -> None:
    form = _form(_http("hik-cam-onvif", "/ISAPI/System/deviceInfo"))
    assert form == 'Digest qop="auth", realm="IP Camera(<id>)", nonce="{b64hex}", stale="FALSE"'


# ---------------------------------------------------------------- ONVIF


def test_hikvision_onvif_envelope_is_the_real_firmwares() -> None:
    from auditor.lab.devices import onvif_soap
    from auditor.probes import onvif

    dev = FLEET["hik-cam-onvif"]
    lab = onvif_soap.envelope(onvif_soap.get_device_information(dev), "hikvision").replace(onvif_soap.XXE, "")
    theirs = real("onvif-devinfo-hikvision-ds-2cd3t45p1-i-go-onvif").decode()
    decls = re.compile(r'xmlns:([\w-]+)="([^"]+)"')
    assert decls.findall(lab.split(">", 2)[1]) == decls.findall(theirs.split(">", 2)[1])
    lab_fields = onvif.interpret("GetDeviceInformation", onvif.parse_reply("GetDeviceInformation", lab.encode()))
    their_fields = onvif.interpret("GetDeviceInformation", onvif.parse_reply("GetDeviceInformation",
                                                                           theirs.encode()))
    assert set(lab_fields) == set(their_fields)


def test_axis_basic_device_info_is_the_real_firmwares_layout() -> None:
    from auditor.lab.devices.http import axis_basic_device_info
    from auditor.probes import vendorapi

    dev = FLEET["axis-cam"]
    lab = axis_basic_device_info(dev, vendorapi.AXIS_UNRESTRICTED_REQUEST)
    theirs = json.loads(real("axis-basicdeviceinfo-m1065-lw"))
    mine = json.loads(lab)
    assert set(mine["data"]["propertyList"]) <= set(theirs["data"]["propertyList"]), \
        "the unrestricted set is a subset of what a unit lists after login"
    assert mine["method"] == "getAllUnrestrictedProperties"
    assert set(vendorapi.parse_axis_basicdeviceinfo(lab).fields()) >= {"api", "brand", "model", "serial", "firmware"}
    refused = json.loads(axis_basic_device_info(dev, b'{"apiVersion":"1.0","method":"getAllProperties"}'))
    assert "error" in refused
