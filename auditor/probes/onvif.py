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
each device gets a ``zeep.Client`` built on that Document (tens of microseconds).
zeep is synchronous, so calls run on a small thread pool; each worker thread joins
the calling thread's network namespace before it opens a socket, so a scan running
inside a lab namespace never sends from the root namespace.

Safety: no redirects, no proxies from the environment, no remote WSDL/XSD loads,
replies capped and pre-parsed by ``auditor.xmlsafe`` (no DTD, no entities) before
zeep (itself configured with ``forbid_dtd``/``forbid_entities``/``forbid_external``)
sees them. onvif-zeep's ``onvif.client`` is never imported (it configures logging at
import); zeep is imported lazily inside the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import heapq
import importlib.util
import ipaddress
import os
import re
import socket
import threading
import time
import weakref
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
from .daemon_pool import DaemonThreadPool
from .pacing import HostGivenUp, thread_connecting
from .streams import budget

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
THREADS = 16
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


_WATCH = threading.local()
"""Per worker thread: the list the current ``post`` collects its sockets in (see ``_watched_adapter``)."""


def _watch(sock: Any) -> None:
    socks = getattr(_WATCH, "socks", None)
    if socks is not None and sock is not None:
        socks.append(sock)


class _Watchdog:
    """One daemon thread that fires every pending deadline (a heap), instead of a thread per request.

    Starting a ``threading.Timer`` for each SOAP call cost a thread start per call: at a
    thousand cameras that was a tenth of the ONVIF workers' time.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._pending: set[int] = set()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float, fire: Callable[[], None]) -> int:
        with self._cond:
            self._seq += 1
            self._pending.add(self._seq)
            heapq.heappush(self._heap, (time.monotonic() + seconds, self._seq, fire))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="camaudit-onvif-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._seq

    def cancel(self, handle: int) -> None:
        with self._cond:
            self._pending.discard(handle)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, handle, fire = self._heap[0]
                if handle not in self._pending:  # cancelled: drop it
                    heapq.heappop(self._heap)
                    continue
                left = when - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                self._pending.discard(handle)
            with contextlib.suppress(Exception):
                fire()


_WATCHDOG = _Watchdog()


def _cut(socks: list[Any], fired: threading.Event) -> None:
    """Shut the sockets down from the watchdog thread: a read blocked in the worker returns at once."""
    fired.set()
    for sock in socks:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain call, also under an SSLSocket


@functools.cache
def _watched_pools() -> tuple[type, type]:
    """urllib3 connection pools (HTTP, HTTPS) whose connections report their sockets to ``_WATCH`` on
    connect and per request, and wait for the scan's global rate before connecting.

    requests' timeouts bound each recv, not the reply: a device dripping a byte just
    inside the timeout (in the headers or the body) held a pool thread for as long as it
    liked, and a handful of such devices starved every other device's ONVIF calls.
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched:
        """Registers the connection's socket with the watchdog on connect and on each response."""

        sock: Any

        def connect(self) -> None:
            thread_connecting()  # the scan's global rate paces every connection the library opens
            super().connect()  # type: ignore[misc]
            _watch(self.sock)

        def getresponse(self) -> Any:
            _watch(self.sock)
            return super().getresponse()  # type: ignore[misc]

    class WatchedHTTP(Watched, HTTPConnection):  # type: ignore[misc]
        pass

    class WatchedHTTPS(Watched, HTTPSConnection):  # type: ignore[misc]
        pass

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPS

    return HTTPPool, HTTPSPool


@functools.cache
def _watched_adapter() -> type:
    """A requests adapter on the watched pools (for anything zeep sends through its session itself)."""
    from requests.adapters import HTTPAdapter

    http_pool, https_pool = _watched_pools()

    class WatchedAdapter(HTTPAdapter):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    return WatchedAdapter


def _device_pool(session: Any, address: str) -> Any:
    """The watched urllib3 pool for ``address``, one per device session (its keep-alive connection).

    SOAP calls go straight to it, not through ``requests.Session.post``: preparing and merging a
    request cost more of the scan's one interpreter lock than the call itself, at thousands of calls.
    """
    parts = urlsplit(address)
    key = (parts.scheme, parts.hostname, parts.port)
    pools: dict[Any, Any] = session.__dict__.setdefault("camaudit_pools", {})
    pool = pools.get(key)
    if pool is None:
        http_pool, https_pool = _watched_pools()
        if parts.scheme == "https":
            pool = https_pool(parts.hostname, parts.port or 443, maxsize=1, cert_reqs="CERT_NONE",
                              assert_hostname=False)
        else:
            pool = http_pool(parts.hostname, parts.port or 80, maxsize=1)
        pools[key] = pool
    return pool


