"""The same network gives the same inventory: the scaled lab scanned three times, then compared.

At 1,000 devices scans of the unchanged lab used to differ (discovery silent, ports and HTTP
missing at random, brands flipping, 974-1,021 medium findings): the kernel's one ARP table
overflowed (auditor/neighbours.py, auditor/lab/kernel.py) and identification depended on
arrival order (tests/test_determinism.py). Here the largest lab the suite can afford -- 500
devices, past the kernel's default 1,024-entry ARP bound once the lab's namespaces are
counted -- is scanned three times: every scan complete, nothing new, gone or changed,
every device's identity and open ports the same, the same findings.
(`python bench/stability.py --size 1000 --runs 20` measures the full size.)
"""

from __future__ import annotations

import json
import secrets
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_fixture import scanner_run

from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import LabState, lab_down, lab_up

pytestmark = pytest.mark.netns

SIZE = 500
RUNS = 3
CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))


@pytest.fixture(scope="module")
def scaled_lab() -> Iterator[tuple[LabState, list[str]]]:
    from conftest import netns_available

    ok, reason = netns_available()
    if not ok:
        pytest.skip(reason)
    fleet = load_fleet()
    scale = SIZE - len(fleet.devices)
    tag = "s" + secrets.token_hex(3)
    try:
        lab = lab_up(tag, fleet, scale=scale)
        yield lab, [*topology.DEMO_TARGETS, f"{topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}"]
    finally:
        lab_down(tag)


def _identities(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {d["id"]: (d["ip"], d["mac"], d["maker"], d["brand"], d["model"], d["firmware"], d["serial"],
                      d["device_class"], d["covered"], d["confidence"], tuple(d["open_ports"]))
            for d in doc["devices"]}


def test_repeated_scans_of_the_unchanged_lab_give_the_same_inventory(scaled_lab: tuple[LabState, list[str]],
                                                                   tmp_path: Path) -> None:
    lab, targets = scaled_lab
    docs = []
    for run in range(RUNS):
        out = tmp_path / f"{run}.json"
        proc = scanner_run(lab, [CAMAUDIT, "scan", *targets, "-i", topology.SCANNER_IFACE, "--db",
                                 str(tmp_path / "s.db"), "--deadline", "240",
                                 "--quiet", "--json", str(out)], timeout=300)
        assert proc.returncode in (0, 1), proc.stderr
        docs.append(json.loads(out.read_text()))
    first = docs[0]
    assert len(first["devices"]) >= SIZE  # every lab device (the routed hosts come on top)
    for doc in docs:
        stats = doc["scan"]["stats"]
        assert doc["scan"]["status"] == "complete", stats.get("degraded")
        assert stats["neighbour_table"]["overflows"] in (0, None)
    for before, after in zip(docs, docs[1:], strict=False):
        changes = after["changes"]
        assert changes["previous_scan_id"] == before["scan"]["id"]
        for kind in ("new_devices", "gone_devices", "changed_devices", "new_findings", "resolved_findings"):
            assert changes[kind] == [], (kind, changes[kind][:3])
        a, b = _identities(before), _identities(after)
        differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        assert differing == [], [(k, a.get(k), b.get(k)) for k in differing[:3]]
        assert Counter((f["rule"], f["device_id"]) for f in before["findings"]) == \
            Counter((f["rule"], f["device_id"]) for f in after["findings"])
