"""HTTP(S) banner probe: Server header, title, auth realm, vendor paths, TLS certificate.

A minimal HTTP/1.1 client on asyncio streams (GET only, no redirects followed, no
credentials, byte-capped, deadline-bounded). Per web port, ``/`` first, then the
vendor-typical paths: one after the other on the same persistent connection when the
server keeps it (one connection instead of five); when it closes after every reply (old
embedded servers), one connection per path, side by side as far as the device's pacing
allows. One observation per web port. Parsers are pure
functions over the raw reply bytes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import __version__
from ..models import RAW_EXCERPT_MAX, Observation
from ..text import clean_text
from ..xmlsafe import UnsafeXML
from . import vendorapi
from .base import HostState, ProbeContext
from .challenge import challenge_form
from .contract import Field, ProbeFields
from .streams import (
    MAX_REPLY,
    ConnectFailed,
    Stream,
    budget,
    insecure_tls_context,
    open_stream,
    read_reply,
)
from .x509 import parse_certificate

FIELDS = ProbeFields("http", (
    Field("port", "int", "the web port", 80, kept="for a person; the port probe's `open` is what the facts read"),
    Field("scheme", "str", "`http` or `https`", "http"),
    Field("status", "int", "status of `GET /`", 200, kept="for a person; the paths' statuses are what identify"),
    Field("server", "str", "`Server` header of `GET /`", "App-webs/"),
    Field("title", "str", "HTML `<title>` of `GET /`", "WEB SERVICE"),
    Field("realm", "str", "realm of `/`, or else of the first vendor path that challenged", "Hikvision"),
    Field("auth_scheme", "str", "`Basic`, `Digest`, … (with `realm`)", "Digest",
          kept="for a person; the realm and the challenge's form are what identify"),
    Field("challenge", "str", "the `WWW-Authenticate` header(s) `realm` came from, nonces replaced by their form "
          "(`auditor/probes/challenge.py`)", 'Digest qop="auth", realm="IP Camera(C2183)", nonce="{b64hex}", '
          'stale="FALSE"'),
    Field("headers_upper", "bool", "header names sent in upper case (a Dahua tell)", False),
    Field("p3p", "str", "`P3P` header of `GET /`", "CP=CAO PSA OUR"),
    Field("location", "str", "`Location` of a 3xx to `GET /`", "/doc/page/login.asp",
          kept="for a person following the redirect"),
    Field("paths", "map[int]", "vendor path → status (also a maker's identity endpoint, asked only where the "
          "address points to that maker: `IDENTITY_REQUESTS`)", {"/ISAPI/System/deviceInfo": 401}),
    Field("path_realms", "map[str]", "vendor path → realm it challenged with (the first is also `realm`; a "
          "serial shown in any of them is read, e.g. `AXIS_<serial>`)",
          {"/ISAPI/System/deviceInfo": "Hikvision"}),
    Field("cert_subject", "str", "TLS certificate subject (https)", "CN=DS-2CD2143G2-I"),
    Field("cert_issuer", "str", "TLS certificate issuer", "CN=DS-2CD2143G2-I"),
    Field("cert_self_signed", "bool", "the certificate signs itself", True, kept="for a person"),
    Field("cert_not_after", "str", "certificate expiry (ISO time)", "2031-01-01T00:00:00Z", kept="for a person"),
    Field("cert_sha256", "str", "SHA-256 of the certificate (DER), lower-case hex: a default certificate baked "
          "into a firmware image names that firmware's origin",
          "726dafa7bbc22df34b7061c220d0280717aa6849718a2e7c3e5f78468bc8cafd"),
    Field("device_info", "record", "the identity a maker's own API handed out (`auditor/probes/vendorapi.py`): "
          "ISAPI `/ISAPI/System/deviceInfo` answered **without auth** (itself a weakness), Axis "
          "`basicdeviceinfo.cgi` getAllUnrestrictedProperties; a credentialed reader fills it from the others. "
          "Only the keys below", {
              "api": "isapi-device-info", "device_name": "IP CAMERA", "model": "DS-2CD2032-I",
              "serial": "DS-2CD2032-I20150908CCWR541234567", "firmware": "V5.3.0", "firmware_date": "build 150513",
              "mac": "c0:56:e3:12:34:56", "device_type": "IPCamera"}, record=(
        Field("api", "str", "which API answered: `isapi-device-info`, `axis-basicdeviceinfo`, `axis-param`, "
              "`dahua-magicbox`, `isapi-channels`, `dahua-remote-device`", "isapi-device-info"),
        Field("brand", "str", "the brand the firmware declares (Axis `Brand`)", "AXIS"),
        Field("device_name", "str", "deviceName (ISAPI), ProdFullName (Axis), machine name (Dahua)", "IP CAMERA"),
        Field("model", "str", "model (ISAPI), ProdNbr (Axis), deviceType or type (Dahua)", "DS-2CD2032-I"),
        Field("model_code", "str", "the maker's internal model/board code when it differs (Dahua updateSerial)",
              "IPC-HDW5830R-Z"),
        Field("device_type", "str", "the kind of device in the firmware's words (ISAPI deviceType, Axis ProdType)",
              "IPCamera"),
        Field("serial", "str", "serialNumber / SerialNumber (an Axis serial is its MAC)",
              "DS-2CD2032-I20150908CCWR541234567"),
        Field("firmware", "str", "firmwareVersion / Version", "V5.3.0"),
        Field("firmware_date", "str", "firmwareReleasedDate / BuildDate: joined to a version that carries no build "
              "date of its own (ISAPI's), so the build can be placed against an advisory's fixed build",
              "build 150513"),
        Field("mac", "str", "macAddress, normalised: the MAC the device reports for itself", "c0:56:e3:12:34:56"),
        Field("hardware_id", "str", "hardwareVersion / HardwareID", "0x0",
              kept="for a person: hardware revision"),
        Field("video", "bool", "the firmware declares video sources (false: a full capability list without any)",
              True),
        Field("channels", "int", "camera channels a recorder's channel list holds", 4),
    )),
), note="One observation per web port.")

PLAIN_PORTS: tuple[int, ...] = (80, 81, 88, 5000, 7001, 8080, 8081, 8888, 8899, 9000)
TLS_PORTS: tuple[int, ...] = (443, 8443)
VENDOR_PATHS: tuple[str, ...] = (
    "/doc/page/login.asp",  # Hikvision web UI
    "/ISAPI/System/deviceInfo",  # Hikvision ISAPI (401 with a realm; 200 = unauthenticated access)
    "/SDK/webLanguage",  # Hikvision
    "/RPC2_Login",  # Dahua JSON-RPC login endpoint (GET only: no login attempted)
)
MAX_HEADERS = 100


@dataclass(frozen=True)
class IdentityRequest:
    """A maker's unauthenticated identity endpoint, asked only where the address already points to that maker."""

    maker: str
    api: str
    """``vendorapi`` API name that parses the reply."""
    path: str
    method: str = "GET"
    body: bytes = b""
    content_type: str | None = None
    source: str = ""