def close_pools(session: Any) -> None:
    for pool in session.__dict__.pop("camaudit_pools", {}).values():
        with contextlib.suppress(Exception):
            pool.close()


def _post(session: Any, address: str, message: bytes, headers: dict[str, str], t: float, cap: int,
          end: float, on_answer: Callable[[], None]) -> Any:
    """POST ``message`` on the device's watched pool; a ``requests.Response`` with the body read (capped).

    urllib3's errors come out as the requests exceptions zeep and ``classify_error`` expect.
    """
    import requests
    import urllib3
    from urllib3.exceptions import ConnectTimeoutError as U3ConnectTimeout
    from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

    parts = urlsplit(address)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    merged = dict(session.headers)
    merged.update(headers)
    pool = _device_pool(session, address)
    try:
        raw = pool.urlopen("POST", path, body=message, headers=merged, retries=False, redirect=False,
                           timeout=urllib3.Timeout(connect=t, read=t), preload_content=False,
                           assert_same_host=False)
        on_answer()
        try:
            buf = bytearray()
            for chunk in raw.stream(16384, decode_content=False):
                buf += chunk
                if len(buf) > cap:
                    raise HostileReply(f"SOAP reply over {cap} bytes")
                if time.monotonic() > end:
                    raise HostileReply(f"SOAP reply still arriving after {t:.1f}s")
        except BaseException:
            raw.close()
            raise
        raw.release_conn()
    except NewConnectionError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except U3ConnectTimeout as exc:
        raise requests.exceptions.ConnectTimeout(exc) from None
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except (ProtocolError, HTTPError, OSError) as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    resp = requests.Response()
    resp.status_code = raw.status
    resp.headers = requests.structures.CaseInsensitiveDict(raw.headers)
    resp._content = bytes(buf)
    resp._content_consumed = True
    resp.url = address
    resp.encoding = requests.utils.get_encoding_from_headers(resp.headers)
    return resp


@functools.cache
def _transport_class() -> type:
    """zeep Transport that never loads remote documents, never follows redirects, caps replies."""
    import requests
    from zeep.exceptions import TransportError
    from zeep.transports import Transport

    adapter = _watched_adapter()
    # Cameras use self-signed certificates; the probe reads what they say, it does not trust them.
    # urllib3 would print a warning per request onto the operator's terminal and cron mail.
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    class SafeTransport(Transport):  # type: ignore[misc]
        def __init__(self, timeout: float = 2.0, cap: int = MAX_SOAP_REPLY,
                     session: requests.Session | None = None) -> None:
            super().__init__(timeout=timeout, operation_timeout=timeout, session=session)
            self.cap = cap
            self.http_auth: httpauth.Attempt | None = None
            """HTTP Digest for a device that authenticates ONVIF at the HTTP layer (one account's attempt)."""
            self.last_challenge: str | None = None
            """The ``WWW-Authenticate`` of the last 401 this transport received."""
            self.session.trust_env = False  # no proxies from the environment: packets go to the device only
            self.session.verify = False
            self.session.headers["Accept-Encoding"] = "identity"
            self.session.headers["User-Agent"] = "camaudit"
            if not isinstance(self.session.get_adapter("http://device/"), adapter):
                for prefix in ("http://", "https://"):
                    self.session.mount(prefix, adapter())

        def load(self, url: str) -> bytes:
            if urlsplit(url).scheme not in ("", "file"):
                raise TransportError(f"remote schema load refused: {url[:100]}")
            return bytes(super().load(url))

        def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
            t = float(self.operation_timeout or 2.0)
            end = time.monotonic() + t
            socks: list[Any] = []
            fired = threading.Event()
            # the whole exchange, not each recv, gets t
            watchdog = _WATCHDOG.start(t, functools.partial(_cut, socks, fired))
            _WATCH.socks = socks
            answered = [False]
            if self.http_auth is not None:
                parts = urlsplit(address)
                uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                headers = {**headers, "Authorization": self.http_auth.header("POST", uri)}
            try:
                resp = _post(self.session, address, message, headers, t, self.cap, end,
                             lambda: answered.__setitem__(0, True))
            except requests.RequestException:
                if fired.is_set() and answered[0]:
                    raise HostileReply(f"SOAP reply still arriving after {t:.1f}s") from None
                raise  # cut before the headers were whole: no answer, like a silent port
            finally:
                _WATCHDOG.cancel(watchdog)
                _WATCH.socks = None
            if fired.is_set():
                raise HostileReply(f"SOAP reply still arriving after {t:.1f}s")
            self.last_challenge = resp.headers.get("WWW-Authenticate") if resp.status_code == 401 else None
            check_reply(resp.headers.get("Content-Type", ""), resp._content, self.cap, resp.status_code,
                        self.last_challenge)
            return resp

    return SafeTransport


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


