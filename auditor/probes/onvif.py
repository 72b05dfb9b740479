"""ONVIF device-service probe (zeep on onvif-zeep's WSDL files).

Order per device: GetSystemDateAndTime (answerable without auth by design; gives the
clock offset), then GetDeviceInformation, GetNetworkInterfaces (the MAC of routed
cameras), GetScopes, GetHostname. Each call goes out without credentials first; when
the device answers "not authorised" and the credentials file has an entry for the
host, once more with a WS-Security UsernameToken digest whose Created time is the
device's clock (our clock + offset) — or, when the device refused the call with an HTTP
401 carrying a Digest challenge (firmware that authenticates ONVIF at the HTTP layer),
with HTTP Digest (``auditor/probes/httpauth.py``). Each call's outcome
(open/auth/denied/error) is recorded: whether a call needs auth is itself a policy input.
After one rejected login no further credentials are sent to that device by any probe
(cameras lock accounts: the device's login record in ``auditor/probes/pacing.py``).

Performance: the devicemgmt WSDL is parsed once per process (``device_document()``);
each device gets a ``zeep.Client`` built on that Document (tens of microseconds). zeep
only builds each request and decodes each reply; the exchange itself goes over the scan's
own paced, deadline-bounded HTTP connection (``auditor.probes.http``) on the event loop,
one keep-alive connection per device. (zeep's own transport used to run each call on a
worker thread through requests: with the threads' namespace pinning and the interpreter
lock that was a third of a 290-device scan's processor time.) Sockets are opened by the
scan's thread, so a scan running inside a lab namespace never sends from the root one.

Safety: no redirects, no proxies from the environment, no remote WSDL/XSD loads,
replies capped and pre-parsed by ``auditor.xmlsafe`` (no DTD, no entities) before
zeep (itself configured with ``forbid_dtd``/``forbid_entities``/``forbid_external``)
sees them. onvif-zeep's ``onvif.client`` is never imported (it configures logging at
import); zeep is imported lazily inside the probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.util
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..mac import normalise_mac
from ..models import Observation
from ..text import clean_or_none, clean_text
from ..xmlsafe import UnsafeXML, parse_xml
from . import httpauth
from .base import HostState, ProbeContext
from .contract import Field, ProbeFields
from .http import HttpProbe, KeptConnection, parse_response, reply_complete, split_head
from .pacing import HostGivenUp
from .streams import ConnectFailed, budget

FIELDS = ProbeFields("onvif", (
    Field("xaddr", "str", "the device service URL that answered", "http://198.18.0.11/onvif/device_service"),
    Field("xaddr_source", "str", "`wsdiscovery` when the XAddr came from a WS-Discovery ProbeMatch", "wsdiscovery",
          kept="for a person"),
    Field("clock_offset_s", "float", "device clock − our clock (GetSystemDateAndTime)", -3.5),
    Field("manufacturer", "str", "GetDeviceInformation Manufacturer", "HIKVISION"),
    Field("model", "str", "Model", "DS-2CD2143G2-I"),
    Field("firmware", "str", "FirmwareVersion", "V5.7.3 build 220112"),
    Field("serial", "str", "SerialNumber", "DS-2CD2143G2-I20210315AAWRG12345678"),
    Field("hardware_id", "str", "HardwareId", "88", kept="for a person"),
    Field("hostname", "str", "GetHostname Name", "cam-lobby"),
    Field("macs", "list[str]", "GetNetworkInterfaces HwAddress, normalised", ["c0:56:e3:12:34:56"]),
    Field("scopes", "list[str]", "GetScopes ScopeItem", ["onvif://www.onvif.org/name/HIKVISION"]),
    Field("calls", "map[str]", "call → `open` (answered without credentials) | `auth` (needed, and the credentials "
          "file's worked) | `denied` (needed; none or wrong) | `error` (fault, timeout)",
          {"GetSystemDateAndTime": "open", "GetDeviceInformation": "auth"}),
    Field("auth_used", "bool", "credentials were sent in at least one call", True, kept="for a person"),
    Field("auth_method", "str", "how the credentials went: `wsse` (WS-Security UsernameToken digest) or `http-digest` "
          "(the device asked for HTTP Digest with a 401)", "http-digest", kept="for a person"),
    Field("video_sources", "int", "a recorder's video inputs as its ONVIF media service lists them "
          "(GetCapabilities → Media XAddr → GetVideoSources): how many channels it records, not which cameras", 8),
), note="Calls are made in the order GetSystemDateAndTime, GetDeviceInformation, GetNetworkInterfaces, "
        "GetScopes, GetHostname; on a recorder (its scopes or model say so) then GetCapabilities and the media "
        "service's GetVideoSources. A call missing from `calls` was not attempted (deadline, or the device stopped "
        "answering). After one rejected digest the remaining calls are `denied` without offering credentials again. "
        "The probe only talks to `host.ip`: XAddrs naming another address or a hostname are ignored.")

DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
MEDIA_BINDING = "{http://www.onvif.org/ver10/media/wsdl}MediaBinding"
MEDIA_CALLS: tuple[str, ...] = ("GetCapabilities", "GetVideoSources")
"""Asked of a recorder after CALLS: its media service's address, then its video inputs (its channels)."""
MAX_VIDEO_SOURCES = 1024
_RECORDER = re.compile(r"NVR|DVR|XVR|HVR|HCVR|NVS|network_video_storage|/type/recorder", re.IGNORECASE)
ONVIF_PORTS: tuple[int, ...] = (80, 8899, 8080)
"""Open ports tried (in order) when WS-Discovery gave no XAddr for the host."""
DEVICE_PATH = "/onvif/device_service"
CALLS: tuple[str, ...] = (
    "GetSystemDateAndTime",
    "GetDeviceInformation",
    "GetNetworkInterfaces",
    "GetScopes",
    "GetHostname",
)
MAX_SOAP_REPLY = 256 * 1024
MAX_XADDRS = 3

