"""What changed between two scans: devices that appeared, left or changed, findings
that appeared or were resolved. Works on document entries (``auditor.document``), so
it is the same whether the scans come from the store or from two exported files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .ordering import sort_devices, sort_findings

# Fields whose change is worth telling a person about, in display order.
TRACKED_FIELDS: tuple[str, ...] = ("ip", "mac", "maker", "brand", "model", "firmware", "device_class", "covered",
                                   "behind", "channel")
"""``behind``/``channel``: a camera moved from behind a recorder onto the LAN (or the reverse), or to another
channel, is a change; a camera swapped for another on a recorder's channel is one device gone and one new
(each with ``behind``), or, for cameras the recorder names only by slot, a change of maker/model there."""

Entry = Mapping[str, Any]


def _device_brief(d: Entry) -> dict[str, Any]:
    return {"id": d["id"], "ip": d["ip"], "mac": d.get("mac"), "maker": d.get("maker"),
            "brand": d.get("brand"), "model": d.get("model"), "device_class": d.get("device_class"),
            "covered": d.get("covered"), "behind": d.get("behind"), "channel": d.get("channel")}


def _finding_brief(f: Entry) -> dict[str, Any]:
    return {"rule": f["rule"], "device_id": f["device_id"], "ip": f["ip"], "severity": f.get("severity"),
            "title": f.get("title"), "waived": f.get("waived", False)}


def _canonical(value: Any) -> Any:
    """A value with the order of its lists and keys removed: the same facts in another order
    (evidence, addresses, ports gathered in a different sequence) are no change."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted((_canonical(v) for v in value), key=repr))
    return value


def diff_entries(old_devices: Iterable[Entry], old_findings: Iterable[Entry],
                 new_devices: Iterable[Entry], new_findings: Iterable[Entry]) -> dict[str, Any]:
    """Compare two scans' device and finding entries.

    Devices match on ``id`` (the stable key); findings on (rule, device id). A
    device whose tracked fields differ -- as facts, not in the order of a list -- is listed
    under ``changed_devices`` with ``changes: {field: [old, new]}``. Evidence, conflicts
    and warnings are not compared at all: they explain a device, they are not its state.
    """
    old = {d["id"]: d for d in old_devices}
    new = {d["id"]: d for d in new_devices}
    changed = []
    for key in new.keys() & old.keys():
        delta = {name: [old[key].get(name), new[key].get(name)] for name in TRACKED_FIELDS
                 if _canonical(old[key].get(name)) != _canonical(new[key].get(name))}
        if "ip" in delta and "behind" not in delta and new[key].get("behind") is not None:
            del delta["ip"]  # a camera behind a recorder: its internal address is the recorder's business
        if delta:
            changed.append({"id": key, "ip": new[key]["ip"], "maker": new[key].get("maker"),
                            "model": new[key].get("model"), "behind": new[key].get("behind"), "changes": delta})
    old_f = {(f["rule"], f["device_id"]): f for f in old_findings}
    new_f = {(f["rule"], f["device_id"]): f for f in new_findings}
    return {
        "new_devices": sort_devices([_device_brief(new[k]) for k in new.keys() - old.keys()]),
        "gone_devices": sort_devices([_device_brief(old[k]) for k in old.keys() - new.keys()]),
        "changed_devices": sort_devices(changed),
        "new_findings": sort_findings([_finding_brief(new_f[k]) for k in new_f.keys() - old_f.keys()]),
        "resolved_findings": sort_findings([_finding_brief(old_f[k]) for k in old_f.keys() - new_f.keys()]),
    }


def is_empty(changes: Mapping[str, Any]) -> bool:
    return not any(changes.get(k) for k in ("new_devices", "gone_devices", "changed_devices",
                                            "new_findings", "resolved_findings"))
