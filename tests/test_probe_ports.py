"""Port probe: open/closed detection, volunteered banners, tarpits bounded by the short banner wait."""

from __future__ import annotations

import asyncio
import time

from hostprobe_support import free_port, make_ctx, serve, tarpit

from auditor.models import Observation
from auditor.probes.base import HostState
from auditor.probes.ports import ALTERNATE_PORTS, CAMERA_PORTS, LIVENESS_PORTS, PortProbe, clean_banner, strip_telnet


def test_camera_ports_cover_the_issue_list() -> None:
    for port in (80, 443, 554, 8000, 8080, 8443, 8899, 37777, 34567, 23, 21, 22, 8554):
        assert port in CAMERA_PORTS
    assert len(set(CAMERA_PORTS)) == len(CAMERA_PORTS)


def test_strip_telnet_negotiation() -> None:
    raw = b"\xff\xfd\x18\xff\xfd\x20\xff\xfa\x18\x01\xff\xf0\xff\xfb\x01login: \xff\xff"
    assert strip_telnet(raw) == b"login: \xff"
    assert clean_banner(b"\xff\xfb\x01\xff\xfb\x03(none) login: ") == "(none) login:"


def test_clean_banner_drops_controls_and_caps() -> None:
    assert clean_banner(b"220 \x1b[31mDVR FTP\x00 ready\r\n") == "220 [31mDVR FTP ready"
    assert clean_banner(b"SSH-2.0-dropbear_2019.78\r\n") == "SSH-2.0-dropbear_2019.78"
    assert len(clean_banner(b"A" * 5000)) == 256
    assert "<script>" in clean_banner(b"<script>alert(1)</script>")  # kept as text, escaped by the report


def test_open_closed_banner_and_tarpit() -> None:
    async def ftp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 Hikvision DVR FTP server ready\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async def silent_web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def main() -> tuple[list[Observation], HostState, float, tuple[int, ...]]:
        s1, ftp_port = await serve(ftp)
        s2, web_port = await serve(silent_web)
        s3, pit_port = await serve(tarpit)
        closed = free_port()
        out: list[Observation] = []
        ctx = make_ctx(out, timeout=4.0)
        host = HostState(ip="127.0.0.1")
        probe = PortProbe(ports=(ftp_port, web_port, pit_port, closed), banner_ports=(ftp_port, pit_port),
                          banner_wait=0.2)
        t0 = time.monotonic()
        await probe.probe_host(ctx, host)
        took = time.monotonic() - t0
        for s in (s1, s2, s3):
            s.close()
        return out, host, took, (ftp_port, web_port, pit_port, closed)

    out, host, took, (ftp_port, web_port, pit_port, closed) = asyncio.run(main())
    assert host.open_ports == {ftp_port, web_port, pit_port}
    assert len(out) == 1
    obs = out[0]
    assert obs.probe == "ports" and obs.warning is None
    assert obs.fields["open"] == sorted([ftp_port, web_port, pit_port])
    assert obs.fields["banners"] == {str(ftp_port): "220 Hikvision DVR FTP server ready"}
    assert took < 3.0  # the tarpit cost the 0.2 s banner wait, not the 4 s timeout


def test_all_refused_is_a_live_host_with_no_open_port() -> None:
    """Refusals are answers: a routed host with every camera port closed is still in the inventory."""
    out: list[Observation] = []
    host = HostState(ip="127.0.0.1")
    asyncio.run(PortProbe(ports=(free_port(),)).probe_host(make_ctx(out), host))
    assert host.open_ports == set()
    assert [o.fields["open"] for o in out] == [[]]


def test_out_of_scope_host_is_not_touched() -> None:
    out: list[Observation] = []
    host = HostState(ip="192.0.2.1")  # TEST-NET-1, outside the loopback scope
    asyncio.run(PortProbe(ports=(80,)).probe_host(make_ctx(out), host))
    assert out == [] and host.open_ports == set()


def test_deadline_passed_probes_nothing() -> None:
    async def main() -> list[Observation]:
        server, port = await serve(tarpit)
        out: list[Observation] = []
        await PortProbe(ports=(port,)).probe_host(make_ctx(out, deadline_in=-1), HostState("127.0.0.1"))
        server.close()
        return out

    assert asyncio.run(main()) == []


def test_silent_unknown_address_costs_only_the_liveness_ports() -> None:
    """A routed target nobody heard from: when no liveness port answers, the rest are never tried."""
    tried: list[int] = []

    class Counting(PortProbe):
        async def _try_port(self, ctx, host, port, knocks=True):  # type: ignore[no-untyped-def]
            tried.append(port)
            return None

    async def main() -> None:
        ctx = make_ctx([], timeout=0.2)
        await Counting(ports=(1, 2, 3, 4), liveness_ports=(1, 2)).probe_host(ctx, HostState(ip="127.0.0.1"))

    asyncio.run(main())
    assert sorted(tried) == [1, 2]


