"""The kernel's ARP table bound: read it, tell an overflow during a scan, warn before one; the lab raises it.

The 1,000-device lab's unstable scans (discovery silent, ports missing at random) were the
machine's one ARP table overflowing (table_fulls grew by the thousand): every namespace of
the lab shares it, and its default bound is 1024 entries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.lab.kernel import WANTED, ensure_neighbour_capacity
from auditor.neighbours import NeighbourTable, capacity_warning, overflow_reason, parse_ntable, read_table

# `ip -s -j ntable show name arp_cache` inside a lab namespace (iproute2 6.x), trimmed
NTABLE = [{"family": "inet", "name": "arp_cache", "thresh1": 128, "thresh2": 512, "thresh3": 1024,
           "entries": 2438, "allocs": 179019, "res_failed": 118767, "forced_gc_runs": 463517,
           "table_fulls": 458995},
          {"family": "inet", "name": "arp_cache", "dev": "lan0", "refcnt": 44, "reachable": 31968}]


def test_parse_the_table_and_ignore_per_device_entries() -> None:
    assert parse_ntable(json.dumps(NTABLE)) == NeighbourTable(1024, 2438, 458995)
    assert parse_ntable(json.dumps(NTABLE[1:])) is None
    assert parse_ntable("not json") is None and parse_ntable("{}") is None
    assert parse_ntable(json.dumps([{"name": "arp_cache", "thresh3": "x"}])) is None


def test_an_overflow_during_the_scan_is_a_reason_and_none_is_none() -> None:
    before, after = NeighbourTable(1024, 900, 10), NeighbourTable(1024, 1400, 470)
    reason = overflow_reason(before, after)
    assert reason is not None and reason.startswith("the kernel's ARP table was full 460 times during the scan")
    assert "gc_thresh3 = 1024" in reason
    assert overflow_reason(before, before) is None
    assert overflow_reason(None, after) is None and overflow_reason(before, None) is None


def test_more_on_link_addresses_than_the_table_holds_is_warned_before_the_scan() -> None:
    table = NeighbourTable(1024, 10, 0)
    assert capacity_warning(table, 1000) is None
    warning = capacity_warning(table, 4094)
    assert warning is not None and "4094 on-link addresses" in warning and "sysctl -w" in warning
    assert capacity_warning(None, 1 << 20) is None


def test_read_table_answers_or_says_nothing() -> None:
    table = read_table()
    assert table is None or (table.limit > 0 and table.entries >= 0)


def test_the_lab_raises_the_bounds_and_never_lowers_them(tmp_path: Path) -> None:
    for name, value in (("gc_thresh1", "128"), ("gc_thresh2", "99999"), ("gc_thresh3", "1024")):
        (tmp_path / name).write_text(value + "\n")
    raised = ensure_neighbour_capacity(tmp_path)
    assert raised == {"gc_thresh1": WANTED["gc_thresh1"], "gc_thresh3": WANTED["gc_thresh3"]}
    assert (tmp_path / "gc_thresh2").read_text().strip() == "99999"
    assert ensure_neighbour_capacity(tmp_path) == {}
    assert ensure_neighbour_capacity(tmp_path / "missing") == {}


@pytest.mark.netns
def test_a_lab_leaves_room_for_its_namespaces(demo_lab: object) -> None:
    root = Path("/proc/sys/net/ipv4/neigh/default")
    for name, wanted in WANTED.items():
        assert int((root / name).read_text()) >= wanted
