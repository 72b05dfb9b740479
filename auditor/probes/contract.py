"""The probes' contract with everything after them: what each puts in ``Observation.fields``.

Every probe module declares ``FIELDS``, a :class:`ProbeFields`: each field's name,
kind, meaning and a realistic example. From these:

* ``docs/observations.md``'s table is generated (``scripts/gendocs.py``; a test
  fails when it is stale);
* ``tests/test_observation_contract.py`` checks that the probes emit nothing
  undeclared (on real captured replies and in a lab scan), and that every declared
  field is read by some stage downstream (assembly, identification, the policy
  facts, the store, the scan engine) — a field a probe adds and nobody reads shows up.

A field that is deliberately not interpreted (kept with the observation as a record
for a person) says why in ``kept``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["str", "int", "float", "bool", "list[str]", "list[int]", "map[str]", "map[int]", "record"]
"""``map[X]``: a mapping with keys the device chose (paths, ports, calls) → X;
``record``: a mapping with the fixed keys listed in ``Field.record``."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    doc: str
    example: Any
    """A realistic value (shown in no document; the contract test feeds it downstream)."""
    record: tuple[Field, ...] = ()
    kept: str | None = None
    """Why no stage reads this field (it is stored with the observation for a person); None: read downstream."""


@dataclass(frozen=True)
class ProbeFields:
    probe: str
    fields: tuple[Field, ...]
    note: str = ""
    """What a person should know about the probe's fields as a whole (markdown)."""

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def example(self) -> dict[str, Any]:
        """Every field with its example value: an observation that uses the whole contract."""
        return {f.name: (dict(f.example) if isinstance(f.example, dict) else f.example) for f in self.fields}


def _kind_ok(kind: Kind, value: Any) -> bool:
    def scalar(k: str, v: Any) -> bool:
        if k == "str":
            return isinstance(v, str)
        if k == "int":
            return isinstance(v, int) and not isinstance(v, bool)
        if k == "float":
            return isinstance(v, int | float) and not isinstance(v, bool)
        return isinstance(v, bool)

    if kind.startswith("list["):
        return isinstance(value, list) and all(scalar(kind[5:-1], v) for v in value)
    if kind.startswith("map["):
        return isinstance(value, dict) and all(isinstance(k, str) and scalar(kind[4:-1], v)
                                               for k, v in value.items())
    if kind == "record":
        return isinstance(value, dict)
    return scalar(kind, value)


def problems(spec: ProbeFields, fields: Mapping[str, Any]) -> list[str]:
    """How ``fields`` (one observation's) departs from the contract: undeclared names, wrong kinds."""
    out = []
    for name, value in fields.items():
        field = spec.field(name)
        if field is None:
            out.append(f"{spec.probe}.{name}: not declared in {spec.probe}'s FIELDS")
            continue
        if not _kind_ok(field.kind, value):
            out.append(f"{spec.probe}.{name}: {type(value).__name__} {value!r:.60} is not {field.kind}")
            continue
        if field.kind == "record":
            sub = ProbeFields(f"{spec.probe}.{name}", field.record)
            out += problems(sub, value)
    return out


def observation_fields() -> dict[str, ProbeFields]:
    """Every observation's declared fields: the registered probes', then the scan engine's own
    (``safety``: back-offs and the end-of-scan re-check, ``auditor/probes/safety.py``), then the
    sources that are no network probe (``OTHER_SOURCES``: rows of an imported inventory)."""
    from .registry import OTHER_SOURCES
    from .safety import FIELDS as SAFETY_FIELDS

    out = {**probe_fields(), SAFETY_FIELDS.probe: SAFETY_FIELDS}
    for name, module in OTHER_SOURCES.items():
        spec = importlib.import_module(module).FIELDS
        if not isinstance(spec, ProbeFields) or spec.probe != name:
            raise TypeError(f"{module}: FIELDS must be the ProbeFields of source {name!r}")
        out[name] = spec
    return out


def probe_fields() -> dict[str, ProbeFields]:
    """Every registered probe's declared fields, in registry order."""
    from .registry import DISCOVERY_PROBES, HOST_PROBES

    out = {}
    for name, target in {**DISCOVERY_PROBES, **HOST_PROBES}.items():
        spec = importlib.import_module(target.split(":")[0]).FIELDS
        if not isinstance(spec, ProbeFields) or spec.probe != name:
            raise TypeError(f"{target}: FIELDS must be the ProbeFields of probe {name!r}")
        out[name] = spec
    return out