def test_refusal_proves_a_host_and_all_ports_are_tried() -> None:
    async def main() -> tuple[HostState, list[Observation]]:
        s1, web_port = await serve(lambda r, w: asyncio.sleep(0))
        closed = free_port()
        out: list[Observation] = []
        ctx = make_ctx(out, timeout=1.0)
        host = HostState(ip="127.0.0.1")
        await PortProbe(ports=(closed, web_port), liveness_ports=(closed,)).probe_host(ctx, host)
        s1.close()
        return host, out

    host, out = asyncio.run(main())
    assert host.open_ports == {next(iter(host.open_ports))} and len(host.open_ports) == 1
    assert out and out[0].fields["open"] == sorted(host.open_ports)


class _Flaky(PortProbe):
    """Every connect of the first pass times out (a busy host or network), then the real answer."""

    def __init__(self, silent_passes: int, ports: tuple[int, ...]) -> None:
        super().__init__(ports=ports, liveness_ports=ports, banner_wait=0.1)
        self.calls = 0
        self.silent_passes = silent_passes

    async def _try_port(self, ctx, host, port, knocks=True):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls <= self.silent_passes * len(self.ports):
            return None
        return await super()._try_port(ctx, host, port, knocks)


def _probe_live(silent_passes: int, live: bool) -> tuple[list[Observation], HostState, _Flaky]:
    async def main() -> tuple[list[Observation], HostState, _Flaky]:
        server, port = await serve(tarpit)
        probe = _Flaky(silent_passes, (port, free_port()))
        out: list[Observation] = []
        ctx = make_ctx(out, timeout=0.5)
        if live:
            ctx.live.add("127.0.0.1")
        host = HostState(ip="127.0.0.1")
        await probe.probe_host(ctx, host)
        server.close()
        return out, host, probe

    return asyncio.run(main())


def test_a_live_host_whose_connects_all_timed_out_is_tried_once_more() -> None:
    """The demo's linux server answered ARP, but under load every connect timed out: it got no
    ports observation, so no HTTP either, and came out class unknown. One more pass now."""
    out, host, _ = _probe_live(1, live=True)
    assert len(host.open_ports) == 1
    assert [(o.probe, o.warning) for o in out] == [("ports", None)]


def test_a_live_host_that_never_answers_gets_a_warning_not_silence() -> None:
    from auditor.probes.ports import UNPROBED

    out, host, _ = _probe_live(2, live=True)
    assert host.open_ports == set()
    assert [(o.fields, o.warning) for o in out] == [({}, UNPROBED)]


def test_a_silent_address_nobody_heard_is_not_tried_twice() -> None:
    out, _, probe = _probe_live(2, live=False)
    assert out == [] and probe.calls == len(probe.ports)  # the liveness ports once, nothing more


class _Scripted(PortProbe):
    """Answers from a table (port → open/refused), recording every port tried."""

    def __init__(self, answers: dict[int, bool], **kwargs: object) -> None:
        super().__init__(ports=tuple(answers), liveness_ports=(), **kwargs)  # type: ignore[arg-type]
        self.answers = answers
        self.tried: list[int] = []

    async def _try_port(self, ctx, host, port, knocks=True):  # type: ignore[no-untyped-def]
        self.tried.append(port)
        return (self.answers[port], "")


def _run_scripted(answers: dict[int, bool]) -> tuple[list[int], list[int]]:
    out: list[Observation] = []
    probe = _Scripted(answers)
    asyncio.run(probe.probe_host(make_ctx(out), HostState(ip="127.0.0.1")))
    return sorted(probe.tried), out[0].fields["open"]


def test_a_typical_camera_costs_the_standard_ports_only() -> None:
    """Web, TLS and RTSP on their usual ports: none of their alternates is tried (12 of 20)."""
    answers = {p: p in (80, 443, 554, 8000) for p in CAMERA_PORTS}
    tried, open_ports = _run_scripted(answers)
    assert open_ports == [80, 443, 554, 8000]
    assert not {81, 88, 5000, 7001, 8081, 8443, 8554, 8888} & set(tried) and len(tried) == 12


def test_a_service_moved_off_its_port_is_still_found() -> None:
    """Web UI on 8081, HTTPS on 8443 and RTSP on 8554 (standard ports refused): every alternate is tried."""
    answers = {p: p in (8081, 8443, 8554, 37777) for p in CAMERA_PORTS}
    tried, open_ports = _run_scripted(answers)
    assert open_ports == [8081, 8443, 8554, 37777] and tried == sorted(CAMERA_PORTS)


def test_alternates_are_per_service() -> None:
    """Plain web on 80 but no TLS on 443: 8443 is tried (a web UI over TLS there is not missed), 8081 is not."""
    answers = {p: p in (80, 8443) for p in CAMERA_PORTS}
    tried, open_ports = _run_scripted(answers)
    assert open_ports == [80, 8443] and 8443 in tried and 8554 in tried and 8081 not in tried


def test_every_alternate_port_is_a_camera_port_and_no_standard_one() -> None:
    alternates = {p for _, alt in ALTERNATE_PORTS for p in alt}
    standards = {p for std, _ in ALTERNATE_PORTS for p in std}
    assert alternates <= set(CAMERA_PORTS) and standards <= set(CAMERA_PORTS) and not alternates & standards
    assert not alternates & set(LIVENESS_PORTS)
