"""The closed registry of probes: adding a probe = one module, one line here, its tests.

``tests/test_probe_registry.py`` asserts every entry imports and has the right shape.
"""

from __future__ import annotations

import importlib
from typing import Any

DISCOVERY_PROBES: dict[str, str] = {
    "arp": "auditor.probes.arp:ArpProbe",
    "ping": "auditor.probes.ping:PingProbe",
    "wsdiscovery": "auditor.probes.wsdiscovery:WsDiscoveryProbe",
    "sadp": "auditor.probes.sadp:SadpProbe",
    "dhip": "auditor.probes.dhip:DhipProbe",
}
"""Run once per scan, concurrently, while host probes start on whatever they hear from (``ping``
sweeps the routed targets; wsdiscovery/sadp/dhip also ask each live routed device one to one)."""

HOST_PROBES: dict[str, str] = {
    "ports": "auditor.probes.ports:PortProbe",
    "http": "auditor.probes.http:HttpProbe",
    "rtsp": "auditor.probes.rtsp:RtspProbe",
    "onvif": "auditor.probes.onvif:OnvifProbe",
    "login": "auditor.probes.login:LoginProbe",
}
"""Run per live host; ``ports`` first (it fills the open ports the others read), ``login`` last (a
maker's identity API with the site's credentials, where the others' answers point to that maker;
sends nothing without credentials or the factory-default check)."""

ALL_PROBES: tuple[str, ...] = (*DISCOVERY_PROBES, *HOST_PROBES)

OTHER_SOURCES: dict[str, str] = {
    "inventory": "auditor.inventory_reader",
    "channel": "auditor.probes.channels",
}
"""Observations that do not come from a network probe (never run by a scan; not a ``--probes``
name): the rows of an inventory a site already has (``camaudit classify``), and the channels a
recorder reports (``channel``: one observation per camera in its channel list, emitted by the
``login`` probe at the recorder's address; assembly makes each a device behind the recorder).
Each module declares ``FIELDS`` like a probe does."""


def load_probe(name: str) -> Any:
    """Instantiate the probe registered as ``name``."""
    target = DISCOVERY_PROBES.get(name) or HOST_PROBES.get(name)
    if target is None:
        raise KeyError(name)
    module_name, cls_name = target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)()
