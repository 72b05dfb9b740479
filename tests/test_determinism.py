"""The same answers give the same inventory, whatever order they arrived in.

Real input: the observations of a real lab audit (scan 2 of tests/data/databases/v0.1.0.db,
27 devices, every probe). Their order and arrival times are shuffled (hypothesis), as a busy
network shuffles them between scans: the folded devices, their keys, identities, evidence
order and conflicts must not move. Re-identification (observations read back in recording
order) agrees with the first identification, and ``diff`` sees no change in the same facts
listed in another order.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.assemble import assemble
from auditor.diff import diff_entries, is_empty
from auditor.identify import identify
from auditor.knowledge import KnowledgeBase, load_knowledge
from auditor.models import Host, Identity, Observation
from auditor.store import rows

FIXTURE = Path(__file__).resolve().parent / "data" / "databases" / "v0.1.0.db"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def observations() -> list[Observation]:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro&immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        query = "SELECT * FROM observations WHERE scan_id = 2 ORDER BY id"
        found = [rows.row_observation(r) for r in conn.execute(query)]
    finally:
        conn.close()
    assert len(found) > 100
    return found


def _inventory(hosts: list[Host], kb: KnowledgeBase) -> dict[str, tuple[tuple[str, ...], Identity]]:
    return {h.key: (h.ips, identify(h, kb)) for h in hosts}


@pytest.fixture(scope="module")
def baseline(observations: list[Observation], kb: KnowledgeBase) -> dict[str, tuple[tuple[str, ...], Identity]]:
    return _inventory(assemble(observations), kb)


def _shuffled(observations: list[Observation], rng: random.Random) -> list[Observation]:
    out = [dataclasses.replace(o, seen_at=o.seen_at + rng.uniform(-5, 5)) for o in observations]
    rng.shuffle(out)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_shuffled_arrival_gives_the_same_inventory(seed: int, observations: list[Observation], kb: KnowledgeBase,
                                                   baseline: dict) -> None:
    got = _inventory(assemble(_shuffled(observations, random.Random(seed))), kb)
    assert got.keys() == baseline.keys()
    for key, (ips, identity) in baseline.items():
        assert got[key][0] == ips, key
        assert got[key][1] == identity, key  # maker, brand, class, model, evidence (in order), conflicts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_competing_answers_in_any_order_give_the_same_identity(seed: int, observations: list[Observation],
                                                               kb: KnowledgeBase) -> None:
    """Where ties live: a device that answered one probe twice with different content (two
    addresses of one device, a reply from each interface, a relabel's two web servers). Other
    devices' real replies are copied onto some addresses; two arrival orders must agree."""
    rng = random.Random(seed)
    by_probe: dict[str, list[Observation]] = {}
    for o in observations:
        by_probe.setdefault(o.probe, []).append(o)
    ips = sorted({o.ip for o in observations})
    extra = []
    for ip in rng.sample(ips, 8):
        for probe in rng.sample(sorted(by_probe), 3):
            donor = rng.choice(by_probe[probe])
            if donor.ip != ip and probe != "arp":
                extra.append(dataclasses.replace(donor, ip=ip))
    competing = observations + extra
    first = _inventory(assemble(_shuffled(competing, random.Random(seed + 1))), kb)
    second = _inventory(assemble(_shuffled(competing, random.Random(seed + 2))), kb)
    assert first == second


def test_re_identification_from_recording_order_agrees(observations: list[Observation], kb: KnowledgeBase,
                                                      baseline: dict) -> None:
    """Stored hosts list each address's observations in recording order, not assemble's."""
    for host in assemble(observations):
        recorded = [o for o in observations if o.ip in host.ips]
        again = Host(key=host.key, ip=host.ip, mac=host.mac, ips=host.ips, observations=tuple(reversed(recorded)))
        assert identify(again, kb) == baseline[host.key][1], host.key


def test_diff_ignores_the_order_of_the_same_facts() -> None:
    device = {"id": "mac:c0:56:e3:00:00:01", "ip": "198.18.0.11", "ips": ["198.18.0.11", "198.18.32.11"],
              "mac": "c0:56:e3:00:00:01", "maker": "Hikvision", "brand": "Hikvision", "model": "DS-2CD2143G2-I",
              "firmware": "V5.7.3", "device_class": "camera", "covered": True, "open_ports": [80, 554, 8000],
              "evidence": [{"probe": "sadp", "field": "answered"}, {"probe": "arp", "field": "mac"}],
              "conflicts": ["a", "b"], "warnings": ["x", "y"]}
    finding = {"rule": "ndaa-889.covered-maker", "device_id": device["id"], "ip": device["ip"],
               "severity": "critical", "title": "Covered", "evidence": ["maker Hikvision (high)", "OUI"]}
    again = copy.deepcopy(device)
    for name in ("ips", "open_ports", "evidence", "conflicts", "warnings"):
        again[name].reverse()
    again_finding = dict(finding, evidence=list(reversed(finding["evidence"])))
    assert is_empty(diff_entries([device], [finding], [again], [again_finding]))
    moved = dict(again, ip="198.18.0.12")
    assert diff_entries([device], [], [moved], [])["changed_devices"][0]["changes"] == {
        "ip": ["198.18.0.11", "198.18.0.12"]}
