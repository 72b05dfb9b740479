"""HTTP probe: parsers on recorded replies, then the client against loopback fake servers."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import ssl
from pathlib import Path

import pytest
from hostprobe_support import ASSETS, make_ctx, read_request, serve, tarpit

from auditor.models import Observation
from auditor.probes.base import HostState
from auditor.probes.http import (
    VENDOR_PATHS,
    HttpProbe,
    extract_title,
    headers_upper,
    parse_isapi_device_info,
    parse_response,
    parse_www_authenticate,
    reply_complete,
    summarize_root,
)
from auditor.probes.x509 import parse_certificate
from auditor.xmlsafe import UnsafeXML

HTTP = ASSETS / "http"


def asset(name: str) -> bytes:
    return (HTTP / name).read_bytes()


# ------------------------------------------------------------------ parsers


def test_hikvision_ipc_root() -> None:
    f = summarize_root(parse_response(asset("hikvision-ipc-root.http")))
    assert f["status"] == 200 and f["server"] == "App-webs/"
    assert "title" not in f  # empty <title></title> is absent, not ""
    assert f["headers_upper"] is False and "p3p" not in f


def test_hikvision_isapi_401_realm() -> None:
    resp = parse_response(asset("hikvision-isapi-401.http"))
    assert resp.status == 401
    assert parse_www_authenticate(resp.all("www-authenticate")) == ("Digest", "IP Camera(C6342)")
    assert extract_title(resp.body) == "Document Error: Unauthorized"


def test_hikvision_nvr_root() -> None:
    f = summarize_root(parse_response(asset("hikvision-nvr-root.http")))
    assert f["server"] == "DNVRS-Webs" and f["title"] == "index"


def test_dahua_upper_case_headers_and_p3p() -> None:
    f = summarize_root(parse_response(asset("dahua-root.http")))
    assert f["headers_upper"] is True
    assert f["p3p"] == "CP=CAO PSA OUR"
    assert f["title"] == "WEB SERVICE"
    assert "server" not in f
    assert headers_upper(parse_response(asset("dahua-rpc2-login.http")).headers) is True


def test_axis_realm_carries_mac() -> None:
    f = summarize_root(parse_response(asset("axis-root-401.http")))
    assert f["auth_scheme"] == "Digest" and f["realm"] == "AXIS_ACCC8E4A2B1C"
    assert f["server"] == "Apache" and f["headers_upper"] is False


def test_isapi_device_info_open() -> None:
    resp = parse_response(asset("hikvision-isapi-deviceinfo-open.http"))
    info = parse_isapi_device_info(resp.body)
    assert info == {
        "api": "isapi-device-info",
        "hardware_id": "0x0",
        "device_name": "IP CAMERA",
        "model": "DS-2CD2032-I",
        "serial": "DS-2CD2032-I20150908CCWR541234567",
        "mac": "c0:56:e3:12:34:56",
        "firmware": "V5.3.0",
        "firmware_date": "build 150513",
        "device_type": "IPCamera",
    }


def test_isapi_xxe_refused() -> None:
    with pytest.raises(UnsafeXML):
        parse_isapi_device_info(parse_response(asset("isapi-xxe.http")).body)


def test_chunked_body_decoded() -> None:
    data = asset("chunked.http")
    assert reply_complete(data)
    assert extract_title(parse_response(data).body) == "NVR Login"


def test_script_title_kept_as_text() -> None:
    f = summarize_root(parse_response(asset("script-title.http")))
    assert f["title"] == "<script>alert(1)</script> <b>Cam&Co</b>"  # text, escaped by the report
    assert f["server"] == "<script>alert('srv')</script>"


def test_truncated_and_garbage() -> None:
    resp = parse_response(asset("truncated-head.http"))
    assert resp.status == 200 and resp.header("Server") == "Boa/0.94.14rc21"
    assert not reply_complete(asset("truncated-head.http"))
    with pytest.raises(ValueError):
        parse_response(asset("garbage.bin"))
    with pytest.raises(ValueError):
        parse_response(b"")


def test_huge_content_length_is_not_an_error() -> None:
    """int() refuses strings of more than 4300 digits: a hostile header must not raise out of the reader."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    assert reply_complete(head + b"x") is False
    assert reply_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx") is True