IDENTITY_REQUESTS: tuple[IdentityRequest, ...] = (
    IdentityRequest(
        maker="Axis", api=vendorapi.AXIS_BASICDEVICEINFO, path="/axis-cgi/basicdeviceinfo.cgi", method="POST",
        body=vendorapi.AXIS_UNRESTRICTED_REQUEST, content_type="application/json",
        source="https://developer.axis.com/vapix/network-video/basic-device-information (getAllUnrestrictedProperties: "
               "anonymous access on by default, AXIS OS 8.40 and later)"),
)
"""Each is sent only to a web port of an address whose answers so far point to its maker (an Axis OUI, an
``AXIS_<serial>`` realm, a WS-Discovery name…: ``HostState.makers``), through the device's pacing like every
request; a device never hears another maker's API. (Hikvision's ISAPI deviceInfo is one of ``VENDOR_PATHS``,
asked of every web port: its status alone identifies.)"""


@dataclass
class HttpResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]


_STATUS = re.compile(rb"^(HTTP/\d(?:\.\d)?|RTSP/\d\.\d)\s+(\d{3})(?:\s+(.*))?$")


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, body) split at the blank line; None while the head is incomplete."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return data[:i], data[i + len(sep) :]
    return None


def parse_response(data: bytes) -> HttpResponse:
    """Parse an HTTP (or RTSP) reply; ``ValueError`` if it does not start with a status line.

    A reply cut off inside its headers is parsed as far as it goes.
    """
    parts = split_head(data)
    head, body = parts if parts is not None else (data, b"")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    m = _STATUS.match(lines[0].strip())
    if not m:
        raise ValueError("not an HTTP/RTSP status line")
    resp = HttpResponse(
        version=m.group(1).decode("ascii"),
        status=int(m.group(2)),
        reason=clean_text(m.group(3) or b"", 64),
    )
    for line in lines[1 : MAX_HEADERS + 1]:
        if b":" not in line:
            continue
        k, v = line.split(b":", 1)
        name = k.strip().decode("latin-1")
        if not name or not all(33 <= ord(c) < 127 for c in name):
            continue
        resp.headers.append((name[:64], clean_text(v.decode("latin-1"), 512)))
    te = (resp.header("Transfer-Encoding") or "").lower()
    resp.body = dechunk(body) if "chunked" in te else body
    return resp


