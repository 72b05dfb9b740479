"""Discovery responders (WS-Discovery, SADP, DHIP) over real UDP on 127.0.0.1, checked with
independent parsers (the wsdiscovery package, plain ElementTree/json), plus the hostile variants."""

from __future__ import annotations

import json
import socket
import struct
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from emulator_specs import HIK_MAC, HIK_SCOPES, discovery_fleet, hik_camera
from wsdiscovery.actions.probe import constructProbe
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage
from wsdiscovery.qname import QName

from auditor.lab.devices import dhip, sadp, wsd
from auditor.lab.devices.loopback import LoopbackLab
from auditor.xmlsafe import UnsafeXML, parse_xml

ONVIF_NET = "http://www.onvif.org/ver10/network/wsdl"


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackLab]:
    with LoopbackLab(discovery_fleet()) as running:
        yield running


def exchange(port: int, payload: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            return s.recvfrom(70000)[0]
        except TimeoutError:
            return None


def wsd_probe(types: list[QName] | None = None, scopes: list | None = None) -> tuple[bytes, str]:
    env = constructProbe(types or [], scopes or [])
    return createSOAPMessage(env).encode(), env.getMessageId()


def sadp_probe(kind: str = "inquiry") -> tuple[bytes, str]:
    u = str(uuid.uuid4()).upper()
    xml = f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{u}</Uuid><Types>{kind}</Types></Probe>'
    return xml.encode(), u


def dhip_search() -> bytes:
    body = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\r\n'
    return struct.pack("<I4sIIIIII", 32, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body


# ------------------------------------------------------------------ WS-Discovery


def test_typed_probe_gets_probe_match_parsed_by_wsdiscovery(lab: LoopbackLab) -> None:
    payload, msg_id = wsd_probe([QName(ONVIF_NET, "NetworkVideoTransmitter", "dn")])
    reply = exchange(lab.port("hik", wsd.PORT), payload)
    assert reply is not None
    env = parseSOAPMessage(reply, "127.0.0.1")
    assert env is not None and env.getRelatesTo() == msg_id
    (match,) = env.getProbeResolveMatches()
    assert match.getEPR() == "urn:uuid:3fa1fe68-b915-4053-a3e1-c056e31a2b3c"
    assert {t.getLocalname() for t in match.getTypes()} == {"NetworkVideoTransmitter", "Device"}
    assert [s.getValue() for s in match.getScopes()] == [unquote(s) for s in HIK_SCOPES]  # it URL-decodes
    assert match.getXAddrs() == [f"http://198.18.0.11:{lab.port('hik', 80)}/onvif/device_service"]
    assert match.getMetadataVersion() == "1"


def test_probe_match_envelope_is_soap12_with_addressing(lab: LoopbackLab) -> None:
    payload, msg_id = wsd_probe()
    reply = exchange(lab.port("hik", wsd.PORT), payload)
    assert reply is not None
    root = parse_xml(reply)
    assert root.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    a = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
    assert root.findtext(f".//{a}Action") == wsd.ACTION_MATCHES
    assert root.findtext(f".//{a}RelatesTo") == msg_id
    assert root.findtext(f".//{a}MessageID", "").startswith("urn:uuid:")


def test_probe_for_other_type_or_scope_is_ignored(lab: LoopbackLab) -> None:
    printer = QName("http://schemas.microsoft.com/windows/2006/08/wdp/print", "PrintDeviceType", "wprt")
    assert exchange(lab.port("hik", wsd.PORT), wsd_probe([printer])[0], timeout=0.3) is None
    assert wsd.matches(lab.devices["hik"], ["NetworkVideoTransmitter"], ["onvif://www.onvif.org/hardware"])
    assert not wsd.matches(lab.devices["hik"], [], ["onvif://www.onvif.org/hardware/OTHER"])


def test_non_probe_wsd_traffic_is_ignored(lab: LoopbackLab) -> None:
    payload, _ = wsd_probe()
    match = exchange(lab.port("hik", wsd.PORT), payload)
    assert match is not None
    assert exchange(lab.port("hik", wsd.PORT), match, timeout=0.3) is None  # a ProbeMatch is not a Probe
    assert exchange(lab.port("hik", wsd.PORT), b"\x00junk", timeout=0.3) is None


def test_xxe_wsd_reply_carries_external_entity(lab: LoopbackLab) -> None:
    reply = exchange(lab.port("xxe", wsd.PORT), wsd_probe()[0])
    assert reply is not None
    assert b'<!ENTITY xxe SYSTEM "file:///etc/passwd">' in reply and b"&xxe;" in reply
    with pytest.raises(UnsafeXML):
        parse_xml(reply)


def test_garbage_udp_answers_every_discovery_protocol_with_junk(lab: LoopbackLab) -> None:
    for port, payload in (
        (wsd.PORT, wsd_probe()[0]),
        (sadp.PORT, sadp_probe()[0]),
        (dhip.PORT, dhip_search()),
    ):
        reply = exchange(lab.port("garbage", port), payload)
        assert reply is not None and len(reply) >= 64
        if port == dhip.PORT:
            assert reply[4:8] == b"DHIP" and dhip.unframe(reply) is None  # header lies about its length
        else:
            with pytest.raises(UnsafeXML):
                parse_xml(reply)


def test_oversize_udp_replies_fill_a_datagram(lab: LoopbackLab) -> None:
    for port, payload in ((wsd.PORT, wsd_probe()[0]), (sadp.PORT, sadp_probe()[0]), (dhip.PORT, dhip_search())):
        reply = exchange(lab.port("big", port), payload)
        assert reply is not None and len(reply) > 60000


# ------------------------------------------------------------------ SADP


@pytest.mark.parametrize("kind", ["inquiry", "inquiry_v32"])
def test_sadp_probe_match_carries_real_fields(lab: LoopbackLab, kind: str) -> None:
    payload, u = sadp_probe(kind)
    reply = exchange(lab.port("hik", sadp.PORT), payload)
    assert reply is not None
    root = ET.fromstring(reply)
    assert root.tag == "ProbeMatch"
    f = {e.tag: e.text for e in root}
    assert f["Uuid"] == u and f["Types"] == "inquiry"
    assert f["DeviceDescription"] == "DS-2CD2143G2-I"
    assert f["DeviceSN"] == "DS-2CD2143G2-I20210315AAWRG12345678"
    assert f["MAC"] == HIK_MAC.replace(":", "-")
    assert f["IPv4Address"] == "198.18.0.11" and f["IPv4SubnetMask"] == "255.255.240.0"
    assert f["IPv4Gateway"] == "198.18.0.1"
    assert f["CommandPort"] == "8000" and f["HttpPort"] == "80"
    assert f["SoftwareVersion"] == "V5.7.3build 220112" and f["Activated"] == "true"
    # the element set of real V5.6+ firmware (tests/real sadp-hikvision-ds-2cd2385g1-i-haicam)
    expected = {"IPv6Address", "IPv6Gateway", "IPv6MaskLen", "DHCP", "AnalogChannelNum", "DigitalChannelNum",
                "DSPVersion", "BootTime", "Encrypt", "ResetAbility", "DiskNumber", "PasswordResetAbility",
                "PasswordResetModeSecond", "DetailOEMCode", "SupportSecurityQuestion", "SupportHCPlatform",
                "HCPlatformEnable", "IsModifyVerificationCode", "Salt", "DeviceLock", "SDKServerStatus",
                "SDKOverTLSServerStatus", "SDKOverTLSPort", "SupportMailBox"}  # fmt: skip
    assert expected <= set(f) and "OEMInfo" not in f


def test_sadp_encrypted_and_not_activated_variants() -> None:
    from dataclasses import replace

    from auditor.lab.devices.runtime import DeviceRuntime

    spec = hik_camera()
    s = replace(spec.services.sadp, encrypted=True, activated=False)
    dev = DeviceRuntime(replace(spec, services=replace(spec.services, sadp=s)))
    root = ET.fromstring(sadp.probe_match(dev, "U"))
    f = {e.tag: e.text for e in root}
    assert f["Encrypt"] == "true" and f["Activated"] == "false"
    assert "DSPVersion" in f and "Salt" in f and "DeviceSN" in f, "real encrypted replies keep every field"
    older = DeviceRuntime(replace(spec, services=replace(spec.services, sadp=replace(s, layout="v5.2",
                                                                                      oem_info="LTS"))))
    text = sadp.probe_match(older, "U")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8" ?>')
    f = {e.tag: e.text for e in ET.fromstring(text)}
    assert f["OEMInfo"] == "LTS" and "Encrypt" not in f and "IPv6Address" not in f


def test_sadp_ignores_non_inquiry(lab: LoopbackLab) -> None:
    assert exchange(lab.port("hik", sadp.PORT), b"<Probe><Types>update</Types></Probe>", timeout=0.3) is None


def test_billion_laughs_sadp_reply_nests_entities(lab: LoopbackLab) -> None:
    reply = exchange(lab.port("laughs", sadp.PORT), sadp_probe()[0])
    assert reply is not None
    assert reply.count(b"<!ENTITY lol") == 10 and b"&lol9;" in reply
    with pytest.raises(UnsafeXML):
        parse_xml(reply)


# ------------------------------------------------------------------ DHIP


def test_dhip_reply_header_and_json(lab: LoopbackLab) -> None:
    reply = exchange(lab.port("dahua", dhip.PORT), dhip_search())
    assert reply is not None
    size, magic, r1, r2, len1, r3, len2, r4 = struct.unpack_from("<I4sIIIIII", reply)
    assert (size, magic, r1, r2, r3, r4) == (32, b"DHIP", 0, 0, 0, 0)
    assert len1 == len2 == len(reply) - 32
    msg = json.loads(reply[32:])
    assert msg["method"] == "client.notifyDevInfo" and msg["mac"] == "3c:ef:8c:12:34:56"
    info = msg["params"]["deviceInfo"]
    assert info["DeviceClass"] == "IPC" and info["DeviceType"] == "IPC-HFW2431S-S-S2"
    assert info["SerialNo"] == "6G0ABCDEF123456" and info["Vendor"] == "General"
    assert info["MachineName"] == "gate-bullet" and info["Port"] == 37777 and info["HttpPort"] == 80
    assert info["IPv4Address"] == {
        "DefaultGateway": "198.18.32.1", "DhcpEnable": False, "IPAddress": "198.18.32.20",
        "SubnetMask": "255.255.255.0",
    }  # fmt: skip


def test_dhip_rejects_bad_frames(lab: LoopbackLab) -> None:
    good = dhip_search()
    port = lab.port("dahua", dhip.PORT)
    assert exchange(port, good[:20], timeout=0.3) is None
    assert exchange(port, good[:4] + b"XXXX" + good[8:], timeout=0.3) is None
    assert exchange(port, good + b"extra", timeout=0.3) is None  # lengths no longer match the body
    assert dhip.unframe(dhip.frame(b"{}")) == b"{}"
