"""Discovery probes over a real link: two namespaces joined by a veth, nothing in the root namespace.

The probe runs in namespace A (its thread setns's into it, as the scan engine's does), a tiny
responder — and the kernel itself, for ARP — in namespace B. Covers what loopback cannot:
multicast pinned to an interface, subnet broadcast, replies by multicast, scapy's L2 socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import select
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from discovery_fakes import ListScope

from auditor.models import Observation
from auditor.netns import enter_netns
from auditor.probes.arp import ArpProbe
from auditor.probes.base import ProbeContext, RateLimiter
from auditor.probes.dhip import DhipProbe
from auditor.probes.sadp import SadpProbe
from auditor.probes.wsdiscovery import WsDiscoveryProbe

pytestmark = pytest.mark.netns

ASSETS = Path(__file__).parent / "assets"
A_IP, B_IP = "198.18.77.1", "198.18.77.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def link() -> Iterator[dict[str, str]]:
    tag = "camlt" + secrets.token_hex(3)
    ns_a, ns_b = f"{tag}-a", f"{tag}-b"
    va, vb = f"{tag[-6:]}va", f"{tag[-6:]}vb"
    made: list[str] = []
    try:
        for ns in (ns_a, ns_b):
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        # the veth is born inside A and its peer moved straight into B: never in the root namespace
        _ip("-n", ns_a, "link", "add", va, "type", "veth", "peer", "name", vb, "netns", ns_b)
        _ip("-n", ns_a, "addr", "add", f"{A_IP}/24", "dev", va)
        _ip("-n", ns_b, "addr", "add", f"{B_IP}/24", "dev", vb)
        _ip("-n", ns_a, "link", "set", va, "up")
        _ip("-n", ns_b, "link", "set", vb, "up")
        out = subprocess.run(["ip", "-n", ns_b, "-j", "link", "show", vb], check=True, capture_output=True, text=True)
        yield {"a": ns_a, "b": ns_b, "va": va, "vb": vb, "b_mac": json.loads(out.stdout)[0]["address"]}
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Responder(threading.Thread):
    """Answers WS-D, SADP and DHIP inside namespace B; DHIP answers by multicast, as some devices do."""

    def __init__(self, ns: str) -> None:
        super().__init__(daemon=True)
        self.ns = ns
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.requests: dict[int, list[bytes]] = {3702: [], 37020: [], 37810: []}
        self.error: BaseException | None = None

    def _listener(self, group: str, port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton(B_IP))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(B_IP))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        return s

    def run(self) -> None:
        try:
            with enter_netns(self.ns):
                socks = {
                    3702: self._listener("239.255.255.250", 3702),
                    37020: self._listener("239.255.255.250", 37020),
                    37810: self._listener("239.255.255.251", 37810),
                }
            replies = {
                3702: (ASSETS / "wsdiscovery" / "hikvision_ds2cd2143g2.xml").read_bytes(),
                37020: (ASSETS / "sadp" / "hikvision_ds2cd2143g2.xml").read_bytes(),
                37810: (ASSETS / "dhip" / "lorex_w461asc.bin").read_bytes(),
            }
            self.ready.set()
            by_fd = {s.fileno(): (port, s) for port, s in socks.items()}
            while not self.stop.is_set():
                readable, _, _ = select.select(list(by_fd), [], [], 0.05)
                for fd in readable:
                    port, s = by_fd[fd]
                    data, addr = s.recvfrom(65535)
                    self.requests[port].append(data)
                    if port == 37810:
                        s.sendto(replies[port], ("239.255.255.251", 37810))
                    elif port == 37020 and b"<Probe>" in data or port == 3702 and b"Probe>" in data:
                        s.sendto(replies[port], addr)
            for s in socks.values():
                s.close()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.ready.set()


def run_in_ns(ns: str, probe: Any, iface: str, scope: list[str]) -> tuple[ProbeContext, list[Observation]]:
    seen: list[Observation] = []
    ctx = ProbeContext(
        scope=ListScope(scope),
        interface=iface,
        iface_addr=ipaddress.IPv4Interface(f"{A_IP}/24"),
        rate=RateLimiter(2000, burst=50),
        timeout=0.3,
        deadline=time.monotonic() + 8,
        emit=seen.append,
    )
    result: dict[str, BaseException] = {}

    def body() -> None:
        try:
            with enter_netns(ns):
                asyncio.run(asyncio.wait_for(probe.run(ctx), timeout=10))
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=body)
    t.start()
    t.join(15)
    assert not t.is_alive(), "probe did not return"
    if "error" in result:
        raise result["error"]
    return ctx, seen


@pytest.fixture(scope="module")
def responder(link: dict[str, str]) -> Iterator[Responder]:
    r = Responder(link["b"])
    r.start()
    assert r.ready.wait(5)
    if r.error:
        raise r.error
    yield r
    r.stop.set()
    r.join(2)


SCOPE = [f"198.18.77.{i}" for i in range(1, 7)]


def test_arp_sweep_finds_the_peer_with_its_mac(link):
    ctx, seen = run_in_ns(link["a"], ArpProbe(), link["va"], SCOPE)
    sweep = [o for o in seen if o.fields.get("source") == "sweep"]
    assert [(o.ip, o.fields["mac"]) for o in sweep] == [(B_IP, link["b_mac"])]
    assert B_IP in ctx.live and A_IP not in ctx.live


@pytest.mark.parametrize(
    ("probe", "port", "check"),
    [
        (WsDiscoveryProbe(), 3702, lambda f: f["hardware"] == "DS-2CD2143G2-I"),
        (SadpProbe(), 37020, lambda f: f["serial"].startswith("DS-2CD2143G2-I")),
        (DhipProbe(), 37810, lambda f: f["vendor"] == "Lorex"),  # answered by multicast
    ],
    ids=["wsdiscovery", "sadp", "dhip"],
)
def test_multicast_discovery_over_the_link(link, responder, probe, port, check):
    before = len(responder.requests[port])
    ctx, seen = run_in_ns(link["a"], probe, link["va"], SCOPE)
    assert len(seen) == 1, seen
    [obs] = seen
    assert obs.ip == B_IP and obs.warning is None and check(obs.fields)
    assert ctx.live == {B_IP}
    # repeated (UDP loses packets), and nothing unicast: B is on-link
    assert len(responder.requests[port]) - before >= 2
