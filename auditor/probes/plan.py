"""What a scan will cost before it sends anything: scope size, estimated duration, the deadline.

The estimate counts what the pacing allows: finding live hosts costs one probe and one retry
per address (ARP on the interface's subnet, ICMP echo beyond it) at the global rate; each
live device then takes about ``HOST_OPERATIONS`` connections or requests, no faster than the
per-device rate, and about ``HOST_CONNECTIONS`` global tokens.

The default deadline grows with the scope::

    deadline = 300 s + 2 × sweep,   sweep = 2 × (addresses swept) ÷ rate

(300 s for probing the live devices, plus the sweep twice over for slow answers and
retries): 300 s for a /24, about 560 s for 65,536 routed addresses at 1000/s. An explicit
``--deadline`` too short for the sweep itself is refused before the first packet, with the
flag to raise. The last ``recheck_reserve`` seconds of the deadline are kept for the
end-of-scan re-check of every device that answered.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import OperatorError
from .pacing import Limits

BASE_DEADLINE = 300.0
"""Seconds the default deadline gives the probing of live devices, on top of the sweep."""
HOST_OPERATIONS = 35
"""Connections and requests to a typical camera: 20 ports, HTTP, RTSP, ONVIF."""
HOST_CONNECTIONS = 25
"""Of those, new connections (what the global rate counts)."""
ROUTED_UNSWEPT_COST = 8
"""Connects per routed address when it is not swept first (``ping`` left out: like nmap -Pn)."""


@dataclass(frozen=True)
class ScanPlan:
    addresses: int
    on_link: int
    """Addresses on the interface's own subnet (found by ARP)."""
    routed: int
    """Addresses beyond it (found by ICMP echo, or probed fully without ``ping``)."""
    limits: Limits
    timeout: float
    sweep_s: float
    """Finding the live hosts: one probe and one retry per address at the global rate."""
    host_s: float
    """One device's full probes at the per-device rate."""
    per_100_s: float
    """Probing 100 live devices at the global rate."""
    deadline: float
    deadline_is_default: bool
    recheck_reserve: float
    """Seconds at the end of the deadline kept for the re-check of every device that answered."""

    def as_dict(self) -> dict[str, float | int | bool]:
        return {"addresses": self.addresses, "on_link": self.on_link, "routed": self.routed,
                "sweep_s": round(self.sweep_s, 1), "host_s": round(self.host_s, 1),
                "per_100_hosts_s": round(self.per_100_s, 1), "deadline_s": round(self.deadline, 1),
                "deadline_is_default": self.deadline_is_default, "recheck_reserve_s": round(self.recheck_reserve, 1)}

    def describe(self) -> str:
        """Two lines for the operator's terminal, before anything is sent."""
        parts = []
        if self.on_link:
            parts.append(f"{self.on_link:,} on the interface's subnet (ARP)")
        if self.routed:
            parts.append(f"{self.routed:,} routed")
        where = f" ({', '.join(parts)})" if parts else ""
        dl = f"deadline {duration(self.deadline)}" + (" (default for this scope)" if self.deadline_is_default else "")
        return (f"scope: {self.addresses:,} addresses{where}; {self.limits.describe()}\n"
                f"estimate: about {duration(self.sweep_s)} to find the live hosts, then about "
                f"{duration(self.per_100_s)} per 100 live devices (at least {duration(self.host_s)} each); {dl}")


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{max(seconds, 0):.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _overlap(spans: tuple[tuple[int, int], ...], net: ipaddress.IPv4Network) -> int:
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return sum(max(0, min(b, hi) - max(a, lo) + 1) for a, b in spans)


def default_deadline(swept: float, rate: float) -> float:
    """300 s plus twice the sweep (``2 × swept ÷ rate``): see the module docstring."""
    return BASE_DEADLINE + 2 * (2 * swept / rate)


def recheck_reserve(addresses: int, limits: Limits, timeout: float) -> float:
    """Time kept at the end for the re-check: attempt + retry, and one token per device at the global rate."""
    return 2 * timeout + 1.0 + min(addresses, 4096) / limits.rate


def plan_scan(spans: tuple[tuple[int, int], ...], iface: ipaddress.IPv4Interface, limits: Limits, timeout: float,
              deadline: float | None, probes: tuple[str, ...], probe_share: float | None = 1.0) -> ScanPlan:
    """The plan for a scope given as integer spans (``ScanScope.spans``); raises ``OperatorError``
    when an explicit ``deadline``, of which the probes get ``probe_share``, cannot even cover
    finding the live hosts (``probe_share`` None: no check)."""
    addresses = sum(b - a + 1 for a, b in spans)
    own = int(iface.ip)
    on_link = _overlap(spans, iface.network) - sum(1 for a, b in spans if a <= own <= b)
    routed = addresses - _overlap(spans, iface.network)
    swept = (on_link if "arp" in probes else 0) + (routed if "ping" in probes else routed * ROUTED_UNSWEPT_COST / 2)
    sweep_s = 2 * swept / limits.rate
    host_s = HOST_OPERATIONS / limits.host_rate
    per_100 = 100 * HOST_CONNECTIONS / limits.rate
    reserve = recheck_reserve(addresses, limits, timeout)
    if deadline is None:
        return ScanPlan(addresses, on_link, routed, limits, timeout, sweep_s, host_s, per_100,
                        default_deadline(swept, limits.rate), True, reserve)
    needed = sweep_s + timeout  # the sweep and one wait for its last answers; the rest is the engine's to share
    if probe_share is not None and deadline * probe_share < needed:
        suggest = default_deadline(swept, limits.rate)
        raise OperatorError(
            f"a deadline of {deadline:g} s is too short for {addresses:,} addresses: finding the live ones alone "
            f"takes about {needed / probe_share:.0f} s at {limits.rate:g} probes/s; raise --deadline (audit config: "
            "deadline; "
            f"the default for this scope is {suggest:.0f}) or the rate")
    return ScanPlan(addresses, on_link, routed, limits, timeout, sweep_s, host_s, per_100, deadline, False, reserve)
