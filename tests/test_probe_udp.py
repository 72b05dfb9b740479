"""The shared UDP discovery engine: helpers, and that a host which never stops talking cannot hold it."""

from __future__ import annotations

import asyncio

import pytest
from discovery_fakes import make_ctx, run_probe

from auditor.probes.sadp import SadpProbe, build_sadp_inquiry, parse_sadp_reply
from auditor.probes.udp import (
    MAX_DATAGRAMS_PER_SENDER,
    UdpDiscovery,
    _Collector,
    _SendState,
    device_key,
    excerpt,
    scope_on_link,
    to_bool,
    to_int,
)


def test_value_helpers():
    assert to_int(" 8000 ") == 8000 and to_int("70000") is None and to_int("x") is None and to_int(True) is None
    assert to_bool("TRUE") is True and to_bool("false") is False and to_bool("flase") is None


def test_excerpt_is_bounded_and_printable():
    text = excerpt(b"\x20\x00\x00\x00DHIP" + b"\x00" * 8 + b'{"a":1}' + b"x" * 5000)
    assert text.startswith(" ...DHIP........{\"a\":1}") and len(text) == 2048


def test_a_flooding_host_cannot_hold_the_probe_and_yields_one_warning():
    """The host answers the first request, then sends garbage for ever; the probe still returns."""

    async def scenario():
        ctx, seen = make_ctx(["127.0.0.2"], timeout=0.2, deadline_s=30)
        stop = asyncio.Event()
        sent = 0

        async def flood(transport, addr):
            nonlocal sent
            while not stop.is_set():
                transport.sendto(b"\x00garbage" * 10, addr)
                sent += 1
                await asyncio.sleep(0.002)

        tasks = []
        loop = asyncio.get_running_loop()

        class Proto(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                if not tasks:
                    tasks.append(asyncio.ensure_future(flood(self.transport, addr)))

        transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.2", 0))
        port = transport.get_extra_info("sockname")[1]
        try:
            await run_probe(SadpProbe(port=port, group=None), ctx, bound=5.0)
        finally:
            stop.set()
            for t in tasks:
                await t
            transport.close()
        return seen, sent

    seen, sent = asyncio.run(scenario())
    assert sent > MAX_DATAGRAMS_PER_SENDER  # it really kept talking past the guard
    [obs] = seen
    assert obs.ip == "127.0.0.2" and obs.fields == {} and obs.warning


class _RecordingTransport:
    """Stands in for the datagram transport: records destinations, sends nothing."""

    def __init__(self) -> None:
        self.dests: list[tuple[str, int]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.dests.append(addr)


@pytest.mark.parametrize(("scope", "wide"), [(["127.0.0.2"], False), (["10.99.0.7", "127.0.0.2"], True)])
def test_multicast_and_broadcast_only_when_the_scope_reaches_the_link(scope, wide):
    """A scope of routed addresses only must not multicast/broadcast on the operator's LAN.

    The interface address is fictitious and the transport a recorder: nothing is sent.
    """

    async def scenario():
        ctx, _ = make_ctx(scope, timeout=0.1, iface="10.99.0.1/24")
        spec = UdpDiscovery(name="sadp", port=37020, group="239.255.255.250",
                            payloads=lambda multicast: [build_sadp_inquiry()], parse=lambda d: [parse_sadp_reply(d)],
                            key=device_key, broadcast=True, repeats=1, unicast_retry=False)
        transport = _RecordingTransport()
        await spec._send_all(ctx, transport, _Collector(spec, ctx), _SendState(last=0.0),  # type: ignore[arg-type]
                             scope_on_link(ctx))
        return transport.dests

    dests = asyncio.run(scenario())
    assert ("127.0.0.2", 37020) in dests
    wide_dests = {("239.255.255.250", 37020), ("10.99.0.255", 37020)}
    assert (wide_dests <= set(dests)) if wide else not (wide_dests & set(dests))


def test_replies_still_in_the_socket_when_listening_ends_are_read_not_dropped():
    """At 1,000 devices the event loop is busy probing hosts and asyncio reads one datagram per
    trip through it: replies that had reached the socket could still be unread when the listening
    window closed, and closing threw them away. Before closing, the probe reads what is left."""
    import socket
    from collections import deque

    from auditor.probes.udp import _read_what_is_left

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_sock, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
        probe_sock.bind(("127.0.0.1", 0))
        probe_sock.setblocking(False)
        device.bind(("127.0.1.7", 0))
        for n in range(120):  # within the default receive buffer
            device.sendto(b"reply %d" % n, probe_sock.getsockname())
        queue: deque = deque()
        _read_what_is_left([probe_sock], queue)
        assert [d for d, _, _ in queue] == [b"reply %d" % n for n in range(120)]
        assert {ip for _, ip, _ in queue} == {"127.0.1.7"}
        _read_what_is_left([probe_sock], queue)  # nothing more: returns at once, never blocks
        assert len(queue) == 120