def test_title_on_hostile_bodies() -> None:
    """Many unclosed <title> tags (the input that made the old lazy regex quadratic) and odd attributes."""
    assert extract_title(b"<title>" * 9000) is None
    assert extract_title(b"<title x" * 8000) is None
    assert extract_title(b"<TITLE lang=en>a</title><title>b</title>" + b"<title>" * 9000) == "a"
    assert extract_title(b"<title>multi\n line</title >") == "multi line"


def test_www_authenticate_variants() -> None:
    assert parse_www_authenticate(['Basic realm="DVR"']) == ("Basic", "DVR")
    assert parse_www_authenticate(["Negotiate", 'Digest realm=HikvisionDS, nonce="x"']) == (
        "Digest", "HikvisionDS")
    assert parse_www_authenticate(["Bearer"]) == ("Bearer", None)
    assert parse_www_authenticate(["!!!"]) == (None, None)


def test_certificate_reader_matches_openssl() -> None:
    info = parse_certificate(asset("test-cert.der"))
    subject = "C=CN, ST=ZheJiang, L=HangZhou, O=Hikvision, OU=Camera, CN=192.168.1.64"
    assert info.subject == subject and info.issuer == subject and info.self_signed
    assert info.not_after is not None and info.not_after.startswith("2046-")


def test_certificate_reader_names_the_uid_attribute() -> None:
    """A real firmware certificate (AMX NMX-ENC encoder, tests/real) carries UID in its subject."""
    pem = (Path(__file__).parent / "real" / "data" / "tls" / "houseofkeys-amx-nmx-enc-encoder.pem").read_text()
    b64 = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", pem, re.S)
    assert b64 is not None
    info = parse_certificate(base64.b64decode("".join(b64.group(1).split())))
    assert info.subject.startswith("CN=localhost, UID=localhost, OU=AMX, O=AMX.ltd,")
    assert "0.9.2342" not in info.subject


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x04\x02ab", b"\x30\x03\x02\x01"])
def test_certificate_reader_rejects_junk(junk: bytes) -> None:
    with pytest.raises(ValueError):
        parse_certificate(junk)


def test_certificate_reader_refuses_absurd_oid() -> None:
    """A 100 KB OID cost 0.6 s of event-loop time in the 7-bit shift loop; now refused at once."""
    from auditor.probes.x509 import _oid

    assert _oid(bytes([0x55, 0x04, 0x03])) == "2.5.4.3"
    with pytest.raises(ValueError, match="OID too long"):
        _oid(b"\x2a" + b"\xff" * 100_000 + b"\x01")


def test_certificate_reader_survives_truncations() -> None:
    der = asset("test-cert.der")
    for cut in range(0, len(der), 7):
        try:
            parse_certificate(der[:cut])
        except ValueError:
            pass


# ------------------------------------------------------------------ against fake servers

ROUTES = {
    "/": "dahua-root.http",
    "/RPC2_Login": "dahua-rpc2-login.http",
    "/ISAPI/System/deviceInfo": "hikvision-isapi-401.http",
}


async def asset_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await read_request(reader)
    path = request.split(b" ")[1].decode()
    assert b"Authorization" not in request and request.startswith(b"GET ")
    name = ROUTES.get(path)
    writer.write(asset(name) if name else b"HTTP/1.1 404 NOT FOUND\r\nCONTENT-LENGTH: 0\r\n\r\n")
    await writer.drain()


def run_probe(probe: HttpProbe, handler: object, *, tls: bool = False, timeout: float = 1.0,
              host_out: list[HostState] | None = None) -> list[Observation]:
    async def main() -> list[Observation]:
        ssl_ctx = None
        if tls:
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(HTTP / "test-cert.pem", HTTP / "test-key.pem")
        server, port = await serve(handler, ssl=ssl_ctx)  # type: ignore[arg-type]
        probe.plain_ports = () if tls else (port,)
        probe.tls_ports = (port,) if tls else ()
        out: list[Observation] = []
        host = HostState("127.0.0.1", open_ports={port})
        if host_out is not None:
            host_out.append(host)
        try:
            await probe.probe_host(make_ctx(out, timeout=timeout), host)
        finally:
            server.close()
        return out

    return asyncio.run(main())


