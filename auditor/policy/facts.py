"""The policy inputs ("facts") of a device, derived from its Identity and observations.

Rules match on these names only, so this table is the contract between
identification/probes and ``rules/*.yaml`` (documented in ``rules/README.md``; a
test fails when a fact is undocumented). A fact that cannot be known is ``None`` —
never guessed — and most operators do not match ``None`` (see the README).

Inputs are explicit: the knowledge base (for KEV) is passed in, and so is the
loaded policy for the facts only it can supply (``zones``, ``in_inventory``,
``inventory_location``, ``inventory_owner``; empty/None without one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..models import Device, Observation


class KevSource(Protocol):
    """What the facts need of the knowledge base: its KEV answers for one product.

    ``kev_for`` returns CVE id strings (taken as confirmed) or ``KevMatch`` records
    (``cve``, ``status`` vulnerable/fixed/unknown, ``kev_status`` listed/unconfirmed).
    ``auditor.knowledge.KnowledgeBase`` is one.
    """

    def kev_for(self, maker: str | None, model: str | None, firmware: str | None,
                brand: str | None = None) -> Iterable[Any]: ...


class PolicyFacts(Protocol):
    """What the facts need of a loaded policy (``auditor.policy.Policy`` is one)."""

    def policy_facts(self, device: Device) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Fact:
    kind: str
    """str | ip | bool | number | list[str] | list[int] — decides which operators apply."""
    doc: str


FACTS: dict[str, Fact] = {
    "key": Fact("str", "stable device key (mac:…, serial:…, epr:…, ip:…)"),
    "ip": Fact("ip", "primary IPv4 address"),
    "ips": Fact("list[str]", "every address folded into the device"),
    "mac": Fact("str", "lower-case colon-separated MAC, None when unseen (routed, no ONVIF)"),
    "name": Fact("str", "name the device gives itself (ONVIF hostname, DHIP machine name, WS-Discovery name)"),
    "maker": Fact("str", "canonical maker from the knowledge base; None when it cannot be established"),
    "brand": Fact("str", "brand as shown by the device (may equal the maker)"),
    "relation": Fact("str", "maker | own brand | subsidiary | OEM relabel | review (needs a person)"),
    "relation_text": Fact("str", "relation for people, e.g. 'Hikvision product sold as LTS'"),
    "needs_review": Fact("bool", "a person must decide the maker relation (e.g. Lorex)"),
    "review": Fact("str", "why a person must decide: the brand's documented makers, lines, periods and sources"),
    "possible_makers": Fact("list[str]", "makers the shown brand is documented to have sold, when the evidence "
                                         "does not settle that the device is covered (e.g. Swann: Reolink, "
                                         "Hikvision); empty otherwise"),
    "possible_covered": Fact("bool", "one of possible_makers is covered: possible covered equipment under "
                                     "another brand"),
    "covered": Fact("bool", "maker is covered by NDAA FY2019 §889 / FCC Covered List"),
    "covered_basis": Fact("str", "legal basis of 'covered'"),
    "device_class": Fact("str", "camera | recorder | other | unknown"),
    "model": Fact("str", "model name/number"),
    "firmware": Fact("str", "firmware version as reported (compare with version_lt/le/ge/gt)"),
    "serial": Fact("str", "serial number"),
    "confidence": Fact("str", "identification confidence: high | medium | low"),
    "open_ports": Fact("list[int]", "TCP ports that accepted a connection"),
    "services": Fact("list[str]", "services seen: telnet ftp ssh http https rtsp onvif sdk sadp dhip wsdiscovery"),
    "http_only": Fact("bool", "a web interface over HTTP and none over HTTPS"),
    "rtsp_unauth": Fact("bool", "RTSP DESCRIBE succeeded without credentials (None: RTSP not probed)"),
    "onvif_unauth_calls": Fact("list[str]", "ONVIF calls answered without credentials"),
    "onvif_devinfo_unauth": Fact("bool", "ONVIF GetDeviceInformation answered without credentials"),
    "activated": Fact("bool", "Hikvision SADP 'Activated' (False: no admin password set); None if unknown"),
    "clock_offset_s": Fact("number", "device clock minus ours, seconds (ONVIF GetSystemDateAndTime)"),
    "clock_skew_s": Fact("number", "absolute value of clock_offset_s"),
    "kev": Fact("list[str]", "CVE ids on the CISA KEV list that this maker/model/firmware is vulnerable to"),
    "kev_unverified": Fact("list[str]", "KEV CVE ids for this product line where the firmware could not be "
                                        "placed (or the KEV listing is unconfirmed): check by hand"),
    "probes": Fact("list[str]", "probes that observed the device"),
    "stopped_answering": Fact("bool", "answered earlier in this scan but not the re-check at its end "
                                      "(None: not re-checked)"),
    "backed_off": Fact("bool", "stopped answering in the middle of its probes; no further probes were sent to it"),
    "sent_during_audit": Fact("str", "what the scan sent to the device, per probe (set when it went quiet)"),
    "warnings": Fact("list[str]", "'probe: message' for malformed or hostile answers"),
    "zones": Fact("list[str]", "policy zones whose subnets contain the device's IP (from the rules files)"),
    "in_inventory": Fact("bool", "listed in the approved inventory (None when no inventory is loaded)"),
    "inventory_location": Fact("str", "location from the approved inventory"),
    "inventory_owner": Fact("str", "owner from the approved inventory"),
}

POLICY_FACTS = ("zones", "in_inventory", "inventory_location", "inventory_owner")
"""Facts the loaded policy supplies (``Policy.policy_facts``)."""

_PORT_SERVICES = {21: "ftp", 22: "ssh", 23: "telnet", 80: "http", 443: "https", 554: "rtsp",
                  8000: "sdk", 37777: "sdk"}
_PROBE_SERVICES = {"rtsp": "rtsp", "onvif": "onvif", "sadp": "sadp", "dhip": "dhip",
                   "wsdiscovery": "wsdiscovery"}


def _kev(kb: KevSource, device: Device) -> tuple[list[str], list[str]]:
    """(confirmed, unverified) KEV CVE ids; nothing without a maker."""
    ident = device.identity
    if not ident.maker:
        return [], []
    confirmed: set[str] = set()
    unverified: set[str] = set()
    for m in kb.kev_for(ident.maker, ident.model, ident.firmware, brand=ident.brand):
        if isinstance(m, str):
            confirmed.add(m)
        elif getattr(m, "status", None) == "vulnerable" and getattr(m, "kev_status", "listed") == "listed":
            confirmed.add(str(m.cve))
        elif getattr(m, "status", None) != "fixed":
            unverified.add(str(m.cve))
    return sorted(confirmed), sorted(unverified - confirmed)


def _by_probe(observations: Iterable[Observation]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ob in observations:
        out.setdefault(ob.probe, []).append(ob.fields or {})
    return out


def _first(obs: dict[str, list[dict[str, Any]]], probe: str, field: str) -> Any:
    for f in obs.get(probe, ()):
        value = f.get(field)
        if value not in (None, ""):
            return value
    return None


def _banner_service(banner: str) -> str | None:
    text = banner.lstrip()
    if text.startswith("SSH-"):
        return "ssh"
    if text.startswith("220"):
        return "ftp"
    if banner.startswith("\xff") or "login:" in text.lower():
        return "telnet"
    return None


def _services(obs: dict[str, list[dict[str, Any]]], open_ports: list[int]) -> list[str]:
    found = {_PORT_SERVICES[p] for p in open_ports if p in _PORT_SERVICES}
    for f in obs.get("ports", ()):
        banners = f.get("banners")
        if isinstance(banners, dict):
            found.update(s for b in banners.values() if isinstance(b, str) and (s := _banner_service(b)))
    for f in obs.get("http", ()):
        if f.get("scheme") in ("http", "https"):
            found.add(f["scheme"])
    found.update(svc for probe, svc in _PROBE_SERVICES.items() if obs.get(probe))
    return sorted(found)


def _open_ports(obs: dict[str, list[dict[str, Any]]]) -> list[int]:
    ports: set[int] = set()
    for f in obs.get("ports", ()):
        ports.update(p for p in f.get("open") or () if isinstance(p, int) and not isinstance(p, bool))
    return sorted(ports)


def _onvif_calls(obs: dict[str, list[dict[str, Any]]]) -> dict[str, str] | None:
    if not obs.get("onvif"):
        return None
    calls: dict[str, str] = {}
    for f in obs["onvif"]:
        for call, state in (f.get("calls") or {}).items():
            if calls.get(call) != "open":
                calls[str(call)] = str(state)
    return calls


def _rtsp_unauth(obs: dict[str, list[dict[str, Any]]]) -> bool | None:
    answers = [f.get("auth_required") for f in obs.get("rtsp", ()) if isinstance(f.get("auth_required"), bool)]
    if not answers:
        return None
    return any(a is False for a in answers)


def _clock_offset(obs: dict[str, list[dict[str, Any]]]) -> float | None:
    value = _first(obs, "onvif", "clock_offset_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _activated(obs: dict[str, list[dict[str, Any]]]) -> bool | None:
    for f in obs.get("sadp", ()):
        if isinstance(f.get("activated"), bool):
            return bool(f["activated"])
    return None


def _safety(obs: dict[str, list[dict[str, Any]]]) -> tuple[bool | None, bool, str | None]:
    """(stopped_answering, backed_off, sent_during_audit) from the engine's ``safety`` observations."""
    stopped: bool | None = None
    backed_off = False
    sent: str | None = None
    for f in obs.get("safety", ()):
        if f.get("check") == "recheck" and isinstance(f.get("alive"), bool):
            stopped = not f["alive"] if stopped is None else stopped or not f["alive"]
        elif f.get("check") == "backoff":
            backed_off = True
        if isinstance(f.get("sent_summary"), str):
            sent = f["sent_summary"]
    return stopped, backed_off, sent