def dechunk(body: bytes) -> bytes:
    """Best-effort chunked decoding; stops at the first malformed chunk."""
    out = bytearray()
    i = 0
    while i < len(body):
        j = body.find(b"\r\n", i)
        if j < 0:
            break
        try:
            size = int(body[i:j].split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            break
        if size <= 0:
            break
        out += body[j + 2 : j + 2 + size]
        i = j + 2 + size + 2
    return bytes(out)


def reply_complete(data: bytes) -> bool:
    """True once an HTTP/RTSP reply is whole (by Content-Length or chunk terminator)."""
    parts = split_head(data)
    if parts is None:
        return False
    head, body = parts
    m = re.search(rb"(?im)^content-length:\s*(\d{1,12})\s*$", head)  # int() refuses >4300 digits
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:.*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    status = _STATUS.match(head.split(b"\n", 1)[0].strip())
    if status and (status.group(1).startswith(b"RTSP") or status.group(2) in (b"204", b"304")):
        return True  # RTSP replies without Content-Length have no body
    return False


_AUTH = re.compile(r"^\s*([A-Za-z][\w-]*)(?:\s+(.*))?$")
_PARAM = re.compile(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_www_authenticate(values: Iterable[str]) -> tuple[str | None, str | None]:
    """(scheme, realm) from WWW-Authenticate values; prefers the first challenge with a realm."""
    scheme: str | None = None
    for value in values:
        m = _AUTH.match(value)
        if not m:
            continue
        this_scheme = m.group(1).capitalize() if m.group(1).lower() in ("basic", "digest") else m.group(1)
        scheme = scheme or this_scheme
        for pm in _PARAM.finditer(m.group(2) or ""):
            if pm.group(1).lower() == "realm":
                realm = pm.group(2) if pm.group(2) is not None else pm.group(3)
                return this_scheme, clean_text(realm or "")
    return scheme, None


_TITLE_OPEN = re.compile(rb"<title[^>]{0,256}>", re.I)
_TITLE_CLOSE = re.compile(rb"</title\s*>", re.I)


def extract_title(body: bytes) -> str | None:
    """Page title as plain text (entities decoded, whitespace collapsed); never interpreted as markup.

    Two bounded searches, not one lazy ``<title>(.*?)</title>``: that pattern rescans to
    the end of the body from every ``<title`` (quadratic), and 64 KB of ``<title>`` held
    the event loop, hence the whole scan, for seconds per reply.
    """
    body = body[:MAX_REPLY]
    m = _TITLE_OPEN.search(body)
    end = _TITLE_CLOSE.search(body, m.end()) if m else None
    if not m or not end:
        return None
    text = html.unescape(body[m.end() : end.start()].decode("utf-8", "replace"))
    text = clean_text(" ".join(text.split()))
    return text or None


def headers_upper(headers: list[tuple[str, str]]) -> bool:
    """True when the server sends header names in upper case (a Dahua web server tell)."""
    names = [k for k, _ in headers if any(c.isalpha() for c in k) and k.upper() not in ("P3P", "ETAG")]
    return len(names) >= 2 and all(k == k.upper() for k in names)


def parse_isapi_device_info(body: bytes) -> dict[str, Any]:
    """Fields of an ISAPI ``<DeviceInfo>`` document (served without auth by old firmware), as the
    ``device_info`` record; {} for another document.

    Raises ``UnsafeXML`` for hostile or malformed XML (see :mod:`auditor.probes.vendorapi`).
    """
    try:
        return vendorapi.parse_isapi_device_info(body).fields()
    except vendorapi.VendorReplyError:
        return {}


def certificate_fields(der: bytes) -> dict[str, Any]:
    """Observation fields of the server's TLS certificate (DER); ``ValueError`` if unreadable."""
    info = parse_certificate(der)
    fields: dict[str, Any] = {"cert_subject": clean_text(info.subject), "cert_issuer": clean_text(info.issuer),
                              "cert_self_signed": info.self_signed, "cert_sha256": hashlib.sha256(der).hexdigest()}
    if info.not_after:
        fields["cert_not_after"] = info.not_after
    return fields


def summarize_root(resp: HttpResponse) -> dict[str, Any]:
    """Observation fields taken from the reply to ``GET /``."""
    fields: dict[str, Any] = {"status": resp.status, "headers_upper": headers_upper(resp.headers)}
    server = resp.header("Server")
    if server:
        fields["server"] = clean_text(server)
    title = extract_title(resp.body)
    if title:
        fields["title"] = title
    scheme, realm = parse_www_authenticate(resp.all("WWW-Authenticate"))
    if scheme:
        fields["auth_scheme"] = scheme
    if realm:
        fields["realm"] = realm
        if form := challenge_form(resp.all("WWW-Authenticate")):
            fields["challenge"] = form
    p3p = resp.header("P3P")
    if p3p:
        fields["p3p"] = clean_text(p3p)
    location = resp.header("Location")
    if location and 300 <= resp.status < 400:
        fields["location"] = clean_text(location)
    return fields


@dataclass(frozen=True)
class PathReply:
    """What the probe keeps from the reply to one vendor path."""

    status: int
    auth_scheme: str | None = None
    realm: str | None = None
    device_info: dict[str, Any] | None = None
    """ISAPI ``DeviceInfo`` fields, when ``/ISAPI/System/deviceInfo`` answered 200."""
    warning: str | None = None
    challenge: str | None = None
    """The challenge's form (:func:`~auditor.probes.challenge.challenge_form`), with ``realm``."""


def summarize_path(path: str, resp: HttpResponse) -> PathReply:
    """Status, challenge and (for an open ISAPI ``deviceInfo``) identity from one vendor path's reply."""
    scheme, realm = parse_www_authenticate(resp.all("WWW-Authenticate"))
    info: dict[str, str] | None = None
    warning = None
    if path.startswith("/ISAPI/System/deviceInfo") and resp.status == 200:
        try:
            info = parse_isapi_device_info(resp.body) or None
        except UnsafeXML as exc:
            warning = str(exc)
    form = challenge_form(resp.all("WWW-Authenticate")) if realm else None
    return PathReply(resp.status, scheme if realm else None, realm, info, warning, form)


def raw_excerpt(data: bytes) -> str:
    """Head of the reply plus the start of the body, for a person to check."""
    return data[:RAW_EXCERPT_MAX].decode("utf-8", "replace")


class HttpProbe:
    name: ClassVar[str] = "http"

    def __init__(
        self,
        plain_ports: Iterable[int] = PLAIN_PORTS,
        tls_ports: Iterable[int] = TLS_PORTS,
        paths: Iterable[str] = VENDOR_PATHS,
        max_bytes: int = MAX_REPLY,
    ) -> None:
        self.plain_ports = tuple(plain_ports)
        self.tls_ports = tuple(tls_ports)
        self.paths = tuple(paths)
        self.max_bytes = max_bytes
        self._tls = insecure_tls_context() if self.tls_ports else None

    @property
    def service_ports(self) -> tuple[int, ...]:
        """The ports this probe speaks on, where open (the engine may leave their first connect to it)."""
        return (*self.plain_ports, *self.tls_ports)

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return

        async def speak(port: int, knocked: bool) -> None:
            await self._probe_port(ctx, host.ip, port, host, knocked=knocked)

        await host.serve_ports(self.service_ports, speak, first_done=host.web_ready)

    async def _probe_port(self, ctx: ProbeContext, ip: str, port: int, host: HostState | None = None, *,
                          knocked: bool = False) -> None:
        """``knocked``: this connect is the port's first (``HostState.knocks``): a port that refuses or stays
        silent is simply shut, no news; one that accepts and then fails (TLS) is reported as before."""
        tls = port in self.tls_ports
        fields: dict[str, Any] = {"port": port, "scheme": "https" if tls else "http"}
        warnings: list[str] = []
        settle = functools.partial(host.settle_knock, port) if knocked and host is not None else None
        conn = KeptConnection(self, ctx, ip, port, tls, settle=settle)
        keep = host is not None and host.wants_kept(port, tls)  # then no "Connection: close" on the last request
        try:
            try:
                got = await conn.get("/", last=not self.paths and not keep, want_cert=tls)
            except ConnectFailed as exc:
                if settle is None or exc.accepted:
                    ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, warning=f"connect failed: {exc}"))
                return
            data, note, cert = got
            if not data and note is not None and host is not None:
                host.mute_ports.add(port)  # accepted, then silent: see HostState.mute_ports
            if cert is not None:
                try:
                    fields.update(certificate_fields(cert))
                except ValueError as exc:
                    warnings.append(f"unreadable TLS certificate: {exc}")
            if note:
                warnings.append(note)
            try:
                resp = parse_response(data)
            except ValueError:
                if data:
                    warnings.append("not an HTTP reply")
                ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, raw=raw_excerpt(data),
                                     warning="; ".join(warnings) or "no HTTP reply"))
                return
            fields.update(summarize_root(resp))
            if conn.open or not self.paths:
                results = await self._paths_in_turn(ctx, conn, keep)
            else:
                results = await self._paths_side_by_side(ctx, ip, port, tls)
            if self.paths:
                self._add_paths(fields, warnings, results)
            if host is not None:
                await self._identity(ctx, conn, host, fields, warnings, keep)
        finally:
            if not (keep and conn.open and host is not None and host.keep(port, tls, conn)):
                await conn.close()
        ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, raw=raw_excerpt(data),
                             warning="; ".join(dict.fromkeys(warnings)) or None))

    async def _paths_in_turn(self, ctx: ProbeContext, conn: KeptConnection, keep: bool = False) -> list[Any]:
        """The vendor paths one after the other on the kept connection (one connection for all; ``keep``:
        left open after the last, for the ONVIF probe)."""
        results: list[Any] = []
        for i, path in enumerate(self.paths):
            if ctx.remaining() <= 0:
                break
            try:
                results.append(await conn.get(path, last=i == len(self.paths) - 1 and not keep))
            except ConnectFailed as exc:
                results.append(exc)
                if not exc.answered:
                    break  # the port stopped answering: do not knock again for every path
        return results + [ConnectFailed("not tried")] * (len(self.paths) - len(results))

    async def _paths_side_by_side(self, ctx: ProbeContext, ip: str, port: int, tls: bool) -> list[Any]:
        """A server that closes after every reply: one connection per path, side by side as far as the
        device's pacing allows (one at a time under ``--profile ot``, a few at once otherwise)."""

        async def one(path: str) -> Any:
            if ctx.remaining() <= 0:
                return ConnectFailed("not tried")
            alone = KeptConnection(self, ctx, ip, port, tls)
            try:
                return await alone.get(path, last=True)
            finally:
                await alone.close()

        return list(await asyncio.gather(*(one(p) for p in self.paths), return_exceptions=True))

    async def _identity(self, ctx: ProbeContext, conn: KeptConnection, host: HostState, fields: dict[str, Any],
                        warnings: list[str], keep: bool = False) -> None:
        """Ask the identity endpoints of the makers this address points to (``IDENTITY_REQUESTS``)."""
        wanted = [r for r in IDENTITY_REQUESTS if r.path not in fields.get("paths", {})]
        if not wanted or "device_info" in fields:
            return
        # Not waiting for the port probe: an open port is weak evidence, never a maker hint (tests/test_knowledge
        # asserts no port signature is stronger), so its findings cannot change which identity API is asked.
        makers = host.makers([Observation(ip=host.ip, probe=self.name, fields=dict(fields))])
        for req in (r for r in wanted if r.maker in makers):
            if ctx.remaining() <= 0:
                return
            try:
                data, note, _ = await conn.get(req.path, last=not keep, method=req.method, body=req.body,
                                               content_type=req.content_type)
                resp = parse_response(data)
            except (ConnectFailed, ValueError):
                continue
            fields.setdefault("paths", {})[req.path] = resp.status
            if note:
                warnings.append(f"{req.path}: {note}")
            if resp.status != 200:
                continue
            try:
                identity = vendorapi.parse_identity(req.api, resp.body)
            except ValueError as exc:  # not that API after all (a login page, a refused or hostile document)
                warnings.append(f"{req.path}: {str(exc)[:120]}")
                continue
            if info := identity.fields():
                fields["device_info"] = info
                return

    def _add_paths(self, fields: dict[str, Any], warnings: list[str], results: list[Any]) -> None:
        paths: dict[str, int] = {}
        realms: dict[str, str] = {}
        for path, res in zip(self.paths, results, strict=True):
            if isinstance(res, BaseException):
                continue
            data, note, _ = res
            try:
                resp = parse_response(data)
            except ValueError:
                continue
            if note:
                warnings.append(f"{path}: {note}")
            found = summarize_path(path, resp)
            paths[path] = found.status
            if found.realm:
                realms[path] = found.realm
                if "realm" not in fields:
                    fields.update(realm=found.realm, auth_scheme=found.auth_scheme)
                    if found.challenge:
                        fields["challenge"] = found.challenge
            if found.warning:
                warnings.append(f"{path}: {found.warning}")
            if found.device_info:
                fields["device_info"] = found.device_info
        fields["paths"] = paths
        if realms:
            fields["path_realms"] = realms

    async def _exchange(self, ctx: ProbeContext, stream: Stream, ip: str, port: int, path: str, *, tls: bool,
                        last: bool, method: str = "GET", body: bytes = b"",
                        content_type: str | None = None,
                        headers: dict[str, str] | None = None) -> tuple[bytes, str | None, bool]:
        """Send one request (GET, or a maker's identity POST) on ``stream``: (reply bytes, warning note or
        None, may the connection be reused). ``headers``: more request headers (a login's Authorization)."""
        await stream.request()
        default = 443 if tls else 80
        hostport = ip if port == default else f"{ip}:{port}"
        connection = "close" if last else "keep-alive"
        extra = ""
        if method != "GET":
            extra = f"Content-Length: {len(body)}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
        for name, value in (headers or {}).items():
            extra += f"{name}: {value}\r\n"
        stream.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: camaudit/{__version__}\r\n"
            f"Accept: */*\r\nAccept-Encoding: identity\r\n{extra}Connection: {connection}\r\n\r\n".encode("ascii")
            + body
        )
        t = budget(ctx)
        try:
            await asyncio.wait_for(stream.writer.drain(), t)
        except (TimeoutError, OSError):
            return b"", "could not send the request", False
        res = await read_reply(stream.reader, budget(ctx), cap=self.max_bytes, complete=reply_complete)
        note = None
        if res.truncated:
            note = f"reply over {self.max_bytes} bytes; kept the first {self.max_bytes}"
        elif res.timed_out and not split_head(res.data):
            note = f"no complete HTTP reply within {t:.1f}s"
        return res.data, note, not last and reusable(res.data, res.truncated or res.timed_out)


