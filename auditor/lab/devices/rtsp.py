"""RTSP/1.0 (OPTIONS, DESCRIBE) with the device's Server header and auth challenge.

Requests on one connection are answered in turn (RTSP keeps connections open); CSeq is
echoed. With ``auth`` other than ``none`` every DESCRIBE gets 401 and the challenge —
the lab has no stream to give, and the scanner only needs the challenge.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from email.utils import formatdate

from ..spec import RtspService
from . import hostile, wire
from .runtime import DeviceRuntime

PUBLIC = "OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER"
MAX_REQUESTS = 20
DEFAULT_REALM = "IP Camera"


def sdp(dev: DeviceRuntime) -> bytes:
    return (
        "v=0\r\n"
        f"o=- {int(dev.started)} 1 IN IP4 {dev.ip}\r\n"
        "s=Media Presentation\r\n"
        "e=NONE\r\n"
        "b=AS:5050\r\n"
        "t=0 0\r\n"
        "a=control:*\r\n"
        "m=video 0 RTP/AVP 96\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "b=AS:5000\r\n"
        "a=recvonly\r\n"
        "a=control:trackID=1\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "a=fmtp:96 profile-level-id=420029; packetization-mode=1\r\n"
    ).encode()


def challenges(dev: DeviceRuntime, rtsp: RtspService) -> list[tuple[str, str]]:
    realm = rtsp.realm or DEFAULT_REALM
    nonce = hashlib.md5(f"rtsp{dev.spec.mac}{dev.started}".encode()).hexdigest()
    out: list[tuple[str, str]] = []
    if rtsp.auth == "digest":
        out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}", stale="FALSE"'))
    if rtsp.auth == "basic":
        out.append(("WWW-Authenticate", f'Basic realm="{realm}"'))
    return out


def respond(dev: DeviceRuntime, req: wire.Request) -> bytes:
    """The full response to one RTSP request."""
    rtsp = dev.spec.services.rtsp
    assert rtsp is not None
    headers: list[tuple[str, str]] = [("CSeq", req.headers.get("cseq", "0"))]
    if rtsp.server:
        headers.append(("Server", rtsp.server))
    headers.append(("Date", formatdate(usegmt=True)))
    body = b""
    if req.method == "OPTIONS":
        status = "200 OK"
        headers.append(("Public", PUBLIC))
    elif req.method == "DESCRIBE" and rtsp.auth == "none":
        status = "200 OK"
        body = sdp(dev)
        base = req.target if req.target.endswith("/") else req.target + "/"
        headers += [("Content-Base", base), ("Content-Type", "application/sdp")]
        headers.append(("Content-Length", str(len(body))))
    elif req.method in ("DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER") and rtsp.auth != "none":
        status = "401 Unauthorized"
        headers += challenges(dev, rtsp)
    elif req.method in ("SETUP", "PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"):
        status = "454 Session Not Found"
    else:
        status = "501 Not Implemented"
    return wire.render(f"RTSP/1.0 {status}", headers, body)


class RtspListener:
    def __init__(self, dev: DeviceRuntime) -> None:
        self.dev = dev

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dev.hostile("tarpit"):
            await hostile.tarpit(self.dev, reader, writer)
            return
        try:
            for _ in range(MAX_REQUESTS):
                req = await wire.read_request(reader, max_body=4096)
                if req is None or not req.version.startswith("RTSP/"):
                    break
                writer.write(respond(self.dev, req))
                await asyncio.wait_for(writer.drain(), 10)
        except (OSError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