# ------------------------------------------------------------------ zeep, once per process

_DOC_LOCK = threading.Lock()
_DOC: Any = None
_MEDIA_DOC: Any = None
DOCUMENT_BUILD_SECONDS: float | None = None
"""How long parsing the WSDL took (set once, for the benchmark and the report)."""


class HostileReply(Exception):
    """The reply was refused before zeep saw it (oversize, DTD/entities, malformed, dripping)."""


class NotSoap(Exception):
    """The reply is not XML at all (an HTML page, an empty 401): no SOAP service answered."""

    def __init__(self, status_code: int, challenge: str | None = None) -> None:
        super().__init__(f"HTTP {status_code} without a SOAP body")
        self.status_code = status_code
        self.challenge = challenge
        """The ``WWW-Authenticate`` header of a 401 (HTTP-layer authentication), if any."""


def wsdl_dir() -> Path:
    """onvif-zeep's installed WSDL directory, found without importing ``onvif`` (import side effects)."""
    spec = importlib.util.find_spec("onvif")
    if spec is None or spec.origin is None:
        raise RuntimeError("onvif-zeep is not installed")
    path = Path(spec.origin).resolve().parent.parent / "wsdl"
    if not (path / "devicemgmt.wsdl").is_file():
        raise RuntimeError(f"devicemgmt.wsdl not found in {path}")
    return path


def zeep_settings() -> Any:
    import zeep

    return zeep.Settings(strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
                         forbid_external=True)


@functools.cache
def _transport_class() -> type:
    """The zeep transport for loading the WSDL files: local files only, never the network.

    zeep sends nothing through it: the probe posts each request itself (``OnvifProbe._call``)."""
    from zeep.exceptions import TransportError
    from zeep.transports import Transport

    class LocalTransport(Transport):  # type: ignore[misc]
        def load(self, url: str) -> bytes:
            if urlsplit(url).scheme not in ("", "file"):
                raise TransportError(f"remote schema load refused: {url[:100]}")
            return bytes(super().load(url))

        def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
            raise TransportError("camaudit posts ONVIF requests itself")

    return LocalTransport