def test_probe_plain_port_with_vendor_paths() -> None:
    (obs,) = run_probe(HttpProbe(), asset_server)
    f = obs.fields
    assert obs.warning is None
    assert f["scheme"] == "http" and f["status"] == 200 and f["title"] == "WEB SERVICE"
    assert f["headers_upper"] is True and f["p3p"] == "CP=CAO PSA OUR"
    assert f["paths"] == {"/doc/page/login.asp": 404, "/ISAPI/System/deviceInfo": 401,
                          "/SDK/webLanguage": 404, "/RPC2_Login": 200}
    assert f["path_realms"] == {"/ISAPI/System/deviceInfo": "IP Camera(C6342)"}
    assert f["realm"] == "IP Camera(C6342)" and f["auth_scheme"] == "Digest"
    assert "WEB SERVICE" in obs.raw


def test_probe_tls_reads_certificate() -> None:
    (obs,) = run_probe(HttpProbe(paths=()), asset_server, tls=True)
    f = obs.fields
    assert obs.warning is None and f["scheme"] == "https" and f["status"] == 200
    assert f["cert_subject"].endswith("O=Hikvision, OU=Camera, CN=192.168.1.64")
    assert f["cert_self_signed"] is True


def test_probe_tarpit_warns_and_stops() -> None:
    hosts: list[HostState] = []
    (obs,) = run_probe(HttpProbe(), tarpit, timeout=0.3, host_out=hosts)
    assert obs.warning is not None and "no complete HTTP reply" in obs.warning
    assert "paths" not in obs.fields  # a silent port is not asked four more times
    assert hosts[0].mute_ports == hosts[0].open_ports  # and the ONVIF probe, after this one, skips it


def test_a_port_that_answers_is_not_mute() -> None:
    hosts: list[HostState] = []
    run_probe(HttpProbe(), asset_server, host_out=hosts)
    assert hosts[0].mute_ports == set()


def test_probe_oversize_reply_is_capped() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nServer: big\r\nContent-Length: 9000000\r\n\r\n<title>x</title>")
        for _ in range(100):
            writer.write(b"A" * 90000)
            await writer.drain()

    (obs,) = run_probe(HttpProbe(paths=(), max_bytes=32 * 1024), huge)
    assert obs.fields["server"] == "big" and obs.fields["title"] == "x"
    assert obs.warning is not None and "over 32768 bytes" in obs.warning
    assert len(obs.raw) <= 2048


def test_probe_garbage_reply() -> None:
    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(asset("garbage.bin"))
        await writer.drain()

    (obs,) = run_probe(HttpProbe(), junk)
    assert obs.warning == "not an HTTP reply" and obs.fields == {"port": obs.fields["port"], "scheme": "http"}


def test_probe_skips_ports_not_open() -> None:
    out: list[Observation] = []
    asyncio.run(HttpProbe().probe_host(make_ctx(out), HostState("127.0.0.1", open_ports={22})))
    assert out == []


def test_probe_asks_every_path_on_one_persistent_connection_when_the_server_keeps_it() -> None:
    connections: list[list[bytes]] = []

    async def keeps_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests: list[bytes] = []
        connections.append(requests)
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            requests.append(request)
            body = b"<html><title>cam</title></html>"
            close = b"Connection: close" in request
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s"
                         % (len(body), b"close" if close else b"keep-alive", body))
            await writer.drain()
            if close:
                return

    async def main() -> tuple[list[Observation], dict[str, int]]:
        server, port = await serve(keeps_alive)
        out: list[Observation] = []
        ctx = dataclasses.replace(make_ctx(out), probe="http")
        try:
            await HttpProbe(plain_ports=(port,), tls_ports=()).probe_host(ctx, HostState("127.0.0.1",
                                                                                         open_ports={port}))
        finally:
            server.close()
        return out, dict(ctx.host("127.0.0.1").record.sent["http"])

    (obs,), sent = asyncio.run(main())
    assert len(connections) == 1 and len(connections[0]) == 5
    assert [r.split(b" ")[1].decode() for r in connections[0]] == ["/", *VENDOR_PATHS]
    assert all(b"Connection: keep-alive" in r for r in connections[0][:-1])
    assert b"Connection: close" in connections[0][-1]  # the last one frees the server at once
    assert sent == {"connections": 1, "requests": 5}
    assert set(obs.fields["paths"]) == set(VENDOR_PATHS)


