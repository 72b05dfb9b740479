"""RTSP/1.0 (OPTIONS, DESCRIBE) with the device's Server header and auth challenge.

Requests on one connection are answered in turn (RTSP keeps connections open); CSeq is
echoed. With ``auth`` other than ``none`` every DESCRIBE gets 401 and the challenge —
the lab has no stream to give, and the scanner only needs the challenge.

The spec's ``style`` says whose server to imitate; each follows real replies (tests/real):

* ``hikvision``: headers CSeq, WWW-Authenticate / Public, then Hikvision's own Date
  (``Date:  Thu, May 14 2020 16:45:35 GMT``: two spaces, month before day); no Server;
  ``Digest realm="…", nonce="<32 hex>", stale="FALSE"``
  (rtsp-hikvision-ipcamera-c2875-describe-easydarwin, rtsp-realm-hikvision-ipcamera-21388-sharprtsp);
* ``dahua``: CSeq and ``Digest realm="Login to <serial>", nonce="<32 hex>"`` only on a 401
  (rtsp-realm-dahua-login-to-retina62);
* ``axis``: CSeq, WWW-Authenticate ``nonce="<8 hex>Y<hex>", stale=FALSE`` (unquoted), Server, Date
  (rtsp-axis-kane610-describe-401);
* ``hanwha``: CSeq, Date, Expires, Cache-Control, WWW-Authenticate, no Server, no stale
  (rtsp-realm-hanwha-ipolis-cameradar199);
* ``generic``: CSeq, Server, RFC 1123 Date, quoted stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from email.utils import formatdate

from ..spec import RtspService
from . import hostile, wire
from .runtime import DeviceRuntime

PUBLIC = "OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP, TEARDOWN, SET_PARAMETER, GET_PARAMETER"
"""The methods Hikvision's RTSP server lists (tests/real rtsp-hikvision-ipcamera-c2875-options-easydarwin)."""
PUBLIC_AXIS = "OPTIONS, DESCRIBE, ANNOUNCE, GET_PARAMETER, PAUSE, PLAY, RECORD, SETUP, SET_PARAMETER, TEARDOWN"
"""The methods AXIS OS's GStreamer-based server lists (tests/real rtsp-axis-kane610-options-200)."""
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
        if rtsp.style == "dahua":
            out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}"'))
        elif rtsp.style == "hanwha":
            out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce.upper()}"'))
        elif rtsp.style == "axis":
            axis_nonce = f"{int(dev.started) & 0xFFFFFFFF:08x}Y{nonce}{nonce[:6]}"
            out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{axis_nonce}", stale=FALSE'))
        else:
            out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}", stale="FALSE"'))
    if rtsp.auth == "basic":
        out.append(("WWW-Authenticate", f'Basic realm="{realm}"'))
    return out


def hikvision_date() -> str:
    """Hikvision's RTSP Date value: `` Thu, May 14 2020 16:45:35 GMT`` (its leading space gives the
    two spaces real captures show after ``Date:``)."""
    return time.strftime(" %a, %b %d %Y %H:%M:%S GMT", time.gmtime())


def _headers(rtsp: RtspService, cseq: str, status_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The reply's headers in the order the imitated firmware writes them."""
    date = formatdate(usegmt=True)
    if rtsp.style == "hikvision":
        return [("CSeq", cseq), *status_headers, ("Date", hikvision_date())]
    if rtsp.style == "dahua":  # a 401 carries nothing but the challenge
        challenged = any(k == "WWW-Authenticate" for k, _ in status_headers)
        server = [("Server", rtsp.server)] if rtsp.server and not challenged else []
        return [("CSeq", cseq), *server, *status_headers]
    if rtsp.style == "axis":
        server = [("Server", rtsp.server)] if rtsp.server else []
        return [("CSeq", cseq), *status_headers, *server, ("Date", date)]
    if rtsp.style == "hanwha":
        return [("CSeq", cseq), ("Date", date), ("Expires", date), ("Cache-Control", "must-revalidate"),
                *status_headers]
    server = [("Server", rtsp.server)] if rtsp.server else []
    return [("CSeq", cseq), *server, ("Date", date), *status_headers]


def respond(dev: DeviceRuntime, req: wire.Request) -> bytes:
    """The full response to one RTSP request."""
    rtsp = dev.spec.services.rtsp
    assert rtsp is not None
    status, extra, body = _answer(dev, rtsp, req)
    return wire.render(f"RTSP/1.0 {status}", _headers(rtsp, req.headers.get("cseq", "0"), extra), body)


def _answer(dev: DeviceRuntime, rtsp: RtspService, req: wire.Request) -> tuple[str, list[tuple[str, str]], bytes]:
    headers: list[tuple[str, str]] = []
    body = b""
    if req.method == "OPTIONS":
        status = "200 OK"
        headers.append(("Public", PUBLIC_AXIS if rtsp.style == "axis" else PUBLIC))
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
    return status, headers, body


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
