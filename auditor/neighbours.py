"""The kernel's neighbour (ARP) table: its size limit, and whether it overflowed during a scan.

Every host a scan talks to on its own link needs an entry in the kernel's ARP table, and
the table is bounded (``net.ipv4.neigh.default.gc_thresh3``, 1024 by default; one table
for the whole machine, every network namespace included). Past the bound the kernel
refuses new entries ("neighbour table overflow") and drops what it cannot deliver: TCP
connects to live hosts time out, discovery replies never arrive. A scan of more than about
a thousand on-link addresses then misses devices at random while looking finished -- the
1,000-device lab did exactly that. The kernel counts each refusal (``table_fulls``);
a scan during which the count grew is not a complete audit.

Read with ``ip -s -j ntable show name arp_cache`` (netlink: works inside a network
namespace too, where ``/proc/sys/net/ipv4/neigh`` is absent).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

LIMIT_SYSCTL = "net.ipv4.neigh.default.gc_thresh3"


@dataclass(frozen=True)
class NeighbourTable:
    limit: int
    """gc_thresh3: the most entries the kernel keeps."""
    entries: int
    table_fulls: int
    """How often the kernel found the table full (since boot, whole machine)."""


def parse_ntable(text: str) -> NeighbourTable | None:
    """The ``arp_cache`` table from ``ip -s -j ntable`` output; None if it is not there."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict) and entry.get("name") == "arp_cache" and "dev" not in entry:
            try:
                return NeighbourTable(int(entry["thresh3"]), int(entry["entries"]), int(entry["table_fulls"]))
            except (KeyError, TypeError, ValueError):
                return None
    return None


def read_table(timeout: float = 2.0) -> NeighbourTable | None:
    """The table as the kernel reports it to this thread's network namespace; None when
    ``ip`` is missing or says nothing usable (the check is then skipped, never guessed)."""
    ip = shutil.which("ip")
    if ip is None:
        return None
    try:
        done = subprocess.run([ip, "-s", "-j", "ntable", "show", "name", "arp_cache"], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_ntable(done.stdout) if done.returncode == 0 else None


def overflow_reason(before: NeighbourTable | None, after: NeighbourTable | None) -> str | None:
    """Why the scan is not complete, if the kernel's ARP table overflowed while it ran."""
    if before is None or after is None or after.table_fulls <= before.table_fulls:
        return None
    return (f"the kernel's ARP table was full {after.table_fulls - before.table_fulls} times during the scan "
            f"({LIMIT_SYSCTL} = {after.limit}, {after.entries} entries): it dropped packets to and from hosts "
            f"it could not add; raise gc_thresh1/2/3 (sysctl) above the number of on-link hosts and scan again")


def capacity_warning(table: NeighbourTable | None, on_link: int) -> str | None:
    """A warning before the scan when its on-link addresses alone exceed the table's bound."""
    if table is None or on_link <= table.limit:
        return None
    return (f"{on_link} on-link addresses to scan, but the kernel's ARP table holds at most {table.limit} entries "
            f"({LIMIT_SYSCTL}): answers will be dropped; raise it, e.g. sysctl -w {LIMIT_SYSCTL}={on_link * 4}")
