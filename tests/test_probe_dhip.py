"""Dahua DHIP: exact search bytes, notifyDevInfo parser on recorded replies, engine on 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from discovery_fakes import FakeResponder, make_ctx, run_probe

from auditor.probes.dhip import DhipProbe, build_dhip_search, dhip_key, parse_dhip_reply

ASSETS = Path(__file__).parent / "assets" / "dhip"


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def test_search_exact_bytes():
    body = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n'
    assert len(body) == 0x49  # 73 bytes, as seen on the wire from Dahua ConfigTool
    expected_header = (
        b"\x20\x00\x00\x00" + b"DHIP" + b"\x00" * 8 + b"\x49\x00\x00\x00" + b"\x00" * 4
        + b"\x49\x00\x00\x00" + b"\x00" * 4
    )
    packet = build_dhip_search()
    assert len(expected_header) == 32
    assert packet == expected_header + body
    assert struct.unpack_from("<I", packet, 16)[0] == len(packet) - 32


def test_dahua_ipc_reply():
    assert parse_dhip_reply(asset("dahua_ipc_hdw5421s.bin")) == {
        "mac": "4c:11:bf:c2:0b:9d",
        "serial": "1F006E4PAX00075",
        "model": "IPC-HDW5421S",
        "device_class": "IPC",
        "vendor": "Dahua",
        "machine_name": "1F006E4PAX00075",
        "firmware": "2.400.0.8",
        "ipv4": "192.168.1.108",
        "http_port": 80,
        "service_port": 37777,
    }


def test_lorex_relabel_keeps_vendor_and_odd_port():
    f = parse_dhip_reply(asset("lorex_w461asc.bin"))
    assert f["vendor"] == "Lorex" and f["mac"] == "00:1f:54:a9:2e:58"
    assert f["model"] == "W461ASC" and f["service_port"] == 35000
    assert f["firmware"] == "2.800.030000000.3.R"


def test_general_vendor_door_station():
    f = parse_dhip_reply(asset("general_vto2000a.bin"))
    assert f["vendor"] == "General" and f["device_class"] == "VTO" and f["ipv4"] == "192.168.0.232"


def test_single_length_field_and_nul_padding():
    assert parse_dhip_reply(asset("padded_single_length.bin"))["model"] == "IPC-HDW5421S"


def test_search_from_another_tool_is_not_a_reply():
    assert parse_dhip_reply(asset("search_echo.bin")) == {}
    assert parse_dhip_reply(build_dhip_search()) == {}


def test_script_in_vendor_is_kept_as_text():
    assert parse_dhip_reply(asset("script_in_vendor.bin"))["vendor"] == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("bad_truncated.bin", "truncated"),
        ("bad_short.bin", "shorter than its header"),
        ("bad_magic.bin", "bad header"),
        ("bad_garbage.bin", "bad header"),
        ("bad_not_json.bin", "not JSON"),
        ("bad_deep_nesting.bin", "nested too deep"),
        ("bad_oversize.bin", "cap"),
        ("bad_wrong_method.bin", "unexpected DHIP method"),
        ("bad_no_identity.bin", "without MAC or serial"),
        ("bad_not_utf8.bin", "not UTF-8"),
    ],
)
def test_hostile_and_malformed_replies_raise_value_error(name, why):
    with pytest.raises(ValueError, match=why):
        parse_dhip_reply(asset(name))


def test_key_is_mac_then_serial():
    assert dhip_key("10.0.0.1", {"mac": "aa:bb:cc:dd:ee:ff"}) == "mac:aa:bb:cc:dd:ee:ff"
    assert dhip_key("10.0.0.1", {"serial": "S1"}) == "serial:S1"


def test_engine_one_observation_per_device_and_scope_is_sacred():
    """Two addresses answer with the same MAC (one device) → one observation; a reply from
    127.0.0.9 (outside the scope) is dropped; a garbage-spewing host yields one warning."""
    reply = asset("dahua_ipc_hdw5421s.bin")

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.3"])
        dahua = FakeResponder(
            "127.0.0.2", lambda req: [reply, reply], extra=lambda req: [("127.0.0.9", asset("lorex_w461asc.bin"))]
        )
        async with dahua:
            spewer = FakeResponder("127.0.0.3", lambda req: [asset("bad_garbage.bin")] * 50, port=dahua.port)
            async with spewer:
                from discovery_fakes import send_side_replies

                async def side():
                    while not dahua.requests:
                        await asyncio.sleep(0.01)
                    await send_side_replies(dahua)

                await asyncio.gather(run_probe(DhipProbe(port=dahua.port, group=None), ctx), side())
        return ctx, seen, dahua

    ctx, seen, dahua = asyncio.run(scenario())
    assert dahua.side_replies, "the out-of-scope reply was sent"
    by_ip = {o.ip: o for o in seen}
    assert set(by_ip) == {"127.0.0.2", "127.0.0.3"}
    assert len(seen) == 2
    assert by_ip["127.0.0.2"].fields["vendor"] == "Dahua"
    assert by_ip["127.0.0.3"].fields == {} and "bad header" in by_ip["127.0.0.3"].warning
    assert "127.0.0.9" not in ctx.live
