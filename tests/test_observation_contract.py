"""The probe → identification contract (auditor/probes/contract.py, each probe's FIELDS).

* Probes emit only declared fields, of the declared kind: checked here on real
  captured replies, and on a whole lab scan in test_e2e_scan.py.
* Every declared field is read downstream: an observation holding every field
  (each probe's examples) goes through the scan engine's guard, assembly,
  identification, the policy facts and the store, with its ``fields`` recording
  which names were looked up. A field nobody reads fails here by name, unless it
  says why it is only kept (``kept``) or is a known gap listed below.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from auditor.assemble import assemble
from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.models import Device, Observation
from auditor.policy import device_facts, evaluate, load_policy, shipped_rule_files
from auditor.probes import arp, dhip, http, rtsp, sadp, wsdiscovery
from auditor.probes.contract import ProbeFields, observation_fields, problems
from auditor.probes.engine import _Guard
from auditor.probes.registry import ALL_PROBES, OTHER_SOURCES
from auditor.scope import build_scope
from auditor.store import Store

ASSETS = Path(__file__).resolve().parent / "assets"
SPECS = observation_fields()

KNOWN_UNREAD = {
    "onvif.scopes": "GetScopes' name/hardware scopes: identification reads WS-Discovery's scopes only",
}
"""Fields a probe emits that no stage reads yet, each a known gap (remove it here once read)."""


class Tracked(dict[str, Any]):
    """Observation fields that note every name looked up (nested records get dotted names)."""

    def __init__(self, data: dict[str, Any], prefix: str, seen: set[str], spec: ProbeFields | None) -> None:
        super().__init__()
        self.prefix, self.seen = prefix, seen
        for key, value in data.items():
            field = spec.field(key) if spec else None
            if field is not None and field.kind == "record":
                value = Tracked(value, f"{prefix}{key}.", seen, ProbeFields(field.name, field.record))
            super().__setitem__(key, value)

    def _note(self, key: object) -> None:
        self.seen.add(f"{self.prefix}{key}")

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


def _declared() -> dict[str, str | None]:
    """Every declared field as ``probe.name`` (``probe.record.key`` inside records) → why it is kept, or None."""
    out: dict[str, str | None] = {}
    for spec in SPECS.values():
        for f in spec.fields:
            out[f"{spec.probe}.{f.name}"] = f.kept
            for sub in f.record:
                out[f"{spec.probe}.{f.name}.{sub.name}"] = sub.kept or f.kept
    return out


def _read_downstream(tmp_path: Path) -> set[str]:
    """Names looked up downstream: for a device seen by every probe at once, and for one seen
    by each probe alone (stages fall back from one probe's field to another's)."""
    seen: set[str] = set()
    kb = load_knowledge()
    policy = load_policy(shipped_rule_files())
    groups = [list(SPECS), *([probe] for probe in SPECS)]
    with Store(tmp_path / "contract.db") as store:
        for n, probes in enumerate(groups):
            ip = f"198.18.0.{n + 10}"
            emitted: list[Observation] = []
            guard = _Guard(build_scope(["198.18.0.0/24"], []), emitted.append)
            for probe in probes:
                spec = SPECS[probe]
                guard(Observation(ip, probe, Tracked(spec.example(), f"{probe}.", seen, spec), seen_at=1.0))
            devices = [Device(host=h, identity=identify(h, kb)) for h in assemble(emitted, kb.mac_from_serial)]
            facts = {d.key: device_facts(d, kb, policy) for d in devices}
            scan_id = store.begin_scan({"targets": ["198.18.0.0/24"]})
            store.add_observations(scan_id, emitted)
            store.add_devices(scan_id, devices, facts)
            store.add_findings(scan_id, evaluate(policy, devices, kb=kb, today=dt.date(2026, 11, 28)))
            store.finish_scan(scan_id, "complete", {})
    return seen


def test_every_probe_declares_its_fields() -> None:
    assert list(SPECS) == [*ALL_PROBES, "safety", *OTHER_SOURCES]  # every probe, the engine's own, imports
    for spec in SPECS.values():
        assert spec.fields and all(f.doc for f in spec.fields), spec.probe
        assert problems(spec, spec.example()) == [], f"{spec.probe}: its examples break its own contract"


def test_every_declared_field_is_read_downstream_or_says_why_not(tmp_path: Path) -> None:
    seen = _read_downstream(tmp_path)
    declared = _declared()
    unread = sorted(name for name, kept in declared.items() if kept is None and name not in seen
                    and name not in KNOWN_UNREAD)
    assert unread == [], ("fields a probe emits that no stage reads (read them, or mark them kept= with the "
                          f"reason): {unread}")
    kept_but_read = sorted(name for name, kept in declared.items() if kept is not None and name in seen)
    assert kept_but_read == [], f"fields marked kept= that a stage now reads (drop the mark): {kept_but_read}"
    now_read = sorted(name for name in KNOWN_UNREAD if name in seen)
    assert now_read == [], f"known gaps that are read now (remove them from KNOWN_UNREAD): {now_read}"
    assert set(KNOWN_UNREAD) <= set(declared)


def test_the_contract_catches_an_undeclared_or_mistyped_field() -> None:
    spec = SPECS["http"]
    fields = {**spec.example(), "colour": "red", "port": "80"}
    fields["device_info"] = {**fields["device_info"], "wifi_key": "x"}
    assert sorted(problems(spec, fields)) == [
        "http.colour: not declared in http's FIELDS",
        "http.device_info.wifi_key: not declared in http.device_info's FIELDS",
        "http.port: str '80' is not int",
    ]


def _real_replies() -> list[tuple[str, dict[str, Any]]]:
    """(probe, fields) parsed from the real captured replies in tests/assets."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((ASSETS / "arp").glob("reply_*.bin")):
        parsed = arp.parse_arp_reply(path.read_bytes())
        if parsed:
            out.append(("arp", parsed[1]))
    out += [("arp", f) for _, f in arp.parse_neighbours((ASSETS / "arp" / "neigh.json").read_bytes())]
    for path in sorted((ASSETS / "wsdiscovery").glob("*.xml")):
        if not path.name.startswith(("bad_", "probe_echo")):
            out += [("wsdiscovery", f) for f in wsdiscovery.parse_probe_match(path.read_bytes())]
    for probe, module, parse in (("sadp", sadp, sadp.parse_sadp_reply), ("dhip", dhip, dhip.parse_dhip_reply)):
        for path in sorted((ASSETS / probe).iterdir()):
            if path.name.startswith("bad_") or path.suffix not in (".xml", ".bin"):
                continue
            try:
                out.append((probe, parse(path.read_bytes())))
            except module.ReplyError:
                continue  # an echo of our own request, or a reply it refuses by design
    for path in sorted((ASSETS / "http").glob("*.http")):
        try:
            resp = http.parse_response(path.read_bytes())
        except ValueError:
            continue
        out.append(("http", {"port": 80, "scheme": "http", **http.summarize_root(resp)}))
        if "deviceinfo" in path.name:
            out.append(("http", {"port": 80, "scheme": "http", "device_info": http.parse_isapi_device_info(resp.body)}))
    replies = {p.name: http.parse_response(p.read_bytes()) for p in sorted((ASSETS / "rtsp").glob("*.rtsp"))}
    for name, resp in replies.items():
        out.append(("rtsp", {"port": 554, **(rtsp.summarize(None, resp) if "describe" in name
                                             else rtsp.summarize(resp, None))}))
    return out


def test_probes_emit_only_declared_fields_on_real_replies() -> None:
    seen = _real_replies()
    assert {probe for probe, _ in seen} == {"arp", "wsdiscovery", "sadp", "dhip", "http", "rtsp"}
    found = [p for probe, fields in seen for p in problems(SPECS[probe], fields)]
    assert found == []


def test_probes_emit_only_declared_fields_on_the_real_reply_corpus() -> None:
    """tests/real: replies of real devices, through the parser each probe uses (tests/real_corpus.py)."""
    from real_corpus import load_manifest, parse

    observations = [obs for item in load_manifest() if item.parser for obs in parse(item).observations]
    assert len(observations) > 50
    found = sorted({p for obs in observations for p in problems(SPECS[obs.probe], obs.fields)})
    assert found == []