def make_service(xaddr: str, timeout: float, session: Any = None, wsse: Any = None, media: bool = False) -> Any:
    """A device-service (or, ``media``, media-service) proxy bound to ``xaddr``, built on the shared Document."""
    import zeep

    transport = _transport_class()(timeout=timeout, session=session)
    document = media_document() if media else device_document()
    client = zeep.Client(document, transport=transport, wsse=wsse, settings=zeep_settings())
    return client.create_service(MEDIA_BINDING if media else DEVICE_BINDING, xaddr)


def parse_reply(operation: str, content: bytes, status: int = 200,
                content_type: str = "application/soap+xml; charset=utf-8") -> Any:
    """Decode a recorded SOAP reply exactly as a live call would (hardened check, then zeep).

    Raises ``HostileReply``, ``zeep.exceptions.Fault`` or ``TransportError`` like a live call.
    """
    import requests
    import zeep

    check_reply(content_type, content, status=status)
    client = zeep.Client(device_document(), transport=_transport_class()(), settings=zeep_settings())
    service = client.create_service(DEVICE_BINDING, "http://127.0.0.1/onvif/device_service")
    binding = service._binding
    resp = requests.Response()
    resp.status_code = status
    resp._content = content
    resp.headers["Content-Type"] = content_type
    return binding.process_reply(client, binding.get(operation), resp)


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
    import requests

    if isinstance(exc, requests.RequestException | TimeoutError | OSError):
        return "unreachable", None
    return "fault", f"unexpected {type(exc).__name__}"


def answered_at_all(exc: BaseException) -> bool:
    """Did the device answer anything before the call failed? (A refused or reset connection, a read
    timeout after the connect: yes. A connect timeout, an unreachable host: no.)"""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc).lower()
        return "refused" in text or "reset" in text
    return not isinstance(exc, TimeoutError | OSError)


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
    timeout: float
    offset_s: float = 0.0
    session: Any = None
    services: dict[str, Any] = field(default_factory=dict)
    transports: list[Any] = field(default_factory=list)
    http_auth: httpauth.Attempt | None = None
    """Set once the device asked for HTTP Digest: the account's attempt every credentialed call reuses."""
    media_xaddr: str | None = None
    """The media service's URL (GetCapabilities), once known: only ever one naming the device itself."""

    @property
    def ip(self) -> str:
        """The device's address (``targets`` only keeps XAddrs naming the host itself)."""
        return urlsplit(self.xaddr).hostname or ""

    def set_timeout(self, seconds: float) -> None:
        self.timeout = seconds
        for transport in self.transports:
            transport.operation_timeout = seconds

    def service(self, cred: Any, media: bool = False) -> Any:
        """The proxy without credentials (cred None), with a WS-Security token, or with HTTP Digest once the
        device asked for it (``http_auth`` set): one client each, one HTTP session. ``media``: the media
        service's proxy (at ``media_xaddr``)."""
        key = ("media-" if media else "") + ("none" if cred is None else "digest" if self.http_auth is not None
                                             else "wsse")
        if key not in self.services:
            import requests

            if self.session is None:
                self.session = requests.Session()
            wsse = _token_class()(cred.username, cred.password, lambda: self.offset_s) if key.endswith("wsse") else None
            xaddr = self.media_xaddr if media and self.media_xaddr else self.xaddr
            service = make_service(xaddr, self.timeout, session=self.session, wsse=wsse, media=media)
            service._client.transport.http_auth = self.http_auth if key.endswith("digest") else None
            self.transports.append(service._client.transport)
            self.services[key] = service
        return self.services[key]

    def last_challenge(self, cred: Any) -> str | None:
        key = "none" if cred is None else "digest" if self.http_auth is not None else "wsse"
        service = self.services.get(key)
        return getattr(service._client.transport, "last_challenge", None) if service is not None else None

    def close(self) -> None:
        if self.session is not None:
            close_pools(self.session)
            with contextlib.suppress(Exception):
                self.session.close()


def _current_netns() -> tuple[int, int]:
    st = os.stat("/proc/thread-self/ns/net")
    return st.st_dev, st.st_ino


