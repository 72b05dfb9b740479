"""Hikvision SADP: inquiry builder, ProbeMatch parser on recorded replies, engine on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest
from discovery_fakes import FakeResponder, make_ctx, run_probe

from auditor.probes.base import HostState
from auditor.probes.sadp import SadpProbe, build_sadp_inquiry, parse_sadp_reply, sadp_key
from auditor.xmlsafe import parse_xml, text_of

ASSETS = Path(__file__).parent / "assets" / "sadp"


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def test_inquiry_exact_bytes():
    assert build_sadp_inquiry("6E3C1D1A-7D0B-4C57-9A44-0F3C6D3A9B10") == (
        b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>6E3C1D1A-7D0B-4C57-9A44-0F3C6D3A9B10</Uuid>'
        b"<Types>inquiry</Types></Probe>"
    )


def test_inquiry_uuid_is_fresh_and_upper_case():
    a, b = (text_of(parse_xml(build_sadp_inquiry()), "Uuid") for _ in range(2))
    assert a != b and a == a.upper() and len(a) == 36


def test_full_ipc_reply():
    f = parse_sadp_reply(asset("hikvision_ds2cd2143g2.xml"))
    assert f == {
        "mac": "c4:2f:90:a1:b2:c3",
        "serial": "DS-2CD2143G2-I20220315AAWRJ12345678",
        "model": "DS-2CD2143G2-I",
        "device_type": "139780",
        "firmware": "V5.7.3build 220112",
        "dsp_version": "V7.3 build 220112",
        "oem_info": "N/A",
        "ipv4": "192.168.1.64",
        "boot_time": "2024-03-18 09:12:44",
        "http_port": 80,
        "command_port": 8000,
        "activated": True,
        "encrypted": False,
    }


def test_nvr_reply():
    f = parse_sadp_reply(asset("hikvision_nvr_ds7608ni.xml"))
    assert f["model"] == "DS-7608NI-K2/8P"
    assert f["mac"] == "44:19:b6:10:20:30"
    assert f["firmware"] == "V4.30.085build 210510"
    assert "encrypted" not in f  # absent, never guessed


def test_universalscanner_selftest_reply():
    f = parse_sadp_reply(asset("universalscanner_selftest.xml"))
    assert f["mac"] == "00:11:22:33:44:55" and f["serial"] == "Virtual-123456789"
    assert f["model"] == "Virtual" and f["activated"] is True


def test_inactive_device():
    assert parse_sadp_reply(asset("inactive.xml"))["activated"] is False


def test_oem_relabel_keeps_oem_info():
    f = parse_sadp_reply(asset("oem_relabel.xml"))
    assert f["oem_info"] == "LTS" and f["model"] == "CMIP3142W-28M" and f["mac"] == "c0:56:e3:01:02:03"


def test_encrypted_reply_with_few_fields():
    f = parse_sadp_reply(asset("encrypted.xml"))
    assert f == {"mac": "bc:ad:28:11:22:33", "ipv4": "192.168.1.70", "activated": True, "encrypted": True}


def test_inquiry_from_another_tool_is_not_a_reply():
    assert parse_sadp_reply(asset("inquiry_echo.xml")) == {}


def test_script_in_model_is_kept_as_text():
    assert parse_sadp_reply(asset("script_in_model.xml"))["model"] == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("bad_truncated.xml", "malformed"),
        ("bad_garbage.bin", "malformed"),
        ("bad_xxe.xml", "DOCTYPE"),
        ("bad_billion_laughs.xml", "DOCTYPE"),
        ("bad_oversize.xml", "exceeds"),
        ("bad_wrong_root.xml", "not a SADP ProbeMatch"),
        ("bad_no_identity.xml", "without MAC or serial"),
    ],
)
def test_hostile_and_malformed_replies_raise_value_error(name, why):
    with pytest.raises(ValueError, match=why):
        parse_sadp_reply(asset(name))


def test_bad_mac_and_port_are_left_out():
    data = asset("hikvision_ds2cd2143g2.xml").replace(b"c4-2f-90-a1-b2-c3", b"zz-zz").replace(
        b"<HttpPort>80<", b"<HttpPort>99999<"
    )
    f = parse_sadp_reply(data)
    assert "mac" not in f and "http_port" not in f and f["command_port"] == 8000


def test_key_is_mac_then_serial():
    assert sadp_key("10.0.0.1", {"mac": "aa:bb:cc:dd:ee:ff", "serial": "S"}) == "mac:aa:bb:cc:dd:ee:ff"
    assert sadp_key("10.0.0.1", {"serial": "S"}) == "serial:S"


def test_engine_unicasts_to_routed_targets_and_reports_devices():
    reply = asset("hikvision_ds2cd2143g2.xml")

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        hik = FakeResponder("127.0.0.2", lambda req: [reply] if b"<Types>inquiry</Types>" in req else [])
        async with hik:
            # a silent target on the same port number would be 127.0.0.3/.4: nothing listens there
            await run_probe(SadpProbe(port=hik.port, group=None), ctx)
        return ctx, seen, hik

    ctx, seen, hik = asyncio.run(scenario())
    [obs] = seen
    assert obs.ip == "127.0.0.2" and obs.probe == "sadp" and obs.warning is None
    assert obs.fields["model"] == "DS-2CD2143G2-I" and obs.fields["mac"] == "c4:2f:90:a1:b2:c3"
    assert obs.raw.startswith("<?xml") and len(obs.raw) <= 2048
    assert ctx.live == {"127.0.0.2"}
    assert len(hik.requests) == 1  # it answered, so the retry round skipped it
    # every packet went through the shared rate limiter: 3 targets + 2 silent ones retried
    assert ctx.rate.count == 5


def test_probe_host_asks_one_live_routed_device_paced_and_stops_when_it_answered():
    reply = asset("hikvision_ds2cd2143g2.xml")

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.3"], timeout=0.5)
        ctx = dataclasses.replace(ctx, probe="sadp", unicast_routed=False)
        hik = FakeResponder("127.0.0.2", lambda req: [reply])
        async with hik:
            probe = SadpProbe(port=hik.port, group=None)
            t0 = time.monotonic()
            await probe.probe_host(ctx, HostState("127.0.0.2"))
            took = time.monotonic() - t0
            still = await probe.ask(ctx, "127.0.0.2")  # the re-check: answers, reports nothing
            silent = await probe.ask(ctx, "127.0.0.3")
        return ctx, seen, hik, took, still, silent

    ctx, seen, hik, took, still, silent = asyncio.run(scenario())
    [obs] = seen
    assert obs.ip == "127.0.0.2" and obs.fields["serial"].startswith("DS-2CD2143G2-I")
    assert took < 0.4  # did not sit out the whole listening window once it had its answer
    assert still is True and silent is False
    record = ctx.host("127.0.0.2").record
    assert "sadp" in record.heard and record.sent["sadp"]["datagrams"] == 2  # the question and the re-check
    assert ctx.host("127.0.0.3").record.sent["sadp"]["datagrams"] == 2  # attempt + one retry, no more
