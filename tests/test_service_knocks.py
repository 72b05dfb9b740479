"""An open web or RTSP port costs one connection, not two: on a host discovery heard, the service
probes make the first connect to their standard ports and the port probe counts it as its knock.

Real probes, real loopback servers (on 127.0.0.5, so the engine does not take them for the scanner's
own address), run through the scan engine; nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from pathlib import Path

from hostprobe_support import read_request

from auditor.models import Observation
from auditor.probes.base import HostState, ProbeContext
from auditor.probes.engine import ScanOptions, run_scan
from auditor.probes.http import HttpProbe
from auditor.probes.onvif import OnvifProbe
from auditor.probes.pacing import Limits
from auditor.probes.ports import PortProbe
from auditor.probes.rtsp import RtspProbe
from auditor.scope import build_scope

ONVIF_ASSETS = Path(__file__).parent / "assets" / "onvif"

HOST = "127.0.0.5"
WEB = b"HTTP/1.1 200 OK\r\nServer: Webs\r\nContent-Length: 2\r\n\r\nok"
RTSP = b"RTSP/1.0 200 OK\r\nCSeq: %d\r\nServer: Hikvision-Webs\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"


class Arp:
    """Discovery that heard ``HOST`` (as the ARP sweep would)."""

    name = "arp"

    async def run(self, ctx: ProbeContext) -> None:
        ctx.live.add(HOST)
        ctx.emit(Observation(ip=HOST, probe="arp", fields={"mac": "c0:56:e3:00:00:05"}))


class Servers:
    """A keep-alive web server and an RTSP server on ``HOST``, counting the connections each accepted."""

    def __init__(self) -> None:
        self.accepted = {"web": 0, "rtsp": 0}

    async def start(self) -> tuple[int, int]:
        async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted["web"] += 1
            try:
                while True:
                    await read_request(reader)
                    writer.write(WEB)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        async def rtsp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted["rtsp"] += 1
            cseq = 1
            try:
                while True:
                    await read_request(reader)
                    writer.write(RTSP % cseq)
                    cseq += 1
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        self.servers = [await asyncio.start_server(web, HOST, 0), await asyncio.start_server(rtsp, HOST, 0)]
        self.web, self.rtsp = (s.sockets[0].getsockname()[1] for s in self.servers)
        return self.web, self.rtsp

    def close(self) -> None:
        for s in self.servers:
            s.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def scan(servers: Servers, discovery: bool, web_probe: Callable[[int, int], object] | None = None,
         ) -> tuple[list[Observation], dict, int]:
    """``web_probe(web port, shut port)``: the web probe to run (default: the real one on both)."""

    async def main() -> tuple[list[Observation], dict, int]:
        web, rtsp = await servers.start()
        shut = closed_port()
        probes = {"arp": Arp(), "ports": PortProbe(ports=(web, rtsp, shut), liveness_ports=(web,), alternates=()),
                  "http": (web_probe or (lambda w, s: HttpProbe(plain_ports=(w, s), paths=("/a", "/b"))))(web, shut),
                  "rtsp": RtspProbe(ports=(rtsp,))}
        names = ("arp", "ports", "http", "rtsp") if discovery else ("ports", "http", "rtsp")
        opts = ScanOptions(scope=build_scope([HOST]), interface="lo", probes=names,
                           limits=Limits(10_000.0, 1000.0, 2), timeout=1.0, deadline=20.0)
        seen: list[Observation] = []
        try:
            outcome = await run_scan(opts, seen.append, load=probes.__getitem__)
        finally:
            servers.close()
        return seen, outcome.stats, shut

    return asyncio.run(main())


def by_probe(seen: list[Observation], probe: str) -> list[Observation]:
    return [o for o in seen if o.probe == probe and o.ip == HOST]


def test_a_heard_host_opens_each_service_port_once_and_the_port_probe_still_reports_it():
    servers = Servers()
    seen, stats, shut = scan(servers, discovery=True)
    # one connection each (the service probe's, which was also the port probe's knock), and the
    # end-of-scan re-check's on one of them
    assert sorted(servers.accepted.values()) == [1, 2]
    [ports] = by_probe(seen, "ports")
    web, rtsp = servers.web, servers.rtsp
    assert ports.fields["open"] == sorted([web, rtsp])
    [http] = by_probe(seen, "http")  # the shut web port is no news: no "connect failed" observation
    assert http.fields["port"] == web and http.fields["paths"] == {"/a": 200, "/b": 200} and http.warning is None
    [rtsp_obs] = by_probe(seen, "rtsp")
    assert rtsp_obs.fields["port"] == rtsp and rtsp_obs.warning is None
    # one connect per port, whoever made it, and the re-check: nothing more
    assert stats["sent"]["connections"] == 3 + 1  # web, rtsp, the shut one (refused to the web probe); re-check
    assert stats["recheck"]["answered"] == 1


def test_an_address_nothing_heard_yet_is_knocked_first_as_before():
    # Without discovery the host is unknown until a port answers: the port probe knocks, the services follow.
    servers = Servers()
    seen, stats, _ = scan(servers, discovery=False)
    assert sum(servers.accepted.values()) == 2 + 2 + 1  # a knock and the service's connect each; the re-check
    assert len(by_probe(seen, "http")) == 1 and len(by_probe(seen, "rtsp")) == 1


class CrashingWeb:
    """A web probe that fails before making the connects it was left (a parser bug, a crash)."""

    name = "http"

    def __init__(self, web: int, shut: int) -> None:
        self.service_ports = (web, shut)

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        raise RuntimeError("bug")


def test_a_service_probe_that_fails_never_leaves_the_port_probe_waiting():
    servers = Servers()
    seen, stats, _ = scan(servers, discovery=True, web_probe=CrashingWeb)
    # the port probe finished: the web ports' knocks were never made, so nothing is known of them
    [ports] = by_probe(seen, "ports")
    assert ports.fields["open"] == [servers.rtsp]
    assert not stats["deadline_hit"] and stats["elapsed_s"] < 10
    assert any(o.probe == "http" and "bug" in (o.warning or "") for o in seen)


def test_a_port_that_accepts_and_then_fails_the_tls_handshake_is_open_and_reported():
    # The web server speaks plain HTTP on what the web probe takes for a TLS port: the connect is accepted
    # (the port is open, as the port probe's knock would have said), the handshake then fails.
    servers = Servers()
    seen, _, _ = scan(servers, discovery=True,
                      web_probe=lambda web, shut: HttpProbe(plain_ports=(shut,), tls_ports=(web,), paths=()))
    [ports] = by_probe(seen, "ports")
    assert ports.fields["open"] == sorted([servers.web, servers.rtsp])
    [http] = by_probe(seen, "http")
    assert http.fields["port"] == servers.web and (http.warning or "").startswith("connect failed: TLS handshake")


class WebWithOnvif(Servers):
    """The web server also answers ONVIF's SOAP (as cameras do on port 80), recording each request's connection."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[int, str]] = []  # (connection number, "GET /path" or the SOAP operation)

    async def start(self) -> tuple[int, int]:
        web, rtsp = await super().start()
        self.servers[0].close()

        async def web_and_soap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted["web"] += 1
            number = self.accepted["web"]
            try:
                while True:
                    request = await read_request(reader)
                    if request.startswith(b"POST"):
                        op = re.search(rb"<[\w:-]*Body[^>]*>\s*<(?:\w+:)?(\w+)", request)
                        name = op.group(1).decode() if op else "?"
                        self.requests.append((number, name))
                        body = (ONVIF_ASSETS / f"hikvision-{name}.xml").read_bytes()
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
                                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                    else:
                        self.requests.append((number, request.split(b" ", 2)[1].decode()))
                        writer.write(WEB)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        self.servers[0] = await asyncio.start_server(web_and_soap, HOST, web)
        return web, rtsp