def check_reply(content_type: str, body: bytes, cap: int = MAX_SOAP_REPLY, status: int = 200,
                challenge: str | None = None) -> None:
    """Run anything that claims to be XML through the hardened parser first.

    Raises ``HostileReply`` for refused XML, ``NotSoap`` for a reply that is not XML at all.
    """
    head = body[:512].lstrip()
    looks_xml = "xml" in content_type.lower() or head.startswith(b"<?xml") or b"Envelope" in head
    if not looks_xml:
        raise NotSoap(status, challenge)
    try:
        parse_xml(body, max_bytes=cap)
    except UnsafeXML as exc:
        raise HostileReply(str(exc)) from None


def device_document() -> Any:
    """The devicemgmt WSDL parsed once per process (thread-safe, lazy)."""
    global _DOC, DOCUMENT_BUILD_SECONDS
    with _DOC_LOCK:
        if _DOC is None:
            from zeep.wsdl import Document

            t0 = time.perf_counter()
            _DOC = Document(str(wsdl_dir() / "devicemgmt.wsdl"), _transport_class()(), settings=zeep_settings())
            DOCUMENT_BUILD_SECONDS = time.perf_counter() - t0
        return _DOC


def media_document() -> Any:
    """The media WSDL parsed once per process, when a recorder's video sources are first asked for."""
    global _MEDIA_DOC
    with _DOC_LOCK:
        if _MEDIA_DOC is None:
            from zeep.wsdl import Document

            _MEDIA_DOC = Document(str(wsdl_dir() / "media.wsdl"), _transport_class()(), settings=zeep_settings())
        return _MEDIA_DOC


@functools.cache
def _token_class() -> type:
    from zeep.wsse.username import UsernameToken

    class OffsetUsernameToken(UsernameToken):  # type: ignore[misc]
        """UsernameToken digest whose Created is the device's clock (ours + offset)."""

        def __init__(self, username: str, password: str, offset_s: Callable[[], float]) -> None:
            super().__init__(username, password, use_digest=True, zulu_timestamp=True)
            self._offset_s = offset_s

        def __repr__(self) -> str:
            return f"OffsetUsernameToken(username={self.username!r}, password='***')"

        def _create_password_digest(self) -> Any:
            self.created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._offset_s())
            return super()._create_password_digest()

    return OffsetUsernameToken


def make_service(xaddr: str, wsse: Any = None, media: bool = False) -> Any:
    """A device-service (or, ``media``, media-service) proxy bound to ``xaddr``, built on the shared Document:
    it builds requests (with the WS-Security token, when given) and decodes replies."""
    import zeep

    document = media_document() if media else device_document()
    client = zeep.Client(document, transport=_transport_class()(), wsse=wsse, settings=zeep_settings())
    return client.create_service(MEDIA_BINDING if media else DEVICE_BINDING, xaddr)


def decode_reply(service: Any, operation: str, content: bytes, status: int = 200,
                 content_type: str = "application/soap+xml; charset=utf-8", challenge: str | None = None) -> Any:
    """A SOAP reply's result: the hardened check first (``check_reply``), then zeep.

    Raises ``HostileReply``, ``NotSoap``, ``zeep.exceptions.Fault`` or ``TransportError``."""
    import requests

    check_reply(content_type, content, status=status, challenge=challenge)
    binding = service._binding
    resp = requests.Response()  # zeep reads status_code, headers and content
    resp.status_code = status
    resp._content = content
    resp.headers["Content-Type"] = content_type
    return binding.process_reply(service._client, binding.get(operation), resp)


@functools.cache
def _recorded_service() -> Any:
    return make_service("http://127.0.0.1/onvif/device_service")


def parse_reply(operation: str, content: bytes, status: int = 200,
                content_type: str = "application/soap+xml; charset=utf-8") -> Any:
    """Decode a recorded SOAP reply exactly as a live call would (hardened check, then zeep).

    Raises ``HostileReply``, ``zeep.exceptions.Fault`` or ``TransportError`` like a live call.
    """
    return decode_reply(_recorded_service(), operation, content, status, content_type)


# ------------------------------------------------------------------ pure interpretation


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


_AUTH_FAULT = re.compile(r"not\s*authori[sz]ed|unauthori[sz]ed|authority|authenticat|sender not auth|password",
                         re.I)


