"""RTSP probe: OPTIONS and DESCRIBE ``rtsp://ip:port/`` without credentials.

What it learns: the Server header, the methods offered (``Public``), and whether a
stream description needs authentication (401 + scheme and realm) or is handed to
anyone (200 + SDP). Both requests share one connection; if the server closes after
OPTIONS, DESCRIBE gets a fresh one.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from .. import __version__
from ..models import RAW_EXCERPT_MAX, Observation
from ..text import clean_text
from .base import HostState, ProbeContext
from .challenge import challenge_form
from .contract import Field, ProbeFields
from .http import HttpResponse, parse_response, parse_www_authenticate, reply_complete
from .streams import ConnectFailed, Stream, budget, open_stream, read_reply

FIELDS = ProbeFields("rtsp", (
    Field("port", "int", "the RTSP port", 554, kept="for a person; the port probe's `open` is what the facts read"),
    Field("status", "int", "DESCRIBE's status (else OPTIONS')", 401),
    Field("options_status", "int", "OPTIONS' status", 200, kept="for a person"),
    Field("describe_status", "int", "DESCRIBE's status", 401, kept="for a person; `auth_required` says what it means"),
    Field("server", "str", "`Server` header", "Dahua Rtsp Server"),
    Field("auth_required", "bool", "only when DESCRIBE answered 200 (false) or 401/403 (true)", True),
    Field("auth_scheme", "str", "`Basic`, `Digest`, …", "Digest",
          kept="for a person; the realm and the challenge's form are what identify"),
    Field("realm", "str", "realm of the challenge", "Login to 7J01234PAZ5A6B7"),
    Field("challenge", "str", "the `WWW-Authenticate` header(s), nonces replaced by their form "
          "(`auditor/probes/challenge.py`)", 'Digest realm="Login to 7J01234PAZ5A6B7", nonce="{hex32}"'),
    Field("content_base", "str", "path of the `Content-Base` a 200 DESCRIBE names (the stream path: "
          "`/axis-media/media.amp/`)", "/axis-media/media.amp/"),
    Field("methods", "list[str]", "methods from `Public`", ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"],
          kept="for a person"),
    Field("sdp_session", "str", "SDP `s=` line handed out without auth", "Media Presentation", kept="for a person"),
))

RTSP_PORTS: tuple[int, ...] = (554, 8554)
MAX_RTSP_REPLY = 16 * 1024


def build_request(method: str, url: str, cseq: int) -> bytes:
    extra = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    return (f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: camaudit/{__version__}\r\n{extra}\r\n"
            ).encode("ascii")


def parse_public(value: str | None) -> list[str]:
    """Methods from a ``Public`` header, upper-cased, de-duplicated, capped."""
    if not value:
        return []
    methods = [clean_text(m, 32).upper() for m in value.replace(";", ",").split(",")]
    return list(dict.fromkeys(m for m in methods if m and m.replace("_", "").isalpha()))[:32]


def sdp_session_name(body: bytes) -> str | None:
    for line in body.decode("utf-8", "replace").splitlines()[:200]:
        if line.startswith("s="):
            return clean_text(line[2:]) or None
    return None


def url_path(value: str | None) -> str | None:
    """The path of an ``rtsp://host[:port]/path`` URL (no host, credentials or query), or None."""
    if not value:
        return None
    m = re.match(r"^rtsps?://[^/\s]*(/[^?#\s]*)", value.strip(), re.IGNORECASE)
    return clean_text(m.group(1), 128) or None if m else None


def summarize(options: HttpResponse | None, describe: HttpResponse | None) -> dict[str, Any]:
    """Observation fields from the OPTIONS and DESCRIBE replies (either may be missing)."""
    fields: dict[str, Any] = {}
    for resp in (describe, options):
        if resp is not None and "server" not in fields:
            server = resp.header("Server")
            if server:
                fields["server"] = clean_text(server)
    if options is not None:
        fields["options_status"] = options.status
        methods = parse_public(options.header("Public"))
        if methods:
            fields["methods"] = methods
    main = describe or options
    if main is not None:
        fields["status"] = main.status
    if describe is not None:
        fields["describe_status"] = describe.status
        if describe.status in (401, 403):
            fields["auth_required"] = True
        elif describe.status == 200:
            fields["auth_required"] = False
            name = sdp_session_name(describe.body)
            if name:
                fields["sdp_session"] = name
            if base := url_path(describe.header("Content-Base")):
                fields["content_base"] = base
    for resp in (describe, options):
        if resp is None:
            continue
        scheme, realm = parse_www_authenticate(resp.all("WWW-Authenticate"))
        if scheme:
            fields["auth_scheme"] = scheme
            if realm:
                fields["realm"] = realm
            if form := challenge_form(resp.all("WWW-Authenticate")):
                fields["challenge"] = form
            break
    return fields


