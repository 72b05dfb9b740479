"""Kernel settings a large lab needs, raised (never lowered) when a lab comes up.

Every namespace of the lab shares the machine's one ARP table: a 1,000-device lab holds an
entry per device in the scanner's namespace, one for the scanner in each device's
namespace, and the sweep's unanswered addresses -- several thousand entries against the
default bound of 1024 (``gc_thresh3``). A real network spreads those over a thousand
machines; the lab must not invent an overflow the real network does not have (the scan
would then miss devices at random: ``auditor.neighbours``). The bounds are global kernel
settings; raising them costs only the memory of the entries actually made.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

NEIGH = Path("/proc/sys/net/ipv4/neigh/default")
WANTED = {"gc_thresh1": 8192, "gc_thresh2": 32768, "gc_thresh3": 65536}


def ensure_neighbour_capacity(root: Path = NEIGH) -> dict[str, int]:
    """Raise gc_thresh1/2/3 to at least ``WANTED`` (run in the machine's own namespace, as root);
    returns what was raised (name: new value). Unreadable settings are left alone."""
    raised = {}
    for name, wanted in WANTED.items():
        path = root / name
        with contextlib.suppress(OSError, ValueError):
            if int(path.read_text().strip()) < wanted:
                path.write_text(f"{wanted}\n")
                raised[name] = wanted
    return raised
