"""ARP: request builder (checked against scapy), reply/neighbour parsers on recorded frames,
and the sweep engine with an injected in-memory link (no frame ever leaves the process)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from discovery_fakes import make_ctx, run_probe

from auditor.probes.arp import (
    SETTLE_MIN,
    ArpProbe,
    build_arp_request,
    parse_arp_reply,
    parse_neighbours,
    settle_time,
)

ASSETS = Path(__file__).parent / "assets" / "arp"


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


# --- builder ---------------------------------------------------------------------------------------


def test_request_matches_scapys_rendering():
    from scapy.layers.l2 import ARP, Ether

    ours = build_arp_request("02:42:c6:12:00:02", "198.18.0.2", "198.18.0.64")
    theirs = bytes(
        Ether(dst="ff:ff:ff:ff:ff:ff", src="02:42:c6:12:00:02")
        / ARP(op=1, hwsrc="02:42:c6:12:00:02", psrc="198.18.0.2", hwdst="00:00:00:00:00:00", pdst="198.18.0.64")
    )
    assert ours == theirs
    assert len(ours) == 42


# --- reply parser ------------------------------------------------------------------------------------


def test_reply_frames():
    hik = ("198.18.0.64", {"mac": "c4:2f:90:a1:b2:c3", "source": "sweep"})
    assert parse_arp_reply(asset("reply_hikvision.bin")) == hik
    assert parse_arp_reply(asset("reply_axis.bin")) == ("198.18.0.90", {"mac": "ac:cc:8e:12:34:56", "source": "sweep"})
    assert parse_arp_reply(asset("reply_unpadded.bin"))[0] == "198.18.0.108"


def test_accepts_a_scapy_packet():
    from scapy.layers.l2 import Ether

    assert parse_arp_reply(Ether(asset("reply_axis.bin")))[1]["mac"] == "ac:cc:8e:12:34:56"


@pytest.mark.parametrize(
    "name",
    ["request_who_has.bin", "bad_truncated.bin", "bad_garbage.bin", "not_arp_ipv4.bin", "bad_zero_mac_reply.bin"],
)
def test_non_replies_and_junk_are_ignored(name):
    assert parse_arp_reply(asset(name)) is None


# --- neighbour tables ----------------------------------------------------------------------------------


def test_ip_json_neighbours():
    entries = dict(parse_neighbours(asset("neigh.json")))
    assert entries == {
        "198.18.0.1": {"mac": "02:42:c6:12:00:01", "source": "neighbour"},
    }  # only the REACHABLE entry: STALE/DELAY ones may be devices long gone, PERMANENT ones configuration;
    #    FAILED, INCOMPLETE and IPv6 entries skipped


def test_reachable_neighbour_mac_is_lower_cased():
    table = b'[{"dst": "198.18.0.90", "lladdr": "AC:CC:8E:12:34:56", "state": ["REACHABLE"]}]'
    assert parse_neighbours(table) == [("198.18.0.90", {"mac": "ac:cc:8e:12:34:56", "source": "neighbour"})]


def test_a_stale_entry_is_no_sighting():
    """A camera unplugged an hour ago can linger as STALE: it must not stay in the inventory."""
    table = b'[{"dst": "198.18.0.64", "lladdr": "c4:2f:90:a1:b2:c3", "state": ["STALE"]}]'
    assert parse_neighbours(table) == []


def test_empty_and_bad_neighbour_json():
    assert parse_neighbours(asset("neigh_empty.json")) == []
    with pytest.raises(ValueError):
        parse_neighbours(asset("bad_neigh.json"))
    with pytest.raises(ValueError):
        parse_neighbours(b"not json")


# --- engine on an in-memory link ------------------------------------------------------------------------


class FakeLink:
    """Sender + receiver pair: 'hosts' answer who-has requests by writing reply frames to the receiver.

    ``drop_first`` hosts ignore their first request (to exercise the retry round).
    """

    def __init__(self, hosts: dict[str, str], drop_first: set[str] = frozenset(), strangers: dict[str, str] = None):
        self.hosts = hosts
        self.drop_first = set(drop_first)
        self.strangers = strangers or {}
        self.asked: list[str] = []
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ours.setblocking(False)
        self.closed = False

    # receiver_factory / sender_factory
    def receiver(self, iface: str) -> socket.socket:
        return self.ours

    def sender(self, iface: str) -> FakeLink:
        return self

    def send(self, frame: bytes) -> None:
        target = socket.inet_ntoa(frame[38:42])
        requester_mac, requester_ip = frame[22:28], frame[28:32]
        self.asked.append(target)
        self.theirs.send(frame)  # our own request echoes back on a packet socket: must be ignored
        if target in self.drop_first:
            self.drop_first.discard(target)
            return
        for ip, mac in [(target, self.hosts.get(target))] + list(self.strangers.items()):
            if mac is None:
                continue
            m = bytes.fromhex(mac.replace(":", ""))
            reply = requester_mac + m + b"\x08\x06" + bytes.fromhex("0001080006040002") + m + socket.inet_aton(ip)
            self.theirs.send(reply + requester_mac + requester_ip)

    def close(self) -> None:
        self.closed = True


def test_sweep_finds_on_link_hosts_retries_silent_ones_and_respects_scope():
    link = FakeLink(
        hosts={"127.0.0.2": "c4:2f:90:a1:b2:c3", "127.0.0.3": "3c:ef:8c:00:00:03"},
        drop_first={"127.0.0.3"},
        strangers={"127.0.0.200": "02:00:00:00:00:c8"},  # answers although not asked, outside the scope
    )
    scope = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "10.1.2.3"]

    async def scenario():
        ctx, seen = make_ctx(scope, timeout=0.2, iface="127.0.0.1/24")
        probe = ArpProbe(read_neighbours=False, sender_factory=link.sender, receiver_factory=link.receiver)
        await run_probe(probe, ctx)
        return ctx, seen

    ctx, seen = asyncio.run(scenario())
    assert sorted((o.ip, o.fields["mac"]) for o in seen) == [
        ("127.0.0.2", "c4:2f:90:a1:b2:c3"),
        ("127.0.0.3", "3c:ef:8c:00:00:03"),
    ]
    assert all(o.probe == "arp" and o.fields["source"] == "sweep" for o in seen)
    assert ctx.live == {"127.0.0.2", "127.0.0.3"}
    # on-link targets only (10.1.2.3 is routed), never our own address; silent ones asked twice
    assert sorted(link.asked) == ["127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.4", "127.0.0.4"]
    assert ctx.rate.count == len(link.asked)
    assert link.closed


def test_listening_follows_how_fast_the_segment_answers():
    assert settle_time(2.0, None) == 2.0  # nothing answered yet: the whole timeout
    assert settle_time(2.0, 0.004) == SETTLE_MIN  # a LAN answering in milliseconds: the floor
    assert settle_time(2.0, 0.3) == pytest.approx(1.2)  # a loaded scanner or slow segment: more
    assert settle_time(2.0, 1.5) == 2.0  # never past the timeout
    assert settle_time(0.2, 0.001) == 0.2  # a short timeout stays the limit


def test_a_sweep_whose_hosts_answer_at_once_does_not_wait_out_the_timeout():
    # Silent addresses are asked twice and then given up once the answering hosts showed how fast
    # this link is, not after the probe timeout (here 30 s: the scenario is bounded at 10).
    link = FakeLink(hosts={"127.0.0.2": "c4:2f:90:a1:b2:c3"}, drop_first={"127.0.0.2"})

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.3", "127.0.0.4"], timeout=30.0, iface="127.0.0.1/24")
        probe = ArpProbe(read_neighbours=False, sender_factory=link.sender, receiver_factory=link.receiver)
        await asyncio.wait_for(run_probe(probe, ctx), 10)
        return seen

    seen = asyncio.run(scenario())
    assert [(o.ip, o.fields["mac"]) for o in seen] == [("127.0.0.2", "c4:2f:90:a1:b2:c3")]
    assert sorted(link.asked) == ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.4", "127.0.0.4"]


def test_neighbour_entries_fill_in_hosts_the_sweep_missed(monkeypatch):
    link = FakeLink(hosts={"127.0.0.2": "c4:2f:90:a1:b2:c3"})
    table = [
        ("127.0.0.2", {"mac": "c4:2f:90:a1:b2:c3", "source": "neighbour"}),  # also swept: sweep wins
        ("127.0.0.5", {"mac": "ac:cc:8e:00:00:05", "source": "neighbour"}),  # silent now, known to the kernel
        ("127.0.0.9", {"mac": "ac:cc:8e:00:00:09", "source": "neighbour"}),  # outside the scope
    ]

    async def fake_neighbours(self, ctx):
        return table

    monkeypatch.setattr(ArpProbe, "_neighbours", fake_neighbours)

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2", "127.0.0.5"], timeout=0.1, iface="127.0.0.1/24")
        await run_probe(ArpProbe(retries=0, sender_factory=link.sender, receiver_factory=link.receiver), ctx)
        return seen

    seen = asyncio.run(scenario())
    assert sorted((o.ip, o.fields["source"]) for o in seen) == [("127.0.0.2", "sweep"), ("127.0.0.5", "neighbour")]
