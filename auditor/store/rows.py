"""Conversions between the records of ``auditor.models`` and table rows.

JSON columns are written compactly; values from the network are stored as received
(the report escapes them). Nothing here touches the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from ..models import (
    RAW_EXCERPT_MAX,
    Device,
    Evidence,
    Identity,
    Observation,
)

_SCAN_LIST_FIELDS = ("targets", "excludes", "probes")
_SCAN_TEXT_FIELDS = ("site", "interface", "operator", "host", "tool_version", "kb_version")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def loads(text: str | None, default: Any) -> Any:
    if text is None or text == "":
        return default
    return json.loads(text)


def scan_meta_row(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The scans-row columns for ``begin_scan``'s meta (unknown keys are ignored)."""
    row: dict[str, Any] = {}
    for name in _SCAN_LIST_FIELDS:
        row[name] = dumps([str(v) for v in meta.get(name) or []])
    for name in _SCAN_TEXT_FIELDS:
        value = meta.get(name)
        row[name] = None if value is None else str(value)
    row["site"] = row["site"] or ""  # '' is "no site named": one value to group by, shown as null
    rules = []
    for rule in meta.get("rules") or []:
        if isinstance(rule, Mapping):
            rules.append({"path": str(rule.get("path")), "sha256": str(rule.get("sha256"))})
        else:
            path, sha = rule
            rules.append({"path": str(path), "sha256": str(sha)})
    row["rules"] = dumps(rules)
    row["kind"] = str(meta.get("kind") or "scan")
    source = meta.get("source")
    row["source"] = None if source is None else dumps(dict(source))
    return row


def observation_row(scan_id: int, obs: Observation) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "ip": obs.ip,
        "probe": obs.probe,
        "fields": dumps(obs.fields),
        "raw": (obs.raw or "")[:RAW_EXCERPT_MAX],
        "seen_at": float(obs.seen_at),
        "warning": obs.warning,
    }


def row_observation(row: Mapping[str, Any]) -> Observation:
    return Observation(ip=row["ip"], probe=row["probe"], fields=loads(row["fields"], {}), raw=row["raw"],
                       seen_at=row["seen_at"], warning=row["warning"])


def open_ports(device: Device) -> list[int]:
    ports: set[int] = set()
    for obs in device.host.observations:
        if obs.probe == "ports":
            ports.update(p for p in obs.fields.get("open") or [] if isinstance(p, int) and 0 < p < 65536)
    return sorted(ports)


def host_warnings(device: Device) -> list[str]:
    return [f"{obs.probe}: {obs.warning}" for obs in device.host.observations if obs.warning]


def endpoint_of(device: Device) -> str | None:
    if device.key.startswith("epr:"):
        return device.key[4:]
    for obs in device.host.observations:
        value = obs.fields.get("endpoint")
        if obs.probe == "wsdiscovery" and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def seen_at(device: Device, default: float) -> float:
    return max((obs.seen_at for obs in device.host.observations), default=default)


def row_identity(row: Mapping[str, Any]) -> Identity:
    evidence = tuple(Evidence(**ev) for ev in loads(row["evidence"], []))
    return Identity(
        maker=row["maker"], brand=row["brand"], relation=row["relation"], relation_text=row["relation_text"],
        device_class=row["device_class"], model=row["model"], firmware=row["firmware"], serial=row["serial"],
        confidence=row["confidence"], covered=bool(row["covered"]), covered_basis=row["covered_basis"],
        evidence=evidence, conflicts=tuple(loads(row["conflicts"], [])),
    )


def waiver_row(scan_id: int, item: Any) -> dict[str, Any]:
    """A waiver as the policy stage reports it: a dataclass or dict with the Waiver's
    fields plus ``state``, ``matched`` and optionally ``source`` (policy's WaiverStatus),
    or ``{"waiver": Waiver, "state": …, "matched": …}``."""
    data: dict[str, Any]
    if is_dataclass(item) and not isinstance(item, type):
        data = asdict(item)
    else:
        data = dict(item)  # type: ignore[arg-type]
        inner = data.pop("waiver", None)
        if inner is not None and is_dataclass(inner) and not isinstance(inner, type):
            data = {**asdict(inner), **data}
    return {
        "scan_id": scan_id,
        "device": str(data.get("device", "")),
        "rule": str(data.get("rule", "")),
        "reason": str(data.get("reason", "")),
        "owner": str(data.get("owner", "")),
        "ticket": str(data.get("ticket", "")),
        "expires": str(data.get("expires", "")),
        "state": data.get("state"),
        "matched": 1 if data.get("matched") else 0,
        "source": None if data.get("source") is None else str(data["source"]),
    }