_LOCK_FAULT = re.compile(r"\block(?:ed|out)?\b|too many", re.I)
"""An ONVIF fault (or its note) that says the account or the client is locked out."""


def classify_error(exc: BaseException) -> tuple[str, str | None]:
    """(kind, warning or None) for a failed call.

    kinds: ``auth_needed`` (device refused: not authorised), ``fault`` (other SOAP fault),
    ``hostile`` (refused reply), ``not_soap`` (no SOAP service there), ``unreachable``.
    """
    from zeep.exceptions import Fault, TransportError, XMLParseError
    from zeep.exceptions import XMLSyntaxError as ZeepXMLSyntaxError

    if isinstance(exc, HostileReply):
        return "hostile", str(exc)
    if isinstance(exc, NotSoap):
        return ("auth_needed", None) if exc.status_code in (401, 403) else ("not_soap", None)
    if isinstance(exc, Fault):
        text = " ".join(str(x) for x in (exc.message, exc.code, exc.subcodes) if x)
        if _LOCK_FAULT.search(text):  # the device says the account (or this client) is locked: stop logging in
            return "auth_needed", f"fault mentions a lockout: {clean_text(text, 160)}"
        return ("auth_needed", None) if _AUTH_FAULT.search(text) else ("fault", None)
    if isinstance(exc, TransportError):
        if exc.status_code in (401, 403):
            return "auth_needed", None
        if exc.status_code == 200 and exc.content:
            return "hostile", "malformed SOAP reply"
        return "not_soap", None
    if isinstance(exc, ZeepXMLSyntaxError | XMLParseError | ValueError | SyntaxError):
        return "hostile", "malformed SOAP reply"
    if isinstance(exc, ConnectFailed | TimeoutError | OSError):
        return "unreachable", None
    return "fault", f"unexpected {type(exc).__name__}"


def device_time(sdt: Any) -> float | None:
    """Device clock as Unix time from a GetSystemDateAndTime result (UTC, else local as if UTC)."""
    for key in ("UTCDateTime", "LocalDateTime"):
        d = _get(sdt, key, "Date")
        t = _get(sdt, key, "Time")
        if d is None or t is None:
            continue
        try:
            stamp = dt.datetime(int(d.Year), int(d.Month), int(d.Day), int(t.Hour), int(t.Minute),
                                int(t.Second), tzinfo=dt.UTC)
        except (TypeError, ValueError, AttributeError, OverflowError):  # Year past a C int overflows
            continue
        return stamp.timestamp()
    return None


def _sequence(value: Any) -> list[Any]:
    """A list result as a list; anything else (a device that answered another operation's
    document, which zeep decodes to an object) as no items."""
    return list(value) if isinstance(value, list | tuple) else []


def interpret(op: str, value: Any) -> dict[str, Any]:
    """Observation fields from one call's decoded result."""
    if op == "GetDeviceInformation":
        out = {}
        for src, dst in (("Manufacturer", "manufacturer"), ("Model", "model"), ("FirmwareVersion", "firmware"),
                         ("SerialNumber", "serial"), ("HardwareId", "hardware_id")):
            text = clean_or_none(_get(value, src))
            if text:
                out[dst] = text
        return out
    if op == "GetNetworkInterfaces":
        macs = []
        for iface in _sequence(value)[:16]:
            mac = normalise_mac(_get(iface, "Info", "HwAddress"))
            if mac and mac not in macs:
                macs.append(mac)
        return {"macs": macs} if macs else {}
    if op == "GetScopes":
        scopes = [s for s in (clean_or_none(_get(item, "ScopeItem")) for item in _sequence(value)[:64]) if s]
        return {"scopes": scopes} if scopes else {}
    if op == "GetHostname":
        name = clean_or_none(_get(value, "Name"))
        return {"hostname": name} if name else {}
    return {}


# ------------------------------------------------------------------ the probe


