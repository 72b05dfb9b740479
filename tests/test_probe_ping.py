"""The routed-range sweep's packets (auditor/probes/ping.py): checksums, replies, the TCP fallback.

The kernel's own echo replies are what the lab tests read (tests/test_e2e_pacing.py sweeps a
routed range through a real router namespace); here, the packet formats of RFC 792 and the
checksum of RFC 1071, and the fallback on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from hostprobe_support import make_ctx

from auditor.probes.ping import MARKER, PingProbe, _Recent, _Targets, build_echo, checksum, parse_icmp


def ip_header(src: str, dst: str, proto: int = 1, ttl: int = 63, length: int = 0) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0, ttl, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def test_checksum_is_rfc_1071s_example():
    # RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, so the checksum is 220d
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert checksum(b"\x01") == checksum(b"\x01\x00")  # odd length: padded with a zero byte


def test_an_echo_request_is_well_formed():
    packet = build_echo(0x1234, 7)
    kind, code, _, ident, seq = struct.unpack("!BBHHH", packet[:8])
    assert (kind, code, ident, seq) == (8, 0, 0x1234, 7) and packet[8:] == MARKER
    assert checksum(packet) == 0  # a valid checksum sums to zero


def test_an_echo_reply_from_a_raw_socket_and_from_the_kernels_ping_socket():
    icmp = b"\x00\x00" + build_echo(0x1234, 1)[2:]  # type 0: the reply carries the request's id and data
    raw = ip_header("198.19.85.86", "198.18.0.2", ttl=63, length=len(icmp)) + icmp
    reply = parse_icmp(raw, "198.19.85.86", 0x1234, has_ip_header=True)
    assert reply is not None and (reply.kind, reply.address, reply.ttl) == ("echo", "198.19.85.86", 63)
    assert parse_icmp(icmp, "198.19.85.86", None, has_ip_header=False).kind == "echo"  # type: ignore[union-attr]
    assert parse_icmp(raw, "198.19.85.86", 0x9999, has_ip_header=True) is None  # another tool's echo
    foreign = b"\x00\x00" + build_echo(0x1234, 1, b"someone else's ping")[2:]
    assert parse_icmp(foreign, "198.19.85.86", None, has_ip_header=False) is None


def test_a_routers_unreachable_names_the_address_our_echo_was_for():
    ours = ip_header("198.18.0.2", "198.19.5.5", length=8 + len(MARKER)) + build_echo(0x1234, 0)
    icmp = struct.pack("!BBHI", 3, 1, 0, 0) + ours[:28]  # type 3 code 1 (host unreachable): IP header + 8 bytes
    packet = ip_header("198.18.0.1", "198.18.0.2", length=len(icmp)) + icmp
    reply = parse_icmp(packet, "198.18.0.1", 0x1234, has_ip_header=True)
    assert reply is not None and (reply.kind, reply.address) == ("unreachable", "198.19.5.5")
    assert parse_icmp(packet, "198.18.0.1", 0x4321, has_ip_header=True) is None


def test_garbage_is_ignored_never_raised_on():
    for junk in (b"", b"\x45", b"\x45" + b"\x00" * 19, b"\x60" * 40, b"\x03\x01" + b"\xff" * 30):
        assert parse_icmp(junk, "198.18.0.9", 1, has_ip_header=True) is None
        assert parse_icmp(junk, "198.18.0.9", None, has_ip_header=False) is None


def test_without_an_icmp_socket_one_connect_per_address_any_answer_counts():
    async def main() -> tuple[set[str], list[str]]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        seen: list = []
        ctx = make_ctx(seen, timeout=0.5)
        try:
            targets = ["127.0.0.1", "127.0.0.2"]
            await PingProbe(tcp_ports=(port,))._tcp_sweep(ctx, _Targets(lambda: iter(targets), 2))
        finally:
            server.close()
        return ctx.live, [o.fields["method"] for o in seen]

    live, methods = asyncio.run(main())
    # 127.0.0.1 accepts, 127.0.0.2 refuses: both are hosts (a refusal is an answer)
    assert live == {"127.0.0.1", "127.0.0.2"} and methods == ["tcp", "tcp"]


def test_the_sweep_remembers_only_the_last_seconds_of_sends(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("auditor.probes.ping.time.monotonic", lambda: clock[0])
    recent = _Recent(keep=3.0)
    for i in range(10_000):  # a long sweep: one echo every millisecond
        recent.add(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1)
        clock[0] += 0.001
    assert len(recent._data) <= 3_001  # what can still be answered, not every address asked
    assert recent.get("10.0.39.15") is not None and recent.get("10.0.0.1") is None
    recent.add("10.0.0.1", 2)  # the retry asks it again
    assert recent.get("10.0.0.1") == (2, clock[0])