class RtspProbe:
    name: ClassVar[str] = "rtsp"

    def __init__(self, ports: Iterable[int] = RTSP_PORTS, max_bytes: int = MAX_RTSP_REPLY) -> None:
        self.ports = tuple(ports)
        self.max_bytes = max_bytes

    @property
    def service_ports(self) -> tuple[int, ...]:
        """The ports this probe speaks on, where open (the engine may leave their first connect to it)."""
        return self.ports

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return

        async def speak(port: int, knocked: bool) -> None:
            await self._probe_port(ctx, host.ip, port, functools.partial(host.settle_knock, port) if knocked else None)

        await host.serve_ports(self.ports, speak)

    async def _exchange(self, stream: Stream, ctx: ProbeContext, request: bytes) -> tuple[bytes, str | None]:
        await stream.request()
        t = budget(ctx)
        stream.writer.write(request)
        try:
            await asyncio.wait_for(stream.writer.drain(), t)
        except (TimeoutError, OSError):
            return b"", None
        res = await read_reply(stream.reader, budget(ctx), cap=self.max_bytes, complete=reply_complete)
        if res.truncated:
            return res.data, f"reply over {self.max_bytes} bytes; kept the first {self.max_bytes}"
        if res.timed_out and not res.data:
            return b"", f"no RTSP reply within {t:.1f}s"
        return res.data, None

    async def _talk(self, ctx: ProbeContext, stream: Stream, url: str, methods: tuple[str, ...],
                    warnings: list[str], raws: list[bytes], replies: dict[str, HttpResponse | None]) -> bool:
        """Send ``methods`` in turn on ``stream``; True when the server hung up before DESCRIBE."""
        for method in methods:
            cseq = 1 if method == "OPTIONS" else 2
            if ctx.remaining() <= 0:
                return False
            data, note = await self._exchange(stream, ctx, build_request(method, url, cseq))
            if not data and note is None and method == "DESCRIBE" and "OPTIONS" in methods:
                return True
            if note:
                warnings.append(f"{method}: {note}")
            if data:
                raws.append(data)
                try:
                    replies[method] = parse_response(data)
                except ValueError:
                    warnings.append(f"{method}: not an RTSP reply")
            if note:
                return False  # silent (tarpit) or oversize: do not spend a second wait on it
        return False

    async def _probe_port(self, ctx: ProbeContext, ip: str, port: int,
                          settle: Callable[[bool | None], None] | None = None) -> None:
        """``settle``: this connect is the port's first (``HostState.knocks``), told what it said; a port
        that refuses or stays silent is then simply shut, no news."""
        url = f"rtsp://{ip}:{port}/"
        warnings: list[str] = []
        raws: list[bytes] = []
        replies: dict[str, HttpResponse | None] = {"OPTIONS": None, "DESCRIBE": None}
        try:
            async with open_stream(ctx, ip, port, settle=settle) as stream:
                hung_up = await self._talk(ctx, stream, url, ("OPTIONS", "DESCRIBE"), warnings, raws, replies)
            if hung_up:
                # The server hung up after OPTIONS: one fresh connection for DESCRIBE.
                async with open_stream(ctx, ip, port) as stream:
                    await self._talk(ctx, stream, url, ("DESCRIBE",), warnings, raws, replies)
        except ConnectFailed as exc:
            if settle is not None and not exc.accepted and not raws:
                return
            if not raws:
                ctx.emit(Observation(ip=ip, probe=self.name, fields={"port": port},
                                     warning=f"connect failed: {exc}"))
                return
        fields: dict[str, Any] = {"port": port, **summarize(replies["OPTIONS"], replies["DESCRIBE"])}
        raw = b"\n".join(raws)[:RAW_EXCERPT_MAX].decode("utf-8", "replace")
        ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, raw=raw,
                             warning="; ".join(warnings) or None))