@dataclass
class CallResult:
    kind: str
    """ok | auth_needed | fault | hostile | not_soap | unreachable"""
    value: Any = None
    note: str | None = None
    sent_at: float = 0.0
    received_at: float = 0.0
    challenge: str | None = None
    """The ``WWW-Authenticate`` of an HTTP 401 (the device authenticates ONVIF at the HTTP layer)."""

    def digest_challenge(self) -> httpauth.Challenge | None:
        """The Digest challenge of an HTTP 401 refusal, when there is one camaudit may answer."""
        if self.kind != "auth_needed" or not self.challenge:
            return None
        found = [c for c in httpauth.parse_challenges([self.challenge]) if c.scheme == "Digest"]
        try:
            return httpauth.choose(found, tls=False) if found else None
        except httpauth.AuthRefused:
            return None


@dataclass
class _Device:
    xaddr: str
    host: HostState | None = None
    offset_s: float = 0.0
    services: dict[str, Any] = field(default_factory=dict)
    """zeep service proxies (they build requests and decode replies), one per kind of call: ``service``."""
    connections: dict[tuple[int, bool], KeptConnection] = field(default_factory=dict)
    """The device's keep-alive connection per (port, TLS): every call to that port goes on it."""
    http_auth: httpauth.Attempt | None = None
    """Set once the device asked for HTTP Digest: the account's attempt every credentialed call reuses."""
    media_xaddr: str | None = None
    """The media service's URL (GetCapabilities), once known: only ever one naming the device itself."""
    last_challenge: str | None = None
    """The ``WWW-Authenticate`` of the last HTTP 401 the device answered."""

    @property
    def ip(self) -> str:
        """The device's address (``targets`` only keeps XAddrs naming the host itself)."""
        return urlsplit(self.xaddr).hostname or ""

    def kind(self, cred: Any, media: bool = False) -> str:
        return ("media-" if media else "") + ("none" if cred is None else "digest" if self.http_auth is not None
                                              else "wsse")

    def service(self, cred: Any, media: bool = False) -> Any:
        """The proxy without credentials (cred None), with a WS-Security token, or for HTTP Digest once the
        device asked for it (``http_auth`` set). ``media``: the media service's proxy (at ``media_xaddr``)."""
        key = self.kind(cred, media)
        if key not in self.services:
            wsse = _token_class()(cred.username, cred.password, lambda: self.offset_s) if key.endswith("wsse") else None
            xaddr = self.media_xaddr if media and self.media_xaddr else self.xaddr
            self.services[key] = make_service(xaddr, wsse=wsse, media=media)
        return self.services[key]

    def connection(self, ctx: ProbeContext, transport: HttpProbe, address: str) -> KeptConnection:
        """The connection to ``address``'s port: the web probe's, when it left it open (``HostState.keep``)."""
        parts = urlsplit(address)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        if (port, tls) not in self.connections:
            conn = self.host.take_kept(port, tls) if self.host is not None else None
            if conn is not None:
                conn.lend(transport, ctx)
            else:
                conn = KeptConnection(transport, ctx, self.ip, port, tls)
            self.connections[(port, tls)] = conn
        return self.connections[(port, tls)]

    async def close(self) -> None:
        for conn in self.connections.values():
            await conn.close()


def _cut_short(data: bytes) -> bool:
    """A reply whose headers promised more body (a length, chunks) than came before the time ran out."""
    parts = split_head(data)
    if parts is None or reply_complete(data):
        return False
    return bool(re.search(rb"(?im)^content-length:|^transfer-encoding:.*chunked", parts[0]))