def test_probe_opens_a_new_connection_when_the_server_closes_after_each_reply() -> None:
    connections = 0

    async def old_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async def main() -> list[Observation]:
        server, port = await serve(old_server)
        out: list[Observation] = []
        try:
            await HttpProbe(plain_ports=(port,), tls_ports=()).probe_host(make_ctx(out), HostState(
                "127.0.0.1", open_ports={port}))
        finally:
            server.close()
        return out

    (obs,) = asyncio.run(main())
    assert connections == 5 and set(obs.fields["paths"].values()) == {200} and len(obs.fields["paths"]) == 4


# ------------------------------------------------------------ makers' identity endpoints, asked only where pointed


AXIS_REPLY = json.dumps({"apiVersion": "1.0", "method": "getAllUnrestrictedProperties", "data": {"propertyList": {
    "Brand": "AXIS", "ProdNbr": "P3245-LVE", "ProdType": "Network Camera", "SerialNumber": "ACCC8E0B52E6",
    "Version": "10.12.153"}}}).encode()


def _axis_like(requests: list[bytes], title: bytes) -> object:
    """A server that answers the basicdeviceinfo POST like AXIS OS, ``/`` with ``title``, and 404 to everything
    else; notes each request."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)  # head and body
        requests.append(head)
        if head.startswith(b"POST /axis-cgi/basicdeviceinfo.cgi"):
            reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                len(AXIS_REPLY), AXIS_REPLY)
        elif head.startswith(b"GET / "):
            page = b"<title>" + title + b"</title>"
            reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page)
        else:
            reply = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        writer.write(reply)
        await writer.drain()

    return handler


def _run_with_hints(seen: list[Observation], requests: list[bytes], title: bytes = b"Web Service") -> Observation:
    from auditor.identify import maker_hints
    from auditor.knowledge import load_knowledge

    kb = load_knowledge()

    async def main() -> list[Observation]:
        server, port = await serve(_axis_like(requests, title))  # type: ignore[arg-type]
        out: list[Observation] = []
        host = HostState("127.0.0.1", open_ports={port}, seen=seen, hints=lambda obs: maker_hints(obs, kb))
        try:
            await HttpProbe(plain_ports=(port,), tls_ports=()).probe_host(make_ctx(out), host)
        finally:
            server.close()
        return out

    (obs,) = asyncio.run(main())
    return obs


def test_axis_identity_is_asked_only_where_the_address_points_to_axis() -> None:
    requests: list[bytes] = []
    obs = _run_with_hints([Observation("127.0.0.1", "arp", {"mac": "00:40:8c:e2:7a:10"})], requests)
    posts = [r for r in requests if r.startswith(b"POST ")]
    assert len(posts) == 1 and posts[0].endswith(b'{"apiVersion":"1.0","method":"getAllUnrestrictedProperties"}')
    assert b"Content-Type: application/json" in posts[0] and b"Authorization" not in posts[0]
    assert obs.fields["device_info"] == {"api": "axis-basicdeviceinfo", "brand": "AXIS", "model": "P3245-LVE",
                                         "device_type": "Network Camera", "serial": "ACCC8E0B52E6",
                                         "firmware": "10.12.153"}
    assert obs.fields["paths"]["/axis-cgi/basicdeviceinfo.cgi"] == 200
    # what the port itself showed counts too: nothing known before, but the page is titled AXIS
    requests.clear()
    assert "device_info" in _run_with_hints([], requests, title=b"AXIS").fields


@pytest.mark.parametrize("seen", [
    [],
    [Observation("127.0.0.1", "arp", {"mac": "c0:56:e3:1a:2b:3c"})],  # a Hikvision OUI
    [Observation("127.0.0.1", "wsdiscovery", {"name": "Dahua IPC", "scopes": []})],
], ids=["nothing-known", "hikvision-oui", "dahua-name"])
def test_no_maker_api_is_asked_of_a_device_not_pointed_to_that_maker(seen: list[Observation]) -> None:
    requests: list[bytes] = []
    obs = _run_with_hints(seen, requests)
    assert not [r for r in requests if r.startswith(b"POST ")]
    assert "device_info" not in obs.fields and "/axis-cgi/basicdeviceinfo.cgi" not in obs.fields.get("paths", {})
