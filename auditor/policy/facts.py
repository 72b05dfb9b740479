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
                brand: str | None = None, relation: str | None = None) -> Iterable[Any]: ...


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
    "kev": Fact("list[str]", "CVE ids on the CISA KEV list that this maker/model/firmware is vulnerable to (the "
                             "firmware's real maker decides, whatever the label)"),
    "kev_listed": Fact("list[str]", "the same CVEs with CISA's dates: 'CVE-… (added to KEV 2022-01-10, due "
                                    "2022-01-24)'"),
    "kev_unverified": Fact("list[str]", "KEV CVE ids for this product line where the firmware could not be "
                                        "placed against the advisory (never one the firmware is clearly fixed for)"),
    "kev_notes": Fact("list[str]", "why each kev_unverified CVE could not be ruled out: 'CVE-…: reason'"),
    "probes": Fact("list[str]", "probes that observed the device"),
    "behind": Fact("str", "for a camera behind a recorder (seen only in the recorder's channel list): the "
                          "recorder's device key; None for a device the scan reached itself"),
    "recorder_ip": Fact("ip", "the address of the recorder a camera is behind"),
    "channel": Fact("number", "the recorder's channel the camera is on (the first, for a multi-sensor camera)"),
    "channel_online": Fact("bool", "the recorder reports the camera online (None: the recorder does not say)"),
    "channels_enumerated": Fact("bool", "for a recorder: its channel list (the cameras behind it) was read; None "
                                        "for other devices"),
    "channels_note": Fact("str", "why a recorder's channel list was not read"),
    "cameras_behind": Fact("number", "cameras configured on the recorder's channels (its maker's channel list; "
                                     "else the video inputs its ONVIF media service lists; None: not read)"),
    "login": Fact("str", "the site's credentials on the maker's API: accepted, refused, open, locked, not_tried, "
                         "unavailable (None: no login attempted)"),
    "login_note": Fact("str", "why the maker's API gave no identity or channel list, or the lockout the device "
                              "signalled"),
    "default_credentials": Fact("list[str]", "user names of factory-default accounts the device accepted "
                                             "(--check-default-credentials; passwords are never kept)"),
    "default_check": Fact("str", "why the factory-default check was not made on this device, or stopped"),
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


@dataclass(frozen=True)
class KevFacts:
    confirmed: list[str]
    listed: list[str]
    """Each confirmed CVE with CISA's dates."""
    unverified: list[str]
    notes: list[str]
    """``CVE: why it cannot be ruled out`` for each unverified one."""


def _kev(kb: KevSource, device: Device) -> KevFacts:
    """The KEV facts; nothing without a maker. A CVE the firmware is clearly fixed for is in none of them."""
    ident = device.identity
    if not ident.maker:
        return KevFacts([], [], [], [])
    confirmed: dict[str, str] = {}
    unverified: dict[str, str] = {}
    for m in kb.kev_for(ident.maker, ident.model, ident.firmware, brand=ident.brand, relation=ident.relation):
        if isinstance(m, str):
            confirmed[m] = m
            continue
        cve, status = str(m.cve), getattr(m, "status", None)
        if status == "vulnerable" and getattr(m, "kev_status", "listed") == "listed":
            added, due = getattr(m, "kev_date", None), getattr(m, "due_date", None)
            dates = ", ".join(x for x in (f"added to KEV {added}" if added else "", f"due {due}" if due else "") if x)
            confirmed[cve] = f"{cve} ({dates})" if dates else cve
        elif status != "fixed":
            unverified[cve] = f"{cve}: {getattr(m, 'reason', 'the firmware could not be placed')}"
    left = sorted(set(unverified) - set(confirmed))
    return KevFacts(sorted(confirmed), [confirmed[c] for c in sorted(confirmed)], left, [unverified[c] for c in left])


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


CHANNEL_LIST_MAKERS = ("Hikvision", "Dahua")
"""Makers whose recorders' channel lists the login probe reads (auditor/probes/login.py)."""


def _channel_facts(device: Device, obs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Where the device stands with recorders: a camera behind one, or a recorder and its channel list."""
    host = device.host
    channels = obs.get("channel", [])
    online = [f.get("online") for f in channels if isinstance(f.get("online"), bool)]
    logins = obs.get("login", [])
    read = any(f.get("channels_read") is True for f in logins)
    said = _login_facts(obs)["login_note"]
    counted = [info.get("channels") for f in logins if isinstance(info := f.get("device_info"), dict)]
    enumerated: bool | None = None
    note: str | None = None
    sources = [v for f in obs.get("onvif", []) if isinstance(v := f.get("video_sources"), int)
               and not isinstance(v, bool)]
    if device.identity.device_class == "recorder" and host.behind is None:
        enumerated = read
        if not read:
            maker = device.identity.maker
            if said:
                note = said
            elif maker is not None and maker not in CHANNEL_LIST_MAKERS:
                note = (f"camaudit reads the channel lists of {' and '.join(CHANNEL_LIST_MAKERS)} recorders (their OEM "
                        f"lines included), not {maker}'s")
            else:
                note = ("no login to its maker's API was accepted in this scan (no credentials for it in the "
                        "credentials file, or they were refused)")
            if sources:
                note = (f"its ONVIF media service lists {sources[0]} video inputs, but ONVIF does not say which "
                        f"cameras they are; {note}")
    return {
        "behind": host.behind,
        "recorder_ip": host.recorder_ip,
        "channel": host.channels[0] if host.channels else None,
        "channel_online": (any(online) if online else None) if host.behind is not None else None,
        "channels_enumerated": enumerated,
        "channels_note": note,
        "cameras_behind": next((c for c in counted if isinstance(c, int) and not isinstance(c, bool)),
                               sources[0] if sources else None),
    }


def _login_facts(obs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    logins = obs.get("login", [])
    accepted = sorted({str(u) for f in logins for u in (f.get("default_accepted") or []) if isinstance(u, str)})
    notes = [text for f in logins for key in ("lockout", "note") if isinstance(text := f.get(key), str)]
    return {
        "login": next((f["login"] for f in logins if isinstance(f.get("login"), str)), None),
        "login_note": "; ".join(dict.fromkeys(notes)) or None,
        "default_credentials": accepted,
        "default_check": next((f["default_note"] for f in logins if isinstance(f.get("default_note"), str)), None),
    }


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
    kev = _kev(kb, device)
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
        "kev": kev.confirmed,
        "kev_listed": kev.listed,
        "kev_unverified": kev.unverified,
        "kev_notes": kev.notes,
        "probes": sorted(p for p in obs if p != "safety"),
        **_channel_facts(device, obs),
        **_login_facts(obs),
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
