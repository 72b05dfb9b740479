"""Fixed addressing and naming of the simulated facility (all inside 198.18.0.0/15, RFC 2544).

    scanner ns ──lan0── br-lan (switch ns) ──eth0── LAN devices      198.18.0.0/20
                          │
                       router ns (198.18.0.1 | 198.18.32.1)
                          │
                       br-rtd (switch ns) ──eth0── routed devices   198.18.32.0/24
                          │
                       br-spr (switch ns) ──eth0── sparse devices   198.19.0.0/16
                                                   (a few hundred among 65,534 silent addresses)

Every namespace name starts with ``NS_PREFIX + tag + '-'`` so several labs (a demo,
parallel test runs) never collide, and ``lab down`` can find leftovers after a crash.
"""

from __future__ import annotations

import ipaddress

NS_PREFIX = "caml"
LAN = ipaddress.IPv4Network("198.18.0.0/20")
ROUTED = ipaddress.IPv4Network("198.18.32.0/24")
ROUTER_LAN_IP = "198.18.0.1"
ROUTER_ROUTED_IP = "198.18.32.1"
SPARSE = ipaddress.IPv4Network("198.19.0.0/16")
"""A large routed range holding few devices (``lab up --sparse N``): the benchmark's sparse /16."""
ROUTER_SPARSE_IP = "198.19.0.1"
SCANNER_IP = "198.18.0.2"
SCANNER_IFACE = "lan0"
DEVICE_IFACE = "eth0"
SCANNER_MAC = "02:ca:00:00:00:02"
ROUTER_LAN_MAC = "02:ca:00:00:00:01"
ROUTER_ROUTED_MAC = "02:ca:00:00:20:01"
ROUTER_SPARSE_MAC = "02:ca:00:00:40:01"
"""Fixed, locally administered MACs of the lab's own infrastructure. Devices get permanent
neighbour entries for them: otherwise one multicast probe makes every device ARP for the
scanner at once, N broadcasts flooded to N bridge ports, and at 1000 devices the kernel
drops most of the N^2 frames (real switches do not have this problem)."""
DEMO_LAN_RANGE = ("198.18.0.10", "198.18.0.254")
"""Demo-fleet LAN devices live here."""
SCALE_BASE = ipaddress.IPv4Address("198.18.4.1")
"""``--scale N`` generic cameras take consecutive addresses from here (198.18.4.1 – 198.18.15.254)."""
DEMO_TARGETS = ("198.18.0.0/24", "198.18.32.0/24")
"""What the demo audit scans (the scale block is added when scaled)."""
SEGMENTS: dict[str, tuple[ipaddress.IPv4Network, str]] = {
    "lan": (LAN, ROUTER_LAN_IP),
    "routed": (ROUTED, ROUTER_ROUTED_IP),
    "sparse": (SPARSE, ROUTER_SPARSE_IP),
}
"""Segment name → (network, the router's address on it)."""


def ns_name(tag: str, role: str) -> str:
    """Namespace name for ``role`` (sw, rt, scan, d<N>) in lab ``tag``."""
    return f"{NS_PREFIX}{tag}-{role}"
