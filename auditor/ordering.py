"""The one order of things a person reads: addresses numerically, findings by severity.

Findings sort by severity (critical first), rule id, address (numerically) and
device, whatever order they were produced or stored in, so the policy engine, the
store, the JSON document, the diff and the report always agree.

Observations sort by what they say (probe, address, content), never by when they
arrived: the answers of a busy network arrive in a different order on every scan, and
identification must reach the same conclusion from the same answers.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .models import SEVERITIES, Finding, Observation

SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}
"""critical → 0 … info → 4."""

F = TypeVar("F", bound=Finding | Mapping[str, Any])


def severity_rank(severity: str) -> int:
    """0 for critical; an unknown severity sorts after every known one."""
    return SEVERITY_RANK.get(severity, len(SEVERITY_RANK))


def ip_sort_key(ip: str) -> tuple[int, int, str]:
    """Numeric order for addresses (IPv4 before IPv6); anything unparsable last, by text."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0, ip)
    return (addr.version, int(addr), "")


def finding_sort_key(finding: Finding | Mapping[str, Any]) -> tuple[int, str, tuple[int, int, str], str]:
    """Severity, rule, address, device: of a ``Finding`` or of a stored/document entry
    (keys ``severity``, ``rule``, ``ip``, ``device_id``)."""
    if isinstance(finding, Finding):
        return (severity_rank(finding.severity), finding.rule_id, ip_sort_key(finding.ip), finding.device_key)
    return (severity_rank(finding["severity"]), finding["rule"], ip_sort_key(finding["ip"]), finding["device_id"])


def sort_findings(findings: Iterable[F]) -> list[F]:
    """Findings in report order (see the module docstring)."""
    return sorted(findings, key=finding_sort_key)


def sort_devices(devices: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Device entries (keys ``ip``, ``id``) by address, then stable id."""
    return sorted((dict(d) for d in devices), key=lambda d: (ip_sort_key(d["ip"]), d["id"]))


ObservationKey = tuple[str, tuple[int, int, str], str, str, str, float]


def observation_key(obs: Observation) -> ObservationKey:
    """Probe, address, content, then arrival time (only to order identical answers).

    Computed once per observation and kept beside its fields (an observation is immutable once
    emitted): a scan's observations are sorted three times on the way to its devices (grouping,
    folding, identification), and serialising every one's content each time was a tenth of the
    time between the last probe and the stored result.
    """
    key: ObservationKey | None = obs.__dict__.get(_KEY_ATTR)
    if key is None:
        content = json.dumps(obs.fields, sort_keys=True, ensure_ascii=False, default=str)
        key = (obs.probe, ip_sort_key(obs.ip), content, obs.warning or "", obs.raw or "", float(obs.seen_at))
        object.__setattr__(obs, _KEY_ATTR, key)  # not a dataclass field: equality, repr and asdict ignore it
    return key


_KEY_ATTR = "_observation_key"


def sort_observations(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    """Observations in their canonical order (see the module docstring)."""
    return tuple(sorted(observations, key=observation_key))
