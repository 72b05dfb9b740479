"""Just enough rtnetlink to configure one lab device's interface from the current thread.

Spawning ``ip`` costs ~2-4 ms per device namespace; for 1000 devices that is most of
the bring-up. A netlink socket opened after ``setns`` talks to that namespace's
kernel tables directly: link up, one IPv4 address, one default route.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import ipaddress
import os
import socket
import struct

from ..errors import LabError

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH = 16, 20, 24, 28
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFF_UP = 0x1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_GATEWAY, RTA_OIF = 5, 4
NDA_DST, NDA_LLADDR, NUD_PERMANENT = 1, 2, 0x80
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1


SIOCETHTOOL = 0x8946
ETHTOOL_STSO, ETHTOOL_SGRO = 0x1F, 0x2C


class NetlinkError(LabError):
    """An rtnetlink or ethtool request the lab sent was refused."""


def ethtool_set(ifname: str, cmd: int, value: int) -> None:
    """Legacy SIOCETHTOOL set (``ethtool -K``) in the current thread's namespace."""
    val = ctypes.create_string_buffer(struct.pack("=II", cmd, value), 8)
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(val)) + b"\0" * 16
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
        except OSError as exc:
            raise NetlinkError(f"ethtool {ifname} cmd {cmd:#x}: {exc.strerror}") from exc


def veth_own_queue(receiver: str | None = None, sender: str | None = None) -> None:
    """Make frames ``sender`` transmits land in ``receiver``'s own NAPI ring, not the per-CPU backlog.

    A bridge flood to N ports queues N frames on one CPU's backlog at once
    (``netdev_max_backlog``, 1000): at ~1000 devices the last ports of every
    broadcast were dropped, so some devices never saw an ARP request. A veth whose
    receiver has GRO on (and whose sender has TSO off) uses its own ring instead.
    """
    if receiver is not None:
        ethtool_set(receiver, ETHTOOL_SGRO, 1)
    if sender is not None:
        ethtool_set(sender, ETHTOOL_STSO, 0)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


class Rtnl:
    """A NETLINK_ROUTE socket in the calling thread's current network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.settimeout(5.0)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, msg_type: int, flags: int, body: bytes, what: str) -> None:
        self.seq += 1
        header = struct.pack("=LHHLL", 16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0)
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=LHHLL", data, offset)
                if kind == NLMSG_ERROR and seq == self.seq:
                    (err,) = struct.unpack_from("=i", data, offset + 16)
                    if err:
                        raise NetlinkError(f"{what}: {errno.errorcode.get(-err, err)} ({os.strerror(-err)})")
                    return
                offset += max(length, 16)

    def link_up(self, index: int) -> None:
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
        self._request(RTM_NEWLINK, 0, body, f"link {index} up")

    def link_down(self, index: int) -> None:
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, IFF_UP)
        self._request(RTM_NEWLINK, 0, body, f"link {index} down")

    def add_ipv4(self, index: int, iface: ipaddress.IPv4Interface) -> None:
        body = struct.pack("=BBBBI", socket.AF_INET, iface.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        packed = iface.ip.packed
        body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        body += _attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
        self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"address {iface}")

    def add_default_route(self, index: int, gateway: ipaddress.IPv4Address) -> None:
        body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                           RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        body += _attr(RTA_GATEWAY, gateway.packed) + _attr(RTA_OIF, struct.pack("=I", index))
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, f"default route via {gateway}")

    def add_neighbour(self, index: int, ip: ipaddress.IPv4Address, mac: str) -> None:
        body = struct.pack("=BxxxiHBB", socket.AF_INET, index, NUD_PERMANENT, 0, 1)
        body += _attr(NDA_DST, ip.packed) + _attr(NDA_LLADDR, bytes.fromhex(mac.replace(":", "")))
        self._request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, body, f"neighbour {ip}")


def configure_device(iface_name: str, address: str, prefixlen: int, gateway: str,
                     neighbours: dict[str, str] | None = None) -> None:
    """In the current thread's namespace: lo and ``iface_name`` up, address, default route,
    and permanent neighbour entries ``{ip: mac}``."""
    try:
        index = socket.if_nametoindex(iface_name)
        lo = socket.if_nametoindex("lo")
    except OSError as exc:
        raise NetlinkError(f"interface lookup failed: {exc}") from exc
    veth_own_queue(receiver=iface_name)
    with Rtnl() as nl:
        nl.link_up(lo)
        nl.link_up(index)
        nl.add_ipv4(index, ipaddress.IPv4Interface(f"{address}/{prefixlen}"))
        for ip, mac in (neighbours or {}).items():
            nl.add_neighbour(index, ipaddress.IPv4Address(ip), mac)
        nl.add_default_route(index, ipaddress.IPv4Address(gateway))


def link_down(iface_name: str) -> None:
    """Take ``iface_name`` down in the current thread's namespace (a lab device going dark)."""
    try:
        index = socket.if_nametoindex(iface_name)
    except OSError as exc:
        raise NetlinkError(f"interface lookup failed: {exc}") from exc
    with Rtnl() as nl:
        nl.link_down(index)
