"""RTSP probe: parsers on recorded replies, then OPTIONS/DESCRIBE against loopback fake servers."""

from __future__ import annotations

import asyncio

import pytest
from hostprobe_support import ASSETS, make_ctx, read_request, serve, tarpit

from auditor.models import Observation
from auditor.probes.base import HostState
from auditor.probes.http import parse_response
from auditor.probes.rtsp import RtspProbe, build_request, parse_public, summarize

RTSP = ASSETS / "rtsp"


def reply(name: str) -> bytes:
    return (RTSP / name).read_bytes()


def test_hikvision_needs_digest() -> None:
    f = summarize(parse_response(reply("hikvision-options.rtsp")), parse_response(reply("hikvision-describe-401.rtsp")))
    assert f["status"] == 401 and f["auth_required"] is True
    assert f["auth_scheme"] == "Digest" and f["realm"] == "Hikvision"
    assert f["methods"][:2] == ["OPTIONS", "DESCRIBE"] and len(f["methods"]) == 8
    assert "server" not in f


def test_dahua_server_header() -> None:
    f = summarize(parse_response(reply("dahua-options.rtsp")), parse_response(reply("dahua-describe-401.rtsp")))
    assert f["server"] == "Dahua Rtsp Server" and f["realm"] == "Login to 4L0AB4EPAZ8F3C1"
    assert "ANNOUNCE" in f["methods"]


def test_axis_first_challenge_wins() -> None:
    f = summarize(None, parse_response(reply("axis-describe-401.rtsp")))
    assert f["auth_scheme"] == "Digest" and f["realm"] == "AXIS_ACCC8E4A2B1C"
    assert f["server"] == "GStreamer RTSP server" and "methods" not in f and "options_status" not in f


def test_open_stream_is_not_auth_required() -> None:
    f = summarize(None, parse_response(reply("hipcam-describe-open.rtsp")))
    assert f["auth_required"] is False and f["sdp_session"] == "h264.mp4"
    assert f["server"] == "Hipcam RealServer/V1.0"


def test_garbage_is_not_rtsp() -> None:
    with pytest.raises(ValueError):
        parse_response(reply("garbage.bin"))


def test_public_parsing_is_defensive() -> None:
    assert parse_public("options, describe;PLAY, <script>, PLAY") == ["OPTIONS", "DESCRIBE", "PLAY"]
    assert parse_public(None) == []
    assert len(parse_public(",".join(["GET"] * 500 + [f"M{'X' * i}" for i in range(100)]))) <= 32


def test_request_format() -> None:
    req = build_request("DESCRIBE", "rtsp://127.0.0.1:554/", 2)
    assert req.startswith(b"DESCRIBE rtsp://127.0.0.1:554/ RTSP/1.0\r\nCSeq: 2\r\n")
    assert b"Accept: application/sdp\r\n" in req and req.endswith(b"\r\n\r\n")
    assert b"Authorization" not in req


# ------------------------------------------------------------------ against fake servers


def run(handler: object, timeout: float = 1.0) -> list[Observation]:
    async def main() -> list[Observation]:
        server, port = await serve(handler)  # type: ignore[arg-type]
        out: list[Observation] = []
        try:
            await RtspProbe(ports=(port,)).probe_host(make_ctx(out, timeout=timeout),
                                                      HostState("127.0.0.1", open_ports={port}))
        finally:
            server.close()
        return out

    return asyncio.run(main())


def test_probe_one_connection_both_requests() -> None:
    seen: list[bytes] = []

    async def dahua(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for name in ("dahua-options.rtsp", "dahua-describe-401.rtsp"):
            seen.append(await read_request(reader))
            writer.write(reply(name))
            await writer.drain()

    (obs,) = run(dahua)
    assert [r.split(b" ")[0] for r in seen] == [b"OPTIONS", b"DESCRIBE"]
    assert obs.warning is None
    assert obs.fields["server"] == "Dahua Rtsp Server" and obs.fields["auth_required"] is True
    assert obs.fields["options_status"] == 200 and obs.fields["describe_status"] == 401
    assert "Dahua Rtsp Server" in obs.raw


def test_probe_reconnects_when_server_closes_after_options() -> None:
    count = 0

    async def one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        request = await read_request(reader)
        name = "hikvision-options.rtsp" if request.startswith(b"OPTIONS") else "hikvision-describe-401.rtsp"
        writer.write(reply(name))
        await writer.drain()

    (obs,) = run(one_shot)
    assert count == 2
    assert obs.fields["status"] == 401 and obs.fields["realm"] == "Hikvision" and obs.warning is None


def test_probe_tarpit_warns_once() -> None:
    (obs,) = run(tarpit, timeout=0.3)
    assert obs.warning == "OPTIONS: no RTSP reply within 0.3s"
    assert obs.fields == {"port": obs.fields["port"]}


def test_probe_garbage_and_oversize() -> None:
    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply("garbage.bin"))
        await writer.drain()

    (obs,) = run(junk)
    assert obs.warning is not None and "OPTIONS: not an RTSP reply" in obs.warning

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nX-Pad: ")
        for _ in range(40):
            writer.write(b"B" * 100_000)
            await writer.drain()

    (obs,) = run(huge)
    assert obs.warning is not None and "over 16384 bytes" in obs.warning
    assert obs.fields["options_status"] == 200
    assert "describe_status" not in obs.fields  # no DESCRIBE after an oversize reply
