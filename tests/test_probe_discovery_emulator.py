"""The discovery probes against the lab's device emulators, on loopback (no root, no multicast).

The emulators are written independently of the probes; this is the contract between them:
each probe finds the emulated device with the fields identification needs, and turns the
hostile variants into warnings. The probe sits on 127.0.0.2 and unicasts to 127.0.0.1 as a
"routed" target, so no multicast or broadcast is ever sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from discovery_fakes import make_ctx, run_probe
from emulator_specs import HIK_MAC, discovery_fleet

from auditor.lab.devices.loopback import LoopbackLab
from auditor.models import Observation
from auditor.probes.dhip import DhipProbe
from auditor.probes.sadp import SadpProbe
from auditor.probes.wsdiscovery import WsDiscoveryProbe

PROBES = {3702: WsDiscoveryProbe, 37020: SadpProbe, 37810: DhipProbe}


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackLab]:
    with LoopbackLab(discovery_fleet()) as running:
        yield running


def discover(lab: LoopbackLab, device: str, spec_port: int) -> list[Observation]:
    probe = PROBES[spec_port](port=lab.port(device, spec_port), group=None)

    async def go() -> list[Observation]:
        ctx, seen = make_ctx(["127.0.0.1"], timeout=0.15, iface="127.0.0.2/32")
        await run_probe(probe, ctx)
        return seen

    return asyncio.run(go())


def test_hikvision_over_wsdiscovery(lab):
    [obs] = discover(lab, "hik", 3702)
    assert obs.ip == "127.0.0.1" and obs.warning is None
    assert obs.fields["mac"] == HIK_MAC and obs.fields["hardware"] == "DS-2CD2143G2-I"
    assert "NetworkVideoTransmitter" in obs.fields["types"]


def test_hikvision_over_sadp(lab):
    [obs] = discover(lab, "hik", 37020)
    assert obs.fields["mac"] == HIK_MAC and obs.fields["model"] == "DS-2CD2143G2-I"
    assert obs.fields["serial"] == "DS-2CD2143G2-I20210315AAWRG12345678" and obs.fields["activated"] is True


def test_dahua_relabel_over_dhip(lab):
    [obs] = discover(lab, "dahua", 37810)
    assert obs.fields["mac"] == "3c:ef:8c:12:34:56" and obs.fields["vendor"] == "General"
    assert obs.fields["model"] == "IPC-HFW2431S-S-S2" and obs.fields["serial"] == "6G0ABCDEF123456"


@pytest.mark.parametrize(
    ("device", "port"),
    [("xxe", 3702), ("garbage", 3702), ("garbage", 37020), ("garbage", 37810), ("laughs", 37020),
     ("big", 3702), ("big", 37020), ("big", 37810)],
)
def test_hostile_devices_become_warnings(lab, device, port):
    seen = discover(lab, device, port)
    assert seen, "a hostile answer is still recorded"
    assert all(o.warning and o.fields == {} for o in seen)
    assert len({o.ip for o in seen}) == len(seen) == 1
