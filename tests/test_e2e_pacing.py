"""End to end in a lab of its own: fragile devices and a sparse routed range.

The lab (its own tag: the fragile devices it kills must not be the demo lab's) holds six
cameras on the LAN and four spread over the routed /16, every second one fragile. The
``ot`` and default profiles must leave every fragile device alive and
found; the routed range must cost about one packet per silent address and fully probe only
what answered; and, last (it hangs devices for good), a deliberately aggressive setting must
be caught by the end-of-scan re-check: a high finding for each device it hung, and exit 1.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_fixture import scanner_run

from auditor.lab import topology
from auditor.lab.fleet import load_fleet, sparse_address
from auditor.lab.runner import LabState, crashed_devices, lab_down, lab_up

pytestmark = pytest.mark.netns

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
SCALE, SPARSE = 6, 4
LAN_TARGET = f"{topology.SCALE_BASE}-{topology.SCALE_BASE + SCALE - 1}"
SPARSE_TARGETS = [str(ipaddress.IPv4Network(f"{sparse_address(i, SPARSE)}/24", strict=False))
                  for i in range(SPARSE)]
"""The /24 around each sparse camera: 1,016 routed addresses, four devices and the router."""


@pytest.fixture(scope="module")
def lab() -> Iterator[LabState]:
    from conftest import netns_available

    ok, reason = netns_available()
    if not ok:
        pytest.skip(reason)
    tag = "p" + secrets.token_hex(4)
    fleet = load_fleet()
    only_router = type(fleet)(site=fleet.site, devices=())  # no demo devices: the scale and sparse cameras only
    state = lab_up(tag, only_router, scale=SCALE, sparse=SPARSE, fragile_every=2)
    try:
        yield state
    finally:
        lab_down(tag)


def scan(lab: LabState, tmp: Path, name: str, *args: str) -> tuple[int, dict]:
    db, js = tmp / f"{name}.db", tmp / f"{name}.json"
    proc = scanner_run(lab, [CAMAUDIT, "scan", LAN_TARGET, *SPARSE_TARGETS, "-i", topology.SCANNER_IFACE,
                             "--db", str(db), "--json", str(js), "--timeout", "1.5", "--quiet", *args], timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(js.read_text())


def fragile(lab: LabState) -> dict[str, str]:
    return {d.name: d.ip for d in lab.fleet.devices if d.fragile is not None}


def test_the_lab_has_fragile_devices_on_the_lan_and_the_routed_range(lab):
    names = sorted(fragile(lab))
    assert names == ["scale-0001", "scale-0003", "scale-0005", "sparse-0001", "sparse-0003"]


@pytest.mark.parametrize("profile", ["ot", "default"])
def test_gentle_profiles_leave_every_fragile_device_alive_and_found(lab, tmp_path, profile):
    code, doc = scan(lab, tmp_path, profile, "--profile", profile)
    assert crashed_devices(lab) == {}
    seen = {ip for d in doc["devices"] for ip in d["ips"]}
    assert {d.ip for d in lab.fleet.devices} <= seen
    stats = doc["scan"]["stats"]
    assert stats["limits"]["profile"] == profile
    assert stats["recheck"]["silent"] == [] and stats["recheck"]["checked"] == stats["recheck"]["devices"]
    assert stats["backed_off"] == []
    assert not [f for f in doc["findings"] if f["rule"].startswith("scan-safety.")]
    assert code == 1 or doc["scan"]["status"] == "complete"  # findings (covered cameras) are fine


def test_a_routed_range_costs_about_one_packet_per_silent_address(lab, tmp_path):
    _, doc = scan(lab, tmp_path, "sparse")
    stats = doc["scan"]["stats"]
    live = {d.ip for d in lab.fleet.devices if d.segment == "sparse"} | {topology.ROUTER_SPARSE_IP}
    # only what answered the sweep was probed fully (plus the LAN cameras ARP found)
    assert stats["hosts_probed"] == len(live) + SCALE
    assert stats["plan"]["routed"] == 4 * 254
    db = tmp_path / "sparse.db"
    with sqlite3.connect(db) as con:
        pinged = {r[0] for r in con.execute("select ip from observations where probe = 'ping'")}
    assert pinged == live
    # every connection went to a live device; the silent addresses got ICMP echoes only (one, and one
    # retry), not a single TCP connect: 'sent' counts only what reached devices that answered
    assert stats["sent"]["connections"] < 40 * (len(live) + SCALE)
    assert stats["plan"]["sweep_s"] <= 2 * 4 * 254 / 1000 + 0.1


def test_an_aggressive_setting_is_caught_by_the_recheck(lab, tmp_path):
    code, doc = scan(lab, tmp_path, "aggressive", "--profile", "fast", "--host-connections", "8",
                     "--host-rate", "500")
    hung = crashed_devices(lab)
    assert hung, "the aggressive setting should hang at least one fragile device"
    assert set(hung) <= set(fragile(lab))
    ips = {fragile(lab)[name] for name in hung}
    dark = [f for f in doc["findings"] if f["rule"] == "scan-safety.stopped-answering"]
    assert {f["ip"] for f in dark} == ips
    for f in dark:
        assert f["severity"] == "high" and "Sent to it: " in f["message"] and "connection" in f["message"]
    assert sorted(doc["scan"]["stats"]["recheck"]["silent"]) == sorted(ips)
    assert code == 1  # whatever --fail-on says
