"""WS-Discovery: Probe builder, ProbeMatch parser on recorded replies, engine on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
from discovery_fakes import FakeResponder, make_ctx, run_probe

from auditor.probes.wsdiscovery import (
    NS_SOAP12,
    NS_WSD,
    WsDiscoveryProbe,
    build_probe,
    match_key,
    parse_probe_match,
)
from auditor.xmlsafe import find_local, local, parse_xml

ASSETS = Path(__file__).parent / "assets" / "wsdiscovery"


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


# --- request builder ---------------------------------------------------------------------------


def test_probe_is_soap12_with_discovery_action_and_types():
    root = parse_xml(build_probe("urn:uuid:00000000-0000-4000-8000-000000000001"))
    assert root.tag == f"{{{NS_SOAP12}}}Envelope"
    assert find_local(root, "Action").text == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    assert find_local(root, "To").text == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert find_local(root, "MessageID").text == "urn:uuid:00000000-0000-4000-8000-000000000001"
    probe = find_local(root, "Probe")
    assert probe.tag == f"{{{NS_WSD}}}Probe"
    types = find_local(probe, "Types")
    assert types.text == "dn:NetworkVideoTransmitter"
    # the dn prefix must be declared, or strict devices reject the QName
    assert b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"' in build_probe()


def test_each_probe_gets_a_fresh_message_id():
    ids = set()
    for _ in range(3):
        mid = find_local(parse_xml(build_probe()), "MessageID").text
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", mid)
        uuid.UUID(mid[9:])
        ids.add(mid)
    assert len(ids) == 3


def test_untyped_probe_has_no_types_element():
    root = parse_xml(build_probe(types=()))
    assert find_local(root, "Types") is None
    assert local(find_local(root, "Probe").tag) == "Probe"


# --- parser on recorded replies -------------------------------------------------------------------


def test_hikvision_probe_match():
    [m] = parse_probe_match(asset("hikvision_ds2cd2143g2.xml"))
    assert m["endpoint"] == "urn:uuid:4a4c0000-1d2a-11b2-8016-c42f90a1b2c3"
    assert m["types"] == ["NetworkVideoTransmitter", "Device"]
    assert m["name"] == "HIKVISION DS-2CD2143G2-I"
    assert m["hardware"] == "DS-2CD2143G2-I"
    assert m["location"] == "city/hangzhou"
    assert m["mac"] == "c4:2f:90:a1:b2:c3"
    assert m["xaddrs"] == [
        "http://192.168.1.64/onvif/device_service",
        "http://[fe80::c62f:90ff:fea1:b2c3]/onvif/device_service",
    ]
    assert m["metadata_version"] == 10
    assert len(m["scopes"]) == 8 and "onvif://www.onvif.org/Profile/Streaming" in m["scopes"]


def test_dahua_probe_match_with_other_prefixes():
    [m] = parse_probe_match(asset("dahua_ipc_hfw2228m.xml"))
    assert m["endpoint"] == "uuid:3e7f2c00-2a9d-11b2-80b1-3cef8c5d6e7f"
    assert m["types"] == ["NetworkVideoTransmitter", "Device"]
    assert m["name"] == "Dahua"
    assert m["hardware"] == "IPC-HFW2228M-I1-V2"
    assert m["location"] == "country/china"
    assert "mac" not in m
    assert m["metadata_version"] == 1


def test_axis_multiline_lists_and_empty_location():
    [m] = parse_probe_match(asset("axis_m2036le.xml"))
    assert m["name"] == "AXIS M2036-LE"
    assert m["hardware"] == "M2036-LE"
    assert "location" not in m  # "onvif://www.onvif.org/location/" carries no value
    assert len(m["xaddrs"]) == 4 and m["xaddrs"][2] == "http://169.254.209.66/onvif/device_service"
    assert m["types"] == ["Device", "NetworkVideoTransmitter"]


def test_printer_types_recorded_not_assumed_camera():
    [m] = parse_probe_match(asset("printer_wsd_mfp.xml"))
    assert m["types"] == ["Device", "ScanDeviceType", "PrintDeviceType"]
    assert "NetworkVideoTransmitter" not in m["types"]
    assert "scopes" not in m and "name" not in m
    assert m["xaddrs"] == ["http://192.168.1.20:3911/"]
    assert m["metadata_version"] == 2


def test_universalscanner_selftest_reply():
    [m] = parse_probe_match(asset("universalscanner_selftest.xml"))
    assert m["endpoint"] == "urn:uuid:11223344-5566-7788-9900-000000000002"
    assert m["types"] == ["Virtual", "Device"]
    assert "scopes" not in m
    assert m["xaddrs"] == ["http://127.0.01/", "http://[::1]/"]


def test_two_matches_in_one_datagram():
    matches = parse_probe_match(asset("two_matches.xml"))
    assert [m["endpoint"][-4:] for m in matches] == ["b2c3", "b2c4"]
    assert matches[1]["types"] == ["NetworkVideoDisplay"]


def test_a_probe_is_not_a_reply():
    assert parse_probe_match(asset("probe_echo.xml")) == []


def test_script_in_name_is_kept_as_text():
    [m] = parse_probe_match(asset("script_in_name.xml"))
    assert m["name"] == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("bad_truncated.xml", "malformed"),
        ("bad_garbage.bin", "malformed"),
        ("bad_xxe.xml", "DOCTYPE"),
        ("bad_billion_laughs.xml", "DOCTYPE"),
        ("bad_oversize.xml", "exceeds"),
        ("bad_not_envelope.xml", "not a SOAP envelope"),
        ("bad_match_without_address.xml", "neither EndpointReference nor XAddrs"),
    ],
)
def test_hostile_and_malformed_replies_raise_value_error(name, why):
    with pytest.raises(ValueError, match=why):
        parse_probe_match(asset(name))


def test_long_values_are_capped():
    long_name = "A" * 1000
    data = asset("dahua_ipc_hfw2228m.xml").replace(b"name/Dahua", b"name/" + long_name.encode())
    [m] = parse_probe_match(data)
    assert len(m["name"]) == 256


def test_match_key_prefers_endpoint():
    assert match_key("10.0.0.1", {"endpoint": "urn:uuid:AB"}) == "epr:urn:uuid:ab"
    assert match_key("10.0.0.1", {"xaddrs": ["http://x/"]}) == "ip:10.0.0.1"


# --- engine on loopback (unicast only: never multicast in the root namespace) ----------------------


def test_probe_keys_by_sender_keeps_foreign_xaddr_and_dedupes():
    reply = asset("hikvision_ds2cd2143g2.xml")  # XAddrs name 192.168.1.64, not the sender

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.3"])
        device = FakeResponder("127.0.0.2", lambda req: [reply, reply])  # answers twice per request
        async with device:
            await run_probe(WsDiscoveryProbe(port=device.port, group=None), ctx)
        return ctx, seen, device

    ctx, seen, device = asyncio.run(scenario())
    assert [o.ip for o in seen] == ["127.0.0.2"]
    obs = seen[0]
    assert obs.probe == "wsdiscovery" and obs.warning is None
    assert obs.fields["xaddrs"][0] == "http://192.168.1.64/onvif/device_service"
    assert "ProbeMatch" in obs.raw
    assert ctx.live == {"127.0.0.2"}
    # the request was a typed WS-Discovery Probe
    assert b"NetworkVideoTransmitter" in device.requests[0]
    assert parse_probe_match(device.requests[0]) == []


def test_xxe_reply_becomes_a_warning_observation():
    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2"])
        device = FakeResponder("127.0.0.2", lambda req: [asset("bad_xxe.xml")])
        async with device:
            await run_probe(WsDiscoveryProbe(port=device.port, group=None), ctx)
        return seen

    [obs] = asyncio.run(scenario())
    assert obs.fields == {} and "DOCTYPE" in obs.warning
    assert "/etc/passwd" in obs.raw  # the excerpt shows what was refused; nothing was resolved


def test_non_ascii_digit_metadata_version_is_dropped_not_fatal():
    """'²' passes str.isdigit() but int() refuses it: the match must survive without the field."""
    data = asset("hikvision_ds2cd2143g2.xml")
    assert b">10</" in data
    [m] = parse_probe_match(data.replace(b">10</", ">\u00b2</".encode()))
    assert "metadata_version" not in m and m["mac"] == "c4:2f:90:a1:b2:c3"