def _needs_review(device: Device) -> bool:
    ident = device.identity
    # Identity has no review flag yet; a knowledge-base 'review' status shows in the relation texts.
    flag = getattr(ident, "review", None)
    texts = (ident.relation or "", ident.relation_text or "")
    return bool(flag) or any("review" in t.casefold() for t in texts)


def device_facts(device: Device, kb: KevSource, policy: PolicyFacts | None = None) -> dict[str, Any]:
    """The facts of ``device``: every name in ``FACTS``, what the rules see.

    ``kb`` answers the KEV facts. With ``policy`` the policy facts (zones, inventory)
    are filled in, else they stay empty/None.
    """
    ident = device.identity
    obs = _by_probe(device.host.observations)
    open_ports = _open_ports(obs)
    services = _services(obs, open_ports)
    calls = _onvif_calls(obs)
    offset = _clock_offset(obs)
    kev_ids, kev_unverified = _kev(kb, device)
    stopped, backed_off, sent = _safety(obs)
    name = _first(obs, "onvif", "hostname") or _first(obs, "dhip", "machine_name") or _first(
        obs, "wsdiscovery", "name")
    facts: dict[str, Any] = {
        "key": device.key,
        "ip": device.ip,
        "ips": list(device.host.ips) or [device.ip],
        "mac": device.mac,
        "name": name,
        "maker": ident.maker,
        "brand": ident.brand,
        "relation": ident.relation,
        "relation_text": ident.relation_text,
        "needs_review": _needs_review(device),
        "review": ident.review,
        "possible_makers": list(ident.possible_makers),
        "possible_covered": bool(ident.possible_covered) and not ident.covered,
        "covered": ident.covered,
        "covered_basis": ident.covered_basis,
        "device_class": ident.device_class,
        "model": ident.model,
        "firmware": ident.firmware,
        "serial": ident.serial,
        "confidence": ident.confidence,
        "open_ports": open_ports,
        "services": services,
        "http_only": "http" in services and "https" not in services,
        "rtsp_unauth": _rtsp_unauth(obs),
        "onvif_unauth_calls": sorted(c for c, s in (calls or {}).items() if s == "open"),
        "onvif_devinfo_unauth": None if calls is None else calls.get("GetDeviceInformation") == "open",
        "activated": _activated(obs),
        "clock_offset_s": offset,
        "clock_skew_s": None if offset is None else abs(offset),
        "kev": kev_ids,
        "kev_unverified": kev_unverified,
        "probes": sorted(p for p in obs if p != "safety"),
        "stopped_answering": stopped,
        "backed_off": backed_off,
        "sent_during_audit": sent,
        "warnings": [f"{o.probe}: {o.warning}" for o in device.host.observations if o.warning],
        "zones": [],
        "in_inventory": None,
        "inventory_location": None,
        "inventory_owner": None,
    }
    if policy is not None:
        facts.update(policy.policy_facts(device))
    return facts