class OnvifProbe:
    name: ClassVar[str] = "onvif"
    after_web: ClassVar[bool] = True
    """Runs after the HTTP probe on the same device (the engine): ONVIF is SOAP over the same web
    servers, and a port that gave the HTTP probe nothing (``HostState.mute_ports``) is not tried."""

    def __init__(self, ports: Iterable[int] = ONVIF_PORTS, path: str = DEVICE_PATH, threads: int = THREADS) -> None:
        self.ports = tuple(ports)
        self.path = path
        self.threads = threads
        self._pool: DaemonThreadPool | None = None
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._ns_fds: dict[tuple[int, int], int] = {}
        weakref.finalize(self, OnvifProbe._cleanup, self._ns_fds)

    @staticmethod
    def _cleanup(fds: dict[tuple[int, int], int]) -> None:
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        fds.clear()

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
            if port in host.open_ports and port not in host.mute_ports:
                url = f"http://{host.ip}{'' if port == 80 else f':{port}'}{self.path}"
                if url not in (u for u, _ in out):
                    out.append((url, False))
        return out[:MAX_XADDRS]

    # -- running zeep calls

    def _ns_fd(self, key: tuple[int, int]) -> int | None:
        """A descriptor of the namespace ``key`` (the caller's, from ``_current_netns``), opened once."""
        if key not in self._ns_fds:
            try:
                self._ns_fds[key] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        return self._ns_fds[key]

    @staticmethod
    def _pinned(ns_fd: int | None, want: tuple[int, int], fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the network namespace the probe was called from (see module docstring)."""
        if _current_netns() == want:
            return fn()
        if ns_fd is None:
            raise OSError("cannot join the scan's network namespace; call not sent")
        from ..netns import enter_fd

        with enter_fd(ns_fd):
            return fn()

    async def _call(self, ctx: ProbeContext, dev: _Device, op: str, cred: Any, media: bool = False) -> CallResult:
        if self._pool is None:
            self._pool = DaemonThreadPool(self.threads, thread_name_prefix="camaudit-onvif")
            weakref.finalize(self, self._pool.shutdown, wait=False)
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem, self._sem_loop = asyncio.Semaphore(self.threads), loop
        host = ctx.host(dev.ip)
        want = _current_netns()  # a stat of /proc on the event loop: once per call, not twice
        ns_fd = self._ns_fd(want)
        t = budget(ctx)
        if t <= 0:
            return CallResult("unreachable", note="scan deadline reached")
        stamp = {"sent": time.time()}

        def timed() -> Any:
            # On the worker: building the zeep client is work the scan's event loop need not do.
            service = dev.service(cred, media)
            dev.set_timeout(max(0.01, budget(ctx)))
            stamp["sent"] = time.time()  # when the request really leaves (after the pacing's wait)
            return getattr(service, op)()

        try:
            value = await host.call_in_thread(ctx.probe or self.name, self._pool,
                                              functools.partial(self._pinned, ns_fd, want, timed),
                                              min(t + 0.5, max(0.01, ctx.remaining())), gate=self._sem,
                                              hold_slot=False)
        except HostGivenUp as exc:
            return CallResult("unreachable", note=str(exc))
        except TimeoutError:
            host.silent()
            return CallResult("unreachable", note=None, sent_at=stamp["sent"], received_at=time.time())
        except Exception as exc:  # zeep, requests, lxml: all become a classified result
            kind, note = classify_error(exc)
            if kind == "unreachable" and not answered_at_all(exc):
                host.silent()
            else:
                host.answered()
            challenge = exc.challenge if isinstance(exc, NotSoap) else dev.last_challenge(cred)
            return CallResult(kind, note=note, sent_at=stamp["sent"], received_at=time.time(),
                              challenge=challenge if kind == "auth_needed" else None)
        host.answered()
        return CallResult("ok", value=value, sent_at=stamp["sent"], received_at=time.time())

    # -- per host

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return
        targets = self.targets(ctx, host)
        if not targets:
            return
        try:
            # The requests session keeps its connection open between calls: it holds one of the
            # device's connection slots for the whole conversation, not just for each call.
            async with ctx.host(host.ip).slot():
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
        for xaddr, from_wsd in targets:
            dev = _Device(xaddr, budget(ctx))
            first = await self._call(ctx, dev, CALLS[0], None)
            if first.kind not in ("not_soap", "unreachable"):
                discovered = from_wsd
                break
            if from_wsd:
                warnings.append(f"WS-Discovery XAddr {clean_text(xaddr, 120)} did not answer ONVIF")
            dev.close()
            dev = None
        if dev is None or first is None:
            if warnings:
                ctx.emit(Observation(ip=host.ip, probe=self.name, fields={}, warning="; ".join(warnings)))
            return
        try:
            fields = await self._run_calls(ctx, host, dev, first, warnings)
        finally:
            dev.close()
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
