"""Was a scan that ran to its end a complete audit? Silent discovery says it may not have been.

A discovery probe (ARP sweep, WS-Discovery, SADP, DHIP) that hears nothing at all, while
devices that answered it in the previous complete scan of the same scope are still on the
network (another probe heard them this time), lost its answers: a socket that was never
read, a blocked multicast group, replies dropped under load. Such a scan misses whole
classes of devices (the routed cameras, every Hikvision unit) while looking finished; it is
recorded ``degraded`` with the reason, exits 2 and is never a diff baseline.

A probe silent because the devices that answered it are gone (the last Hikvision camera was
removed) is a real change, not a degraded scan: those devices are not "still here".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .models import Observation
from .ordering import ip_sort_key
from .probes.registry import DISCOVERY_PROBES


@dataclass(frozen=True)
class Answers:
    """Who answered in one scan."""

    by_probe: Mapping[str, frozenset[str]]
    """Discovery probe → the addresses it heard from."""
    present: frozenset[str]
    """Every address any probe heard something from (a reply with content)."""


def answers(observations: Iterable[Observation]) -> Answers:
    by_probe: dict[str, set[str]] = {}
    present: set[str] = set()
    for obs in observations:
        if obs.probe in DISCOVERY_PROBES:
            by_probe.setdefault(obs.probe, set()).add(obs.ip)
        if obs.fields:
            present.add(obs.ip)
    return Answers({p: frozenset(ips) for p, ips in by_probe.items()}, frozenset(present))


def degraded_reason(now: Answers, probes: Iterable[str], previous: Answers, previous_id: int,
                    previous_probes: Iterable[str]) -> str | None:
    """Why this scan is not a complete audit compared with scan ``previous_id`` of the same
    scope (None when nothing says so). Only probes run in both scans are compared."""
    if previous.present and not now.present:
        return (f"no device answered any probe, though {len(previous.present)} answered in scan {previous_id} "
                "of the same scope (interface down or filtered?)")
    compared = [p for p in DISCOVERY_PROBES if p in set(probes) & set(previous_probes)]
    silent = []
    for probe in compared:
        if now.by_probe.get(probe):
            continue
        still_here = previous.by_probe.get(probe, frozenset()) & now.present
        if still_here:
            example = min(still_here, key=ip_sort_key)
            silent.append(f"{probe} heard nothing, though {len(still_here)} device(s) that answered it in scan "
                          f"{previous_id} are still here (e.g. {example})")
    return "; ".join(silent) or None


def previous_answers(rows: Iterable[Mapping[str, object]]) -> Answers:
    """``Answers`` from stored observation rows (keys ip, probe, has_fields)."""
    by_probe: dict[str, set[str]] = {}
    present: set[str] = set()
    for r in rows:
        ip, probe = str(r["ip"]), str(r["probe"])
        if probe in DISCOVERY_PROBES:
            by_probe.setdefault(probe, set()).add(ip)
        if r["has_fields"]:
            present.add(ip)
    return Answers({p: frozenset(ips) for p, ips in by_probe.items()}, frozenset(present))