class OnvifProbe:
    name: ClassVar[str] = "onvif"
    after_web: ClassVar[bool] = True
    """Runs as soon as the HTTP probe is done with the device (the engine): ONVIF is SOAP over the same
    web servers, so it takes over the web probe's open connection to one of ``web_endpoints`` (``HostState.keep``),
    and a port that gave the HTTP probe nothing (``HostState.mute_ports``) is not tried."""

    def web_endpoints(self, host: HostState) -> frozenset[tuple[int, bool]]:
        """(port, TLS) of every web server this probe may speak SOAP to on ``host`` (its XAddrs', its ports)."""
        found = {(p, False) for p in self.ports}
        for xaddr in host.xaddrs:
            parts = urlsplit(str(xaddr).strip())
            with contextlib.suppress(ValueError):
                if parts.scheme in ("http", "https") and parts.hostname == host.ip:
                    found.add((parts.port or (443 if parts.scheme == "https" else 80), parts.scheme == "https"))
        return frozenset(found)

    def __init__(self, ports: Iterable[int] = ONVIF_PORTS, path: str = DEVICE_PATH) -> None:
        self.ports = tuple(ports)
        self.path = path
        self._http = HttpProbe(paths=(), max_bytes=MAX_SOAP_REPLY)
        """The web probe's paced keep-alive HTTP client, as this probe's transport."""

    # -- targets

    def targets(self, ctx: ProbeContext, host: HostState) -> list[tuple[str, bool]]:
        """(xaddr, from_discovery) to try: the host's own WS-Discovery XAddrs, then open ONVIF-ish ports.

        XAddrs naming another address, a hostname, or a non-HTTP scheme are skipped: the
        probe only ever talks to ``host.ip``.
        """
        out: list[tuple[str, bool]] = []
        for xaddr in getattr(host, "xaddrs", None) or []:
            try:
                parts = urlsplit(str(xaddr).strip())
                if parts.scheme not in ("http", "https") or parts.hostname is None:
                    continue
                if ipaddress.ip_address(parts.hostname) != ipaddress.ip_address(host.ip):
                    continue
                _ = parts.port  # raises ValueError on a bad port
            except ValueError:
                continue
            url = parts.geturl()
            if url not in (u for u, _ in out):
                out.append((url, True))
        for port in self.ports:
            if host.port_open(port) and port not in host.mute_ports:
                url = f"http://{host.ip}{'' if port == 80 else f':{port}'}{self.path}"
                if url not in (u for u, _ in out):
                    out.append((url, False))
        return out[:MAX_XADDRS]

    # -- one SOAP call

    async def _call(self, ctx: ProbeContext, dev: _Device, op: str, cred: Any, media: bool = False) -> CallResult:
        """One operation: zeep builds the request, the device's paced connection carries it, zeep decodes."""
        t = budget(ctx)
        if t <= 0:
            return CallResult("unreachable", note="scan deadline reached")
        service = dev.service(cred, media)
        address = service._binding_options["address"]
        parts = urlsplit(address)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            envelope, http_headers = service._binding._create(op, (), {}, client=service._client,
                                                               options=service._binding_options)
            from zeep.wsdl.utils import etree_to_string

            body = etree_to_string(envelope)
        except Exception as exc:  # zeep refused to build it (e.g. a WS-Security token): nothing was sent
            return CallResult("fault", note=f"request not built: {type(exc).__name__}")
        headers = {str(k): str(v) for k, v in http_headers.items() if str(k).lower() != "content-type"}
        content_type = http_headers.get("Content-Type", "application/soap+xml; charset=utf-8")
        auth = dev.http_auth if dev.kind(cred, media).endswith("digest") else None

        def request_headers() -> dict[str, str]:  # a fresh Digest Authorization for each send
            return {**headers, "Authorization": auth.header("POST", path)} if auth is not None else headers

        conn = dev.connection(ctx, self._http, address)
        sent = time.time()
        try:
            data, note, _ = await conn.get(path, last=False, method="POST", body=body, content_type=content_type,
                                           headers=request_headers)
        except ConnectFailed as exc:  # refused, silent, a failed TLS handshake, or a device given up
            return CallResult("unreachable", note=str(exc) if "stopped answering" in str(exc) else None,
                              sent_at=sent, received_at=time.time())
        received = time.time()
        if note is not None and data and note.startswith("reply over"):
            return CallResult("hostile", note=f"SOAP reply over {MAX_SOAP_REPLY} bytes", sent_at=sent,
                              received_at=received)
        if not data:
            return CallResult("unreachable", sent_at=sent, received_at=received)
        if _cut_short(data):  # a device dripping its reply is cut off at the timeout
            return CallResult("hostile", note=f"SOAP reply still arriving after {t:.1f}s", sent_at=sent,
                              received_at=received)
        try:
            resp = parse_response(data)
        except ValueError:
            return CallResult("not_soap", note=None, sent_at=sent, received_at=received)
        challenge = resp.header("WWW-Authenticate") if resp.status == 401 else None
        dev.last_challenge = challenge
        try:
            value = decode_reply(service, op, resp.body, resp.status,
                                 resp.header("Content-Type") or "", challenge)
        except Exception as exc:  # zeep, lxml, the hardened parser: all become a classified result
            kind, why = classify_error(exc)
            return CallResult(kind, note=why, sent_at=sent, received_at=received,
                              challenge=challenge if kind == "auth_needed" else None)
        return CallResult("ok", value=value, sent_at=sent, received_at=received)

    # -- per host

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return
        targets = self.targets(ctx, host)
        if not targets:
            return
        try:
            await self._probe(ctx, host, targets)
        except HostGivenUp:
            return  # the device stopped answering earlier in the scan (recorded by the engine)
        except Exception as exc:  # never let one device stop the scan
            ctx.emit(Observation(ip=host.ip, probe=self.name, fields={},
                                 warning=f"ONVIF probe failed: {type(exc).__name__}"))

    async def _probe(self, ctx: ProbeContext, host: HostState, targets: list[tuple[str, bool]]) -> None:
        first: CallResult | None = None
        dev: _Device | None = None
        discovered = False
        warnings: list[str] = []
        try:  # every device connection is closed here, also when the scan is cut short mid-call
            for xaddr, from_wsd in targets:
                dev = _Device(xaddr, host)
                first = await self._call(ctx, dev, CALLS[0], None)
                if first.kind not in ("not_soap", "unreachable"):
                    discovered = from_wsd
                    break
                if from_wsd:
                    warnings.append(f"WS-Discovery XAddr {clean_text(xaddr, 120)} did not answer ONVIF")
                await dev.close()
                dev = None
            if dev is None or first is None:
                if warnings:
                    ctx.emit(Observation(ip=host.ip, probe=self.name, fields={}, warning="; ".join(warnings)))
                return
            fields = await self._run_calls(ctx, host, dev, first, warnings)
        finally:
            if dev is not None:
                await dev.close()
        if discovered:
            fields["xaddr_source"] = "wsdiscovery"
        ctx.emit(Observation(ip=host.ip, probe=self.name, fields=fields,
                             raw=_raw_summary(fields), warning="; ".join(dict.fromkeys(warnings)) or None))

    async def _run_calls(self, ctx: ProbeContext, host: HostState, dev: _Device, first: CallResult,
                         warnings: list[str]) -> dict[str, Any]:
        cred = ctx.credentials.for_host(host.ip) if ctx.credentials is not None else None
        pacer = ctx.host(host.ip)
        calls: dict[str, str] = {}
        fields: dict[str, Any] = {"xaddr": dev.xaddr}
        auth_used = False
        creds_rejected = cred is not None and not pacer.may_log_in(cred.username)
        if creds_rejected:
            warnings.append("credentials not offered: the account was refused earlier in this scan, or the device "
                            "signalled a lockout")
        hostile_run = 0
        for op in CALLS:
            if op in calls:
                continue
            if ctx.remaining() <= 0:
                warnings.append("scan deadline reached before " + op)
                break
            res = first if op == CALLS[0] else await self._call(ctx, dev, op, None)
            outcome = "open"
            if res.kind == "auth_needed":
                if cred is not None and not creds_rejected:
                    if dev.http_auth is None and (challenge := res.digest_challenge()) is not None:
                        dev.http_auth = httpauth.Attempt(challenge, cred.username, cred.password,
                                                         tls=dev.xaddr.startswith("https:"))
                        fields["auth_method"] = "http-digest"
                    fields.setdefault("auth_method", "wsse")
                    auth_used = True
                    res = await self._call(ctx, dev, op, cred)
                    if res.kind == "auth_needed" and dev.http_auth is not None and \
                            (fresh := res.digest_challenge()) is not None and \
                            fresh.params.get("stale", "").lower() == "true":
                        # The nonce expired (the password was not refused): once more with the new one.
                        dev.http_auth = httpauth.Attempt(fresh, cred.username, cred.password,
                                                         tls=dev.xaddr.startswith("https:"))
                        dev.services.pop("digest", None)
                        res = await self._call(ctx, dev, op, cred)
                    if res.kind == "auth_needed":
                        creds_rejected = True
                        pacer.login(cred.username, False)
                        if res.note and _LOCK_FAULT.search(res.note):
                            pacer.locked_out(f"ONVIF {op}: {res.note}")
                        warnings.append("credentials rejected; not offered again")
                        outcome = "denied"
                    else:
                        if res.kind == "ok":
                            pacer.login(cred.username, True)
                        outcome = "auth"
                else:
                    outcome = "denied"
            if res.kind != "ok" and outcome != "denied":
                outcome = "error"
            calls[op] = outcome
            if res.note:
                warnings.append(f"{op}: {res.note}")
            if res.kind == "ok":
                if op == "GetSystemDateAndTime":
                    device_now = device_time(res.value)
                    if device_now is not None:
                        dev.offset_s = device_now - (res.sent_at + res.received_at) / 2
                        fields["clock_offset_s"] = round(dev.offset_s, 1)
                else:
                    fields.update(interpret(op, res.value))
            if res.kind == "unreachable":
                warnings.append(f"{op}: no answer; remaining calls skipped")
                break
            hostile_run = hostile_run + 1 if res.kind == "hostile" else 0
            if hostile_run >= 2 and op != CALLS[-1]:
                warnings.append("two hostile replies in a row; remaining calls skipped")
                break
        if self._is_recorder(fields, host) and not creds_rejected and ctx.remaining() > 0 and \
                calls.get("GetDeviceInformation") in ("open", "auth"):
            await self._video_sources(ctx, host, dev, cred if auth_used else None, calls, fields, warnings)
        fields["calls"] = calls
        fields["auth_used"] = auth_used
        return fields

    @staticmethod
    def _is_recorder(fields: dict[str, Any], host: HostState) -> bool:
        texts = [fields.get("model"), *(fields.get("scopes") or [])[:64]]
        texts += [o.fields.get(k) for o in host.seen for k in ("device_class", "device_type", "model")
                  if o.probe in ("sadp", "dhip")]
        texts += [t for o in host.seen if o.probe == "wsdiscovery" for t in (o.fields.get("scopes") or [])[:32]]
        return any(isinstance(t, str) and _RECORDER.search(t) for t in texts)

    async def _video_sources(self, ctx: ProbeContext, host: HostState, dev: _Device, cred: Any,
                             calls: dict[str, str], fields: dict[str, Any], warnings: list[str]) -> None:
        """A recorder's video inputs over ONVIF media: how many channels it records (not which cameras: the
        maker's own API says that). Asked with the credentials the device already accepted, never new ones."""
        res = await self._call(ctx, dev, "GetCapabilities", cred)
        calls["GetCapabilities"] = "auth" if res.kind == "ok" and cred is not None else \
            "open" if res.kind == "ok" else "denied" if res.kind == "auth_needed" else "error"
        if res.kind != "ok":
            return
        xaddr = clean_text(_get(res.value, "Media", "XAddr"), 512)
        parts = urlsplit(xaddr)
        try:
            same = parts.scheme in ("http", "https") and parts.hostname is not None and \
                ipaddress.ip_address(parts.hostname) == ipaddress.ip_address(host.ip)
            _ = parts.port
        except ValueError:
            same = False
        if not same:
            if xaddr:
                warnings.append(f"media service {xaddr[:120]} is not at the device's address: not asked")
            return
        dev.media_xaddr = parts.geturl()
        res = await self._call(ctx, dev, "GetVideoSources", cred, media=True)
        calls["GetVideoSources"] = "auth" if res.kind == "ok" and cred is not None else \
            "open" if res.kind == "ok" else "denied" if res.kind == "auth_needed" else "error"
        if res.kind == "ok":
            fields["video_sources"] = min(len(res.value or []), MAX_VIDEO_SOURCES)


def _raw_summary(fields: dict[str, Any]) -> str:
    keep = ("manufacturer", "model", "firmware", "serial", "hostname", "macs", "calls")
    return "; ".join(f"{k}={fields[k]}" for k in keep if k in fields)[:2048]