def reusable(data: bytes, cut: bool) -> bool:
    """May the next request go on the connection that carried this reply?

    Only after a whole reply (its length known and read) from a server that keeps
    connections: HTTP/1.1 without ``Connection: close``, or HTTP/1.0 with ``keep-alive``.
    """
    if cut or not reply_complete(data):
        return False
    parts = split_head(data)
    if parts is None:
        return False
    head = parts[0]
    if not re.search(rb"(?im)^content-length:|^transfer-encoding:.*chunked", head):
        return False
    tokens = {t.strip().lower() for m in re.finditer(rb"(?im)^connection:(.*)$", head) for t in m.group(1).split(b",")}
    if b"close" in tokens:
        return False
    return head.startswith(b"HTTP/1.1") or b"keep-alive" in tokens


class KeptConnection:
    """One web port's connection for a run of GETs: reopened (paced) only when it cannot be reused."""

    def __init__(self, probe: HttpProbe, ctx: ProbeContext, ip: str, port: int, tls: bool,
                 settle: Callable[[bool | None], None] | None = None) -> None:
        """``settle``: told what the first connect said of the port (``open_stream``)."""
        self.probe, self.ctx, self.ip, self.port, self.tls = probe, ctx, ip, port, tls
        self._settle = settle
        self._cm: Any = None
        self._stream: Stream | None = None

    @property
    def open(self) -> bool:
        """The connection is kept (the server answered with a reusable reply)."""
        return self._stream is not None

    def lend(self, probe: HttpProbe, ctx: ProbeContext) -> None:
        """Hand the open connection to another probe: its requests are paced and counted as that probe's,
        read with its caps (``HostState.keep``: the web probe's connection, taken over by ONVIF)."""
        self.probe, self.ctx = probe, ctx
        if self._stream is not None:
            self._stream.paced.probe = ctx.probe or self._stream.paced.probe

    async def get(self, path: str, *, last: bool, want_cert: bool = False, method: str = "GET", body: bytes = b"",
                  content_type: str | None = None,
                  headers: dict[str, str] | Callable[[], dict[str, str]] | None = None,
                  ) -> tuple[bytes, str | None, bytes | None]:
        """``headers``: more request headers, or a function giving them for each send (a Digest
        Authorization must not be sent twice: a request resent on a fresh connection gets a new one)."""
        """(reply bytes, warning note or None, DER certificate or None); raises ``ConnectFailed``."""
        cert: bytes | None = None
        reused = self._stream is not None
        if self._stream is None:
            cert = await self._open(want_cert)

        async def send(stream: Stream) -> tuple[bytes, str | None, bool]:
            return await self.probe._exchange(self.ctx, stream, self.ip, self.port, path, tls=self.tls, last=last,
                                              method=method, body=body, content_type=content_type,
                                              headers=headers() if callable(headers) else headers)

        try:
            assert self._stream is not None
            data, note, keep = await send(self._stream)
            if reused and not data and note is None:
                # The server had closed the idle connection before our request reached it
                # (RFC 9112 §9.3.1): send it once more on a fresh connection.
                await self.close()
                cert = await self._open(want_cert)
                assert self._stream is not None
                data, note, keep = await send(self._stream)
        except BaseException:
            await self.close()
            raise
        if not keep:
            await self.close()
        return data, note, cert

    async def _open(self, want_cert: bool) -> bytes | None:
        settle, self._settle = self._settle, None
        cm = open_stream(self.ctx, self.ip, self.port, tls=self.probe._tls if self.tls else None, settle=settle)
        self._stream = await cm.__aenter__()
        self._cm = cm
        if not want_cert:
            return None
        sslobj = self._stream.writer.get_extra_info("ssl_object")
        return sslobj.getpeercert(binary_form=True) if sslobj is not None else None

    async def close(self) -> None:
        cm, self._cm, self._stream = self._cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)
