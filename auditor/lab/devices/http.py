"""The web server of an emulated device: vendor headers and title, protected paths, ONVIF POSTs.

One listener config per TCP port: the web UI (``HttpService``), the ONVIF device service
(``OnvifService``, POSTs to its path), or both when they share the port, as on most
cameras. HTTP/1.1 persistent connections, as most camera web servers keep them (up to
``MAX_REQUESTS`` requests, ``IDLE_S`` between them); ``HttpService.keep_alive: false`` is an
old embedded server that answers ``Connection: close`` after every reply. A client's
``Connection: close`` (or HTTP/1.0 without keep-alive) ends the connection after its reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from email.utils import formatdate
from html import escape as html_escape
from typing import Any

from ..spec import HttpService, VendorApiService
from . import hostile, onvif_soap, vendor, wire
from .runtime import DeviceRuntime

MAX_REQUESTS = 100
IDLE_S = 5.0
"""Seconds a persistent connection waits for the next request."""

REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _title_page(http: HttpService | None) -> bytes:
    title = http.title if http else ""
    # The title is inserted as configured: hostile devices carry markup in it on purpose.
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{title}</title></head><body></body></html>\n"
    ).encode()


def _nonce(dev: DeviceRuntime, http: HttpService) -> str:
    """The device's Digest nonce, in its firmware's form: Hikvision's is hex-encoded base64 of
    ``<hex>:<digits>``, the others 32 hex digits (fixed for the lab's lifetime)."""
    digest = hashlib.md5(f"{dev.spec.mac}{dev.started}".encode()).hexdigest()
    if http.challenge == "hikvision":
        return base64.b64encode(f"{digest[:8]}:{int(dev.started) % 10**8}".encode()).hex()
    return digest


def _challenge(dev: DeviceRuntime, http: HttpService) -> str:
    """The WWW-Authenticate value, as the imitated firmware writes it (the spec's ``challenge``):
    Hikvision sends ``qop`` first and a nonce that is hex-encoded base64 of ``<hex>:<digits>``;
    Dahua's older web servers only the realm and a 32-hex nonce (tests/real
    http-realm-lorex-nr900-login-to)."""
    realm = http.realm or ""
    if http.auth_scheme == "Basic":
        return f'Basic realm="{realm}"'
    nonce = _nonce(dev, http)
    if http.challenge == "dahua":
        return f'Digest realm="{realm}", nonce="{nonce}"'
    return f'Digest qop="auth", realm="{realm}", nonce="{nonce}", stale="FALSE"'


AXIS_BASICDEVICEINFO = "/axis-cgi/basicdeviceinfo.cgi"


def axis_basic_device_info(dev: DeviceRuntime, request: bytes) -> bytes:
    """AXIS OS's answer to ``basicdeviceinfo.cgi``: the JSON layout of a real unit's reply (tests/real
    axis-basicdeviceinfo-m1065-lw), with the unrestricted property set for
    ``getAllUnrestrictedProperties`` (the one camaudit asks without credentials), else an error."""
    try:
        asked = json.loads(request.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        asked = {}
    method = asked.get("method") if isinstance(asked, dict) else None
    version = str(asked.get("apiVersion", "1.0")) if isinstance(asked, dict) else "1.0"
    if method != "getAllUnrestrictedProperties":
        reply: dict[str, Any] = {"apiVersion": version, "method": method or "", "error": {
            "code": 2002, "message": "Method not supported without authentication"}}
        return json.dumps(reply, indent=4).encode()
    o = dev.spec.services.onvif
    model = o.model if o else ""
    props = {
        "Brand": "AXIS", "BuildDate": "Nov 15 2023 19:02", "HardwareID": o.hardware_id if o else "",
        "ProdFullName": f"AXIS {model} Network Camera", "ProdNbr": model, "ProdShortName": f"AXIS {model}",
        "ProdType": "Network Camera", "ProdVariant": "", "SerialNumber": o.serial if o else "",
        "Version": o.firmware if o else "", "WebURL": "http://www.axis.com",
    }
    return json.dumps({"apiVersion": version, "method": method, "data": {"propertyList": props}}, indent=4).encode()


class HttpListener:
    """Connection handler for one TCP port of one device."""

    def __init__(self, dev: DeviceRuntime, http: HttpService | None, onvif: bool, tls: bool = False) -> None:
        self.dev = dev
        self.http = http
        self.onvif = onvif
        self.tls = tls

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.dev.hostile("tarpit"):
            await hostile.tarpit(self.dev, reader, writer)
            return
        try:
            for n in range(MAX_REQUESTS):
                req = await wire.read_request(reader, max_body=onvif_soap.MAX_REQUEST,
                                              timeout=wire.READ_TIMEOUT_S if n == 0 else IDLE_S)
                if req is None:
                    return
                keep = self._keep_alive(req) and n + 1 < MAX_REQUESTS
                status, headers, body = self.respond(req)
                writer.write(self._render(status, headers, b"" if req.method == "HEAD" else body, len(body), keep))
                await asyncio.wait_for(writer.drain(), 30)
                if not keep:
                    return
        except (OSError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _keep_alive(self, req: wire.Request) -> bool:
        if self.http is not None and not self.http.keep_alive:
            return False
        if self.dev.hostile("oversize"):
            return False
        tokens = {t.strip().lower() for t in req.headers.get("connection", "").split(",")}
        if "close" in tokens:
            return False
        return req.version != "HTTP/1.0" or "keep-alive" in tokens

    def respond(self, req: wire.Request) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, extra headers, body) for ``req``."""
        path, _, query = req.target.partition("?")
        onvif = self.dev.spec.services.onvif
        if self.onvif and onvif is not None and path in (onvif.path, onvif_soap.MEDIA_PATH):
            if req.method != "POST":
                return 405, [("Allow", "POST")], b""
            if onvif.auth == "http-digest" and not onvif_soap.is_open(self.dev, req.body):
                http_spec = self.http or HttpService(realm=f"{onvif.manufacturer}")
                valid = vendor.check_digest(req.headers.get("authorization", ""), "POST",
                                            {onvif.username or "": onvif.password or ""},
                                            http_spec.realm or "", _nonce(self.dev, http_spec))[1]
                if not valid:  # as real firmware does: a 401 with a challenge, no SOAP body
                    return 401, [("WWW-Authenticate", _challenge(self.dev, http_spec)),
                                 ("Content-Type", "text/html")], b""
                status, body = onvif_soap.handle(self.dev, req.body, authenticated=True)
            else:
                status, body = onvif_soap.handle(self.dev, req.body)
            return status, [("Content-Type", onvif_soap.CONTENT_TYPE)], body
        http = self.http
        if http is None:
            return 404, [("Content-Type", "text/html")], b"<html><body>404 Not Found</body></html>\n"
        api = self.dev.spec.services.vendor_api
        if api is not None and vendor.serves(api, path) and req.method in ("GET", "HEAD"):
            return self._vendor_api(req, api, http, path, query)
        if req.method not in ("GET", "HEAD", "POST"):
            return 405, [("Allow", "GET, HEAD, POST")], b""
        if path == "/" and "/" not in http.paths:
            page = _title_page(http)
            if self.dev.hostile("oversize"):
                page = page + b"<!--" + b"A" * hostile.TCP_OVERSIZE + b"-->"
            return 200, [("Content-Type", "text/html")], page
        status = http.paths.get(path, 200 if path == "/" else 404)
        headers: list[tuple[str, str]] = [("Content-Type", "text/html")]
        if status == 401 and http.realm is not None:
            headers.append(("WWW-Authenticate", _challenge(self.dev, http)))
        if status in (301, 302):
            headers.append(("Location", "/"))
        if status == 200 and path == AXIS_BASICDEVICEINFO and req.method == "POST":
            return status, [("Content-Type", "application/json")], axis_basic_device_info(self.dev, req.body)
        if status == 200:
            return status, headers, _title_page(http)
        reason = html_escape(REASONS.get(status, "Error"))
        return status, headers, f"<html><head><title>{status} {reason}</title></head><body></body></html>\n".encode()

    def _vendor_api(self, req: wire.Request, api: VendorApiService, http: HttpService, path: str,
                    query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """The maker's API behind its login (``auditor/lab/devices/vendor.py``)."""
        if api.accounts:
            verdict, user = vendor.login(self.dev, api, req.headers.get("authorization", ""), req.method,
                                         http.realm or "", _nonce(self.dev, http))
            if verdict != "ok":
                locked = verdict == "locked" or (user is not None and user in self.dev.locked)
                return 401, [("WWW-Authenticate", _challenge(self.dev, http)), ("Content-Type", "text/html")], \
                    vendor.refusal_body(self.dev, api, path, user, locked)
        body: bytes | None
        ctype = "text/plain;charset=utf-8"
        if api.style == "isapi":
            ctype = "application/xml"
            body = {
                "/ISAPI/System/deviceInfo": lambda: vendor.isapi_device_info(self.dev, api),
                "/ISAPI/ContentMgmt/InputProxy/channels": lambda: vendor.isapi_channels(api),
                "/ISAPI/ContentMgmt/InputProxy/channels/status": lambda: vendor.isapi_channel_status(api),
                "/ISAPI/Security/userCheck": vendor.isapi_user_check,
            }[path]()
        elif api.style == "dahua":
            body = vendor.dahua_reply(api, path, query)
        else:
            body = vendor.vapix_params(api, query)
        if body is None:
            return 400, [("Content-Type", "text/plain")], b"Error\r\nBad Request!\r\n"
        return 200, [("Content-Type", ctype)], body

    def _render(self, status: int, headers: list[tuple[str, str]], body: bytes, length: int,
                keep: bool = False) -> bytes:
        http = self.http
        all_headers: list[tuple[str, str]] = [("Date", formatdate(usegmt=True))]
        if http is not None and http.server is not None:
            all_headers.append(("Server", http.server))
        all_headers.extend(headers)
        if http is not None:
            all_headers.extend(http.extra_headers.items())
        all_headers.append(("Content-Length", str(length)))
        all_headers.append(("Connection", "keep-alive" if keep else "close"))
        if http is not None and http.upper_case_headers:
            all_headers = [(k.upper(), v) for k, v in all_headers]
        return wire.render(f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", all_headers, body)
