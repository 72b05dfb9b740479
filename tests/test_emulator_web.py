"""HTTP(S), RTSP and plain TCP ports of emulated devices, spoken to with raw sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from emulator_specs import dahua_camera, hik_camera, hostile, open_camera

from auditor.lab.devices import tcp_ports
from auditor.lab.devices.loopback import LoopbackLab
from auditor.lab.devices.runtime import TARPIT_CAP


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackLab]:
    specs = [hik_camera(), dahua_camera(), open_camera(), hostile("pit", "tarpit"), hostile("big", "oversize")]
    with LoopbackLab(specs) as running:
        yield running


def talk(port: int, request: bytes, timeout: float = 3.0, tls: bool = False) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s: socket.socket = raw
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(raw)
    with s:
        s.sendall(request)
        if not tls:
            s.shutdown(socket.SHUT_WR)  # RTSP keeps connections open: tell the server we are done
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def http_get(port: int, path: str = "/", tls: bool = False) -> tuple[int, dict[str, str], list[str], bytes]:
    data = talk(port, f"GET {path} HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n".encode(), tls=tls)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    names = [line.split(":", 1)[0] for line in lines[1:]]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, names, body


# ------------------------------------------------------------------ HTTP


def test_hikvision_root_page(lab: LoopbackLab) -> None:
    status, headers, names, body = http_get(lab.port("hik", 80))
    assert status == 200 and headers["server"] == "App-webs/"
    assert b"<title>Hikvision</title>" in body
    assert int(headers["content-length"]) == len(body) and headers["connection"] == "close"  # as asked
    assert "Server" in names  # normal capitalisation


def exchange(sock: socket.socket, request: bytes) -> tuple[dict[str, str], bytes]:
    """One request on an open connection; the reply read by its Content-Length."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in
                                                     head.decode("latin-1").split("\r\n")[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return headers, body


def test_one_connection_serves_several_requests_until_the_client_says_close(lab: LoopbackLab) -> None:
    with socket.create_connection(("127.0.0.1", lab.port("hik", 80)), timeout=3) as s:
        first, _ = exchange(s, b"GET / HTTP/1.1\r\nHost: cam\r\n\r\n")
        second, _ = exchange(s, b"GET /doc/page/login.asp HTTP/1.1\r\nHost: cam\r\n\r\n")
        last, _ = exchange(s, b"GET / HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n")
        assert (first["connection"], second["connection"], last["connection"]) == ("keep-alive", "keep-alive",
                                                                                   "close")
        assert s.recv(1) == b""  # the server closed after the last reply


def test_an_old_web_server_closes_after_every_reply() -> None:
    old = replace(hik_camera("old"), services=replace(hik_camera().services,
                                                       http=replace(hik_camera().services.http, keep_alive=False)))
    with LoopbackLab([old]) as running, socket.create_connection(("127.0.0.1", running.port("old", 80)),
                                                                  timeout=3) as s:
        headers, _ = exchange(s, b"GET / HTTP/1.1\r\nHost: cam\r\n\r\n")
        assert headers["connection"] == "close" and s.recv(1) == b""


def test_protected_path_challenges_with_realm(lab: LoopbackLab) -> None:
    status, headers, _, _ = http_get(lab.port("hik", 80), "/ISAPI/System/deviceInfo")
    assert status == 401 and headers["www-authenticate"].startswith("Digest ")
    assert 'realm="Hikvision"' in headers["www-authenticate"]
    assert http_get(lab.port("hik", 80), "/doc/page/login.asp")[0] == 200
    assert http_get(lab.port("hik", 80), "/nothing-here")[0] == 404


def test_dahua_upper_case_headers_p3p_and_basic(lab: LoopbackLab) -> None:
    status, headers, names, body = http_get(lab.port("dahua", 80))
    assert status == 200 and b"<title>WEB SERVICE</title>" in body
    assert "P3P" in names and "CONTENT-LENGTH" in names and "Server" not in names
    assert headers["p3p"] == "CP=CAO PSA OUR"
    status, headers, _, _ = http_get(lab.port("dahua", 80), "/cgi-bin/magicBox.cgi")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="Login to 6G0ABCDEF123456"'


def test_https_presents_self_signed_cert_with_cn(lab: LoopbackLab) -> None:
    port = lab.port("hik", 443)
    status, headers, _, body = http_get(port, tls=True)
    assert status == 200 and headers["server"] == "App-webs/"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw, ctx.wrap_socket(raw) as s:
        der = s.getpeercert(binary_form=True)
    assert der is not None
    pem = ssl.DER_cert_to_PEM_cert(der)
    import subprocess

    text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer"], input=pem,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "CN = DS-2CD2143G2-I" in text or "CN=DS-2CD2143G2-I" in text
    subject, issuer = (line.split("=", 1)[1] for line in text.strip().splitlines())
    assert subject == issuer  # self-signed


def test_head_has_no_body(lab: LoopbackLab) -> None:
    data = talk(lab.port("hik", 80), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"" and b"Content-Length: " in head


def test_garbage_request_is_dropped(lab: LoopbackLab) -> None:
    assert talk(lab.port("hik", 80), b"\x16\x03\x01 not http\r\n\r\n") == b""


def test_oversize_page_is_megabytes(lab: LoopbackLab) -> None:
    status, headers, _, body = http_get(lab.port("big", 80))
    assert status == 200 and len(body) > 4_000_000 and int(headers["content-length"]) == len(body)


# ------------------------------------------------------------------ RTSP


def rtsp(port: int, *requests: str) -> list[str]:
    data = talk(port, "".join(requests).encode())
    return [r for r in data.decode("latin-1").split("RTSP/1.0 ") if r]


def test_rtsp_options_and_digest_challenge(lab: LoopbackLab) -> None:
    url = "rtsp://198.18.0.11/Streaming/Channels/101"
    options, describe = rtsp(
        lab.port("hik", 554),
        f"OPTIONS {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n",
        f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\nAccept: application/sdp\r\n\r\n",
    )
    assert options.startswith("200 OK") and "CSeq: 2\r\n" in options and "Public: OPTIONS, DESCRIBE" in options
    assert describe.startswith("401 Unauthorized") and "CSeq: 3\r\n" in describe
    assert 'WWW-Authenticate: Digest realm="Hikvision", nonce="' in describe


def test_rtsp_basic_and_server_header(lab: LoopbackLab) -> None:
    (reply,) = rtsp(lab.port("dahua", 554), "DESCRIBE rtsp://x/cam/realmonitor RTSP/1.0\r\nCSeq: 1\r\n\r\n")
    assert reply.startswith("401") and "Server: Dahua Rtsp Server" in reply
    assert 'WWW-Authenticate: Basic realm="Login to 6G0ABCDEF123456"' in reply


def test_rtsp_without_auth_returns_sdp(lab: LoopbackLab) -> None:
    (reply,) = rtsp(lab.port("open", 554), "DESCRIBE rtsp://x/live RTSP/1.0\r\nCSeq: 7\r\n\r\n")
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith("200 OK") and "Content-Type: application/sdp" in head and "CSeq: 7" in head
    assert body.startswith("v=0\r\n") and "m=video" in body
    assert f"Content-Length: {len(body)}" in head


# ------------------------------------------------------------------ extra ports, tarpit


@pytest.mark.parametrize(("port", "start"), [(21, b"220 "), (22, b"SSH-2.0-"), (23, b"\xff\xfd\x01")])
def test_banners(lab: LoopbackLab, port: int, start: bytes) -> None:
    with socket.create_connection(("127.0.0.1", lab.port("hik", port)), timeout=3) as s:
        assert s.recv(256).startswith(start)


def test_silent_port_accepts_and_closes_when_client_speaks(lab: LoopbackLab) -> None:
    assert tcp_ports.banner(8000) == b""
    assert talk(lab.port("hik", 8000), b"hello") == b""
    assert talk(lab.port("dahua", 37777), b"\xa0\x00") == b""


def test_tarpit_accepts_never_sends_and_is_capped(lab: LoopbackLab) -> None:
    port = lab.port("pit", 80)
    held = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(TARPIT_CAP)]
    try:
        for s in held:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        held[0].settimeout(0.5)
        with pytest.raises(TimeoutError):
            held[0].recv(1)  # still open, nothing sent
        deadline = time.monotonic() + 3
        while lab.devices["pit"].tarpits < TARPIT_CAP and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lab.devices["pit"].tarpits == TARPIT_CAP
        with socket.create_connection(("127.0.0.1", port), timeout=3) as extra:
            assert extra.recv(1) == b""  # over the cap: closed at once
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 3
    while lab.devices["pit"].tarpits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lab.devices["pit"].tarpits == 0  # freed when clients close