def scan_with_onvif(servers: WebWithOnvif, connections: int) -> tuple[list[Observation], dict]:
    async def main() -> tuple[list[Observation], dict]:
        web, rtsp = await servers.start()
        shut = closed_port()  # a second web port: the web probe knocks on it after the first (one slot: in turn)
        probes = {"arp": Arp(), "ports": PortProbe(ports=(web, rtsp, shut), liveness_ports=(web,), alternates=()),
                  "http": HttpProbe(plain_ports=(web, shut), paths=("/a", "/b")), "rtsp": RtspProbe(ports=(rtsp,)),
                  "onvif": OnvifProbe(ports=(web,))}
        opts = ScanOptions(scope=build_scope([HOST]), interface="lo", probes=("arp", "ports", "http", "rtsp", "onvif"),
                           limits=Limits(10_000.0, 1000.0, connections), timeout=1.0, deadline=20.0)
        seen: list[Observation] = []
        try:
            outcome = await run_scan(opts, seen.append, load=probes.__getitem__)
        finally:
            servers.close()
        return seen, outcome.stats

    return asyncio.run(main())


def test_onvif_takes_over_the_web_probes_connection():
    servers = WebWithOnvif()
    seen, _ = scan_with_onvif(servers, connections=2)
    [onvif] = by_probe(seen, "onvif")
    assert onvif.fields["manufacturer"] == "HIKVISION" and onvif.warning is None
    # the web probe's GETs and every SOAP call went over one connection (the re-check's, if on this port, is bare)
    served = {number for number, _ in servers.requests}
    assert len(served) == 1, servers.requests
    assert [what for _, what in servers.requests][:3] == ["/", "/a", "/b"]
    assert [what for _, what in servers.requests][3:] == list(onvif.fields["calls"])


def test_with_one_connection_per_device_nothing_is_left_open_and_nothing_waits_for_it():
    # --profile ot: one connection at a time per device. A connection left open for ONVIF would hold the only
    # slot while the web probe still needs it for its other ports: the scan would wait for its deadline.
    servers = WebWithOnvif()
    seen, stats = scan_with_onvif(servers, connections=1)
    [onvif] = by_probe(seen, "onvif")
    assert onvif.fields["manufacturer"] == "HIKVISION"
    assert not stats["deadline_hit"] and stats["elapsed_s"] < 10
    assert len({number for number, _ in servers.requests}) == 2  # the web probe's connection, then ONVIF's own


def test_nothing_is_left_open_for_onvif_once_the_devices_connections_are_closed():
    # A scan cut short: the engine closes what the web probe left open; a web probe still finishing after
    # that must close its connection itself, or it would outlive the scan (and be torn down at exit).
    class Conn:
        closed = False

        async def close(self) -> None:
            self.closed = True

    async def main() -> None:
        state = HostState(ip=HOST, keep_for=frozenset({(80, False)}))
        first, late = Conn(), Conn()
        assert state.keep(80, False, first)
        await state.close_kept()
        assert first.closed and not state.kept
        assert not state.wants_kept(80, False) and not state.keep(80, False, late)

    asyncio.run(main())
