"""Evidence fusion: a Host's observations + the knowledge base → Identity.

Every observation contributes :class:`~auditor.models.Evidence` with a strength:

* strong — the device answers its maker's own discovery protocol (SADP → Hikvision
  firmware, DHIP → Dahua firmware); ONVIF Manufacturer naming a maker/brand AND a model
  matching that maker's pattern (an uncertain OEM brand's
  own model codes do not count); the MA-L OUI (seen on the wire) of a covered maker.
* medium — a shown name alone (ONVIF Manufacturer, WS-Discovery name scope, DHIP Vendor,
  SADP OEMInfo, titles/realms), model patterns, vendor web paths, banners, other OUIs.
* weak — generic tells: TCP 8000/37777 open, a bare ``Webs`` banner, firmware formats.
  Weak signals never decide a maker on their own.

Evidence that reaches a maker through a brand is weakened by the relation's reported
confidence (medium-low → one step; low → weak).

Maker: the maker with firmware-level evidence if exactly one has it; else the highest
score (strong 3, medium 2, weak 1, best per probe+field) among makers with at least one
strong or medium piece; a tie leaves the maker unknown. Every other maker with
strong/medium evidence is listed in ``conflicts`` — never silently dropped.

Brands with more than one documented maker (Swann: Reolink and Hikvision lines) support no
maker by their name: other evidence must settle it. When no maker can be settled but the
device shows a brand (or a brand's model line) the knowledge base documents, the identity
is "needs review": ``relation`` review, ``possible_makers`` the brand's makers, ``review``
the documented lines, periods, confidence and sources — never a silent unknown. A brand
whose relation to a covered maker is under review (Lorex, Annke) is the maker's equipment
but not covered unless firmware-level evidence or a model code of the maker's own lines
(not the brand's) proves it; ``possible_makers`` then names the maker.

Confidence: high — strong evidence (or medium evidence from two different probes) and no
conflict; medium — one medium source and no conflict, or strong evidence against only
medium/weak conflicting evidence; low — anything else (strong evidence on both sides).

Device class: a strong "other" tell (WS-D printer types) → other; else recorder tells
(≥ medium) → recorder; camera tells (≥ medium) → camera; other tells (≥ medium) →
other; a known maker whose line is not video and who sells no cameras (Huawei/ZTE network
gear, printers; a maker with ``video_lines`` such as D-Link is not assumed either way) → other;
weak camera tells with a known maker → camera; weak other tells only → other; else unknown.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .assemble import device_info, reported_macs, reported_serial
from .knowledge import KnowledgeBase, NameMatch, Signature
from .mac import is_locally_administered, normalise_mac
from .models import Evidence, Host, Identity, Observation
from .ordering import sort_observations
from .text import clean_text

_RANK = {"strong": 3, "medium": 2, "weak": 1}
_DOWNGRADE = {"strong": "medium", "medium": "weak", "weak": "weak"}
_MAX_VALUE = 256
_GENERIC_VENDORS = re.compile(r"^(?:general|generic|oem|n/?a|none|unknown|default|ipc|-+)?$", re.IGNORECASE)
_RECORDER_CLASS = re.compile(r"\b(?:NVR|DVR|XVR|HCVR|IVSS|EVS|NVS|MHDX)\b|^(?:NVR|DVR|XVR|HCVR)", re.IGNORECASE)
"""Recorder device classes and types (Intelbras's Dahua-made MHDX DVRs report DeviceClass MHDX: tests/real)."""
_CAMERA_CLASS = re.compile(r"^(?:IPC|SD|HAC|TPC|PTZ|ITC|IPCAM|CAMERA|DOME|BULLET)", re.IGNORECASE)
_OTHER_CLASS = re.compile(r"^(?:VTO|VTH|VTS|ASI|ASC|ALARM|NVD|VDP)", re.IGNORECASE)
_SCOPE_TYPES = {
    "video_encoder": "camera", "network_video_transmitter": "camera", "networkvideotransmitter": "camera",
    "ptz": "camera", "video_analytics": "camera",
    "network_video_storage": "recorder", "networkvideostorage": "recorder", "nvr": "recorder",
}
_CERT_NAME = re.compile(r"(?:^|[,/]\s*)(?:CN|O)\s*=\s*([^,/]+)", re.IGNORECASE)
_SITE = re.compile(r"^(?:www\.)?([a-z0-9][a-z0-9-]{1,62})\.(?:com|net|org|biz|info|co|com\.[a-z]{2}|[a-z]{2})$",
                   re.IGNORECASE)


def _site_name(name: str) -> str:
    """A certificate name that is a maker's web site ("www.trendnet.com") → the name in it ("trendnet")."""
    m = _SITE.match(name.strip())
    return m.group(1) if m else name


@dataclass(frozen=True)
class _Clue:
    evidence: Evidence
    maker: str | None = None
    brand: str | None = None
    """Knowledge-base brand this clue shows or implies."""
    brand_source: int = 99
    """Lower = more direct (what the device calls itself beats what a model pattern implies)."""
    device_class: str | None = None
    class_strength: str = "weak"
    firmware_level: bool = False
    candidates: tuple[str, ...] = ()
    """For a brand clue: the makers the brand is documented to have sold."""


def _text(value: Any) -> str:
    return clean_text(value, _MAX_VALUE)


def _answered(obs: Observation) -> bool:
    """A reply that parsed into something (a hostile/garbage reply with no fields does not count)."""
    return bool(obs.fields)


# ---------------------------------------------------------------- evidence collectors


def _signature_clues(kb: KnowledgeBase, probe: str, field: str, kind: str, value: Any,
                     brand_source: int = 50) -> Iterator[_Clue]:
    text = _text(value)
    for sig in kb.match_signatures(kind, text):
        yield _from_signature(kb, sig, probe, field, text, brand_source)


def _from_signature(kb: KnowledgeBase, sig: Signature, probe: str, field: str, value: str,
                    brand_source: int = 50) -> _Clue:
    maker, strength = sig.maker, sig.strength
    candidates: tuple[str, ...] = ()
    if sig.brand is not None:
        entry = kb.brand_maker(sig.brand, maker)
        strength = _weaken(strength, entry.confidence if entry else "low")
        candidates = (maker,) if maker else ()
    evidence = Evidence(probe=probe, field=field, value=value, supports=maker,
                        strength=strength, note=f"{sig.note} [{sig.id}]")  # type: ignore[arg-type]
    return _Clue(evidence, maker=maker, brand=sig.brand, brand_source=brand_source,
                 device_class=sig.device_class, class_strength=sig.strength, candidates=candidates)


def _weaken(strength: str, relation_confidence: str) -> str:
    if relation_confidence == "low":
        return "weak"
    if relation_confidence in ("medium-low", "low-medium"):
        return _DOWNGRADE[strength]
    return strength


def _name_clue(kb: KnowledgeBase, probe: str, field: str, value: Any, strength: str,
               brand_source: int, keep_unknown: bool = False) -> _Clue | None:
    """A name the device shows; unknown names are kept (as plain text) when ``keep_unknown``."""
    text = _text(value)
    if not text or _GENERIC_VENDORS.match(text):
        return None
    match = kb.match_name(text)
    if match is None:
        if not keep_unknown:
            return None
        return _Clue(Evidence(probe, field, text, None, "weak", "not a maker or brand the knowledge base knows"))
    return _clue_for_name(match, probe, field, text, strength, brand_source)


def _clue_for_name(match: NameMatch, probe: str, field: str, text: str, strength: str,
                   brand_source: int) -> _Clue:
    if match.relation == "maker":
        evidence = Evidence(probe=probe, field=field, value=text, supports=match.maker,
                            strength=strength, note=f"names the maker {match.maker}")  # type: ignore[arg-type]
        return _Clue(evidence, maker=match.maker, brand_source=brand_source)
    if match.maker is None:
        note = (f"names {match.brand}, a brand documented to have sold equipment of several makers "
                f"({', '.join(match.candidates)}): the name alone does not say which")
        evidence = Evidence(probe=probe, field=field, value=text, supports=None,
                            strength=strength, note=note)  # type: ignore[arg-type]
        return _Clue(evidence, brand=match.brand, brand_source=brand_source, candidates=match.candidates)
    strength = _weaken(strength, match.confidence)
    note = f"names {match.brand}, {match.relation} of {match.maker} (confidence {match.confidence}"
    note += ", relation under review)" if match.status == "review" else ")"
    evidence = Evidence(probe=probe, field=field, value=text, supports=match.maker,
                        strength=strength, note=note)  # type: ignore[arg-type]
    return _Clue(evidence, maker=match.maker, brand=match.brand, brand_source=brand_source,
                 candidates=match.candidates)


@dataclass(frozen=True)
class _Mac:
    mac: str
    probe: str
    on_the_wire: bool
    serial: str | None = None
    """Set when the MAC was read out of this serial number (a maker whose serials are MACs)."""


def _serials(host: Host, kb: KnowledgeBase) -> list[tuple[str, str, str]]:
    """(serial, probe, field) of every serial the device reports or shows: the serial fields
    (SADP, DHIP, ONVIF, a vendor identity API), then serials the knowledge base reads out of
    realms, certificate names and host names (``AXIS_<serial>``)."""
    out: list[tuple[str, str, str]] = [
        (_text(serial), obs.probe, "device_info.serial" if obs.probe == "http" else "serial")
        for obs in host.observations if (serial := reported_serial(obs))]
    for obs in host.observations:
        texts: list[tuple[str, Any]] = []
        if obs.probe in ("http", "rtsp"):
            texts.append(("realm", obs.fields.get("realm")))
        if obs.probe == "http":
            realms = obs.fields.get("path_realms")
            texts += [("path_realms", v) for v in (realms.values() if isinstance(realms, dict) else [])][:8]
            texts.append(("cert_subject", obs.fields.get("cert_subject")))
        if obs.probe == "onvif":
            texts.append(("hostname", obs.fields.get("hostname")))
        for field, value in texts:
            out += [(_text(serial), obs.probe, field) for serial in kb.serials_shown_in(_text(value))]
    return list(dict.fromkeys(out))


def _macs(host: Host, kb: KnowledgeBase) -> list[_Mac]:
    """Every distinct MAC seen, ARP's first, then what the device reports about itself, then
    MACs read out of serial numbers (makers whose serials are MACs).

    Each MAC is credited to the probe that actually saw it: a routed camera's MAC
    comes from what it says about itself (ONVIF/SADP/DHIP/a vendor API), never from ARP.
    """
    seen: dict[str, _Mac] = {}
    ordered = sorted(host.observations, key=lambda o: o.probe != "arp")
    for obs in ordered:
        if obs.probe not in ("arp", "sadp", "dhip", "wsdiscovery", "onvif", "login", "http", "inventory", "channel"):
            continue
        for value in reported_macs(obs):
            mac = normalise_mac(value)
            if mac and mac not in seen:
                seen[mac] = _Mac(mac, obs.probe, obs.probe == "arp")
    if host.mac and (mac := normalise_mac(host.mac)) and mac not in seen:
        seen[mac] = _Mac(mac, "arp", True)  # a Host built without its ARP observation (re-identification input)
    for serial, probe, _field in _serials(host, kb)[:8]:
        found = kb.mac_from_serial(serial)
        if found is not None and found[0] not in seen:
            seen[found[0]] = _Mac(found[0], probe, False, serial)
    return list(seen.values())


def _oui_clues(host: Host, kb: KnowledgeBase) -> Iterator[_Clue]:
    for seen in _macs(host, kb):
        mac, probe, wire = seen.mac, seen.probe, seen.on_the_wire
        if seen.serial is not None:
            match = kb.lookup_oui(mac)
            maker = kb.maker(match.maker if match else None)
            rule = maker.serial_is_mac if maker else None
            if match is not None and maker is not None and rule is not None:
                note = (f"serial {seen.serial} is the unit's MAC ({maker.name} serials are MACs: {rule.source}); "
                        f"OUI {match.prefix}/{match.prefix_len} registered to {match.org}")
                yield _Clue(Evidence(probe, "serial", seen.serial, maker.name, "medium", note),
                            maker=maker.name, brand_source=30)
            continue
        if is_locally_administered(mac):
            yield _Clue(Evidence(probe, "mac", mac, None, "weak",
                                 "locally administered (random) MAC: the OUI says nothing about the maker"))
            continue
        match = kb.lookup_oui(mac)
        if match is None:
            continue
        where = f"OUI {match.prefix}/{match.prefix_len} registered to {match.org}"
        if match.maker is None and match.brand is not None:
            brand = kb.brands[match.brand]
            yield _Clue(Evidence(probe, "mac", mac, None, "medium",
                                 f"{where} ({brand.name}, a brand documented to have sold equipment of "
                                 f"{', '.join(brand.candidates)})"),
                        brand=brand.name, brand_source=30, candidates=brand.candidates)
            continue
        if match.maker is None:
            yield _Clue(Evidence(probe, "mac", mac, None, "weak", f"{where} (not a maker the knowledge base maps)"))
            continue
        strength = "strong" if (wire and match.prefix_len == 24 and kb.coverage(match.maker).covered) else "medium"
        candidates: tuple[str, ...] = ()
        if match.brand is not None:
            strength = _weaken(strength, kb.brands[match.brand].confidence)
            where += f" ({match.brand}, {match.relation} of {match.maker})"
            candidates = (match.maker,)
        yield _Clue(Evidence(probe, "mac", mac, match.maker, strength, where),  # type: ignore[arg-type]
                    maker=match.maker, brand=match.brand, brand_source=30, candidates=candidates)


def _protocol_clue(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    for sig in kb.match_signatures("protocol", obs.probe):
        value = _text(fields.get("model") or fields.get("serial") or "reply")
        clue = _from_signature(kb, sig, obs.probe, "answered", value)
        yield replace(clue, firmware_level=True)


def _sadp_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    yield from _protocol_clue(kb, obs)
    kind = _text(fields.get("device_type"))
    if kind and _RECORDER_CLASS.search(kind):
        yield _Clue(Evidence("sadp", "device_type", kind, None, "strong", "SADP DeviceType is a recorder"),
                    device_class="recorder", class_strength="strong")
    yield from _signature_clues(kb, "sadp", "model", "model", fields.get("model"), 60)
    yield from _signature_clues(kb, "sadp", "firmware", "firmware", fields.get("firmware"))
    clue = _name_clue(kb, "sadp", "oem_info", fields.get("oem_info"), "medium", 2, keep_unknown=True)
    if clue:
        yield clue


def _dhip_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    yield from _protocol_clue(kb, obs)
    kind = _text(fields.get("device_class"))
    for pattern, device_class in ((_RECORDER_CLASS, "recorder"), (_CAMERA_CLASS, "camera"), (_OTHER_CLASS, "other")):
        if kind and pattern.search(kind):
            yield _Clue(Evidence("dhip", "device_class", kind, None, "strong", f"DHIP DeviceClass: {device_class}"),
                        device_class=device_class, class_strength="strong")
            break
    yield from _signature_clues(kb, "dhip", "model", "model", fields.get("model"), 60)
    yield from _signature_clues(kb, "dhip", "firmware", "firmware", fields.get("firmware"))
    clue = _name_clue(kb, "dhip", "vendor", fields.get("vendor"), "medium", 3, keep_unknown=True)
    if clue:
        yield clue


def _corroborates(kb: KnowledgeBase, model: _Clue, maker: str) -> bool:
    """A model pattern backs a shown name's maker, unless it is the pattern of a brand whose
    relation to the maker is itself uncertain (an LTS model code proves LTS, not Hikvision)."""
    if not kb.same_group(model.maker, maker):
        return False
    if model.brand is None:
        return True
    entry = kb.brand_maker(model.brand, model.maker)
    return entry is not None and _weaken("strong", entry.confidence) == "strong"


def _onvif_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    yield _Clue(Evidence("onvif", "xaddr", _text(fields.get("xaddr")), None, "weak", "answers ONVIF device management"),
                device_class="camera", class_strength="weak")
    models = list(_signature_clues(kb, "onvif", "model", "model", fields.get("model"), 60))
    yield from models
    yield from _signature_clues(kb, "onvif", "firmware", "firmware", fields.get("firmware"))
    clue = _name_clue(kb, "onvif", "manufacturer", fields.get("manufacturer"), "medium", 1,
                      keep_unknown=True)
    if clue:
        if clue.maker is not None and any(_corroborates(kb, m, clue.maker) for m in models):
            ev = replace(clue.evidence, strength="strong", note=clue.evidence.note + "; model matches its pattern")
            clue = replace(clue, evidence=ev)
        yield clue


def _wsd_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    for value in list(fields.get("types") or [])[:16]:
        yield from _signature_clues(kb, "wsdiscovery", "types", "wsd_type", value)
    for scope in list(fields.get("scopes") or [])[:32]:
        text = _text(scope)
        head, _, tail = text.rpartition("/type/")
        if head and tail.lower() in _SCOPE_TYPES:
            device_class = _SCOPE_TYPES[tail.lower()]
            yield _Clue(Evidence("wsdiscovery", "scopes", text, None, "medium", f"ONVIF type scope: {device_class}"),
                        device_class=device_class, class_strength="medium")
    yield from _signature_clues(kb, "wsdiscovery", "hardware", "model", fields.get("hardware"), 60)
    clue = _name_clue(kb, "wsdiscovery", "name", fields.get("name"), "medium", 4, keep_unknown=True)
    if clue:
        yield clue
    yield from _signature_clues(kb, "wsdiscovery", "name", "model", fields.get("name"), 60)


def _class_text_clues(kb: KnowledgeBase, probe: str, field: str, value: Any) -> Iterator[_Clue]:
    """What kind of device free text says it is ("Network Camera", "NVR", "Door Controller"):
    class-only ``class_text`` signatures, searched in titles, banners, realms, certificate names
    and the device types vendor APIs report."""
    text = _text(value)
    for sig in kb.match_signatures("class_text", text):
        yield _from_signature(kb, sig, probe, field, text)


def _device_info_clues(kb: KnowledgeBase, info: dict[str, Any], probe: str = "http") -> Iterator[_Clue]:
    """A maker's identity API answered (ISAPI, VAPIX, Dahua CGI): the API itself is the maker's
    firmware (``vendor_api`` signatures, firmware-level like SADP/DHIP); model, firmware and
    brand as the firmware states them; what kind of device it declares."""
    api = _text(info.get("api"))
    for sig in kb.match_signatures("vendor_api", api):
        yield replace(_from_signature(kb, sig, probe, "device_info.api", api), firmware_level=True)
    for key in ("model", "model_code"):
        yield from _signature_clues(kb, probe, f"device_info.{key}", "model", info.get(key), 60)
    yield from _signature_clues(kb, probe, "device_info.firmware", "firmware", info.get("firmware"))
    if brand := _name_clue(kb, probe, "device_info.brand", info.get("brand"), "medium", 2, keep_unknown=True):
        yield brand
    for key in ("device_type", "device_name"):
        yield from _class_text_clues(kb, probe, f"device_info.{key}", info.get(key))
    video, channels = info.get("video"), info.get("channels")
    if video is False:
        yield _Clue(Evidence(probe, "device_info.video", "false", None, "medium",
                             "the firmware lists its capabilities and no video source"),
                    device_class="other", class_strength="medium")
    elif video is True:
        yield _Clue(Evidence(probe, "device_info.video", "true", None, "weak", "the firmware lists video sources"),
                    device_class="camera", class_strength="weak")
    if isinstance(channels, int) and not isinstance(channels, bool):
        yield _Clue(Evidence(probe, "device_info.channels", str(channels), None, "strong",
                             "lists the IP cameras it records (a recorder's channel list)"),
                    device_class="recorder", class_strength="strong")


def _login_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    """What a maker's API said with the site's credentials: firmware-level identity like the http probe's."""
    if info := device_info(obs):
        yield from _device_info_clues(kb, info, "login")


def _channel_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    """A camera as a recorder lists it (``auditor/probes/channels.py``): the maker the recorder names, the
    model and firmware, and how the recorder talks to it (Hikvision's or Dahua's own protocol is that
    maker's firmware answering, when the recorder reaches the camera)."""
    fields = obs.fields
    yield _Clue(Evidence("channel", "channel", _text(fields.get("channel")), None, "medium",
                         "connected to a recorder's channel"), device_class="camera", class_strength="medium")
    models = list(_signature_clues(kb, "channel", "model", "model", fields.get("model"), 60))
    yield from models
    yield from _signature_clues(kb, "channel", "firmware", "firmware", fields.get("firmware"))
    online = fields.get("online")
    for sig in kb.match_signatures("channel_protocol", _text(fields.get("protocol"))):
        said = _from_signature(kb, sig, "channel", "protocol", _text(fields.get("protocol")))
        if online is False:  # the recorder cannot reach it: the protocol is what someone configured, not proof
            said = replace(said, evidence=replace(said.evidence, strength="medium",
                                                  note=said.evidence.note + "; the channel is offline"))
        yield replace(said, firmware_level=online is True)
    clue = _name_clue(kb, "channel", "vendor", fields.get("vendor"), "medium", 3, keep_unknown=True)
    if clue:
        if clue.maker is not None and any(_corroborates(kb, m, clue.maker) for m in models):
            ev = replace(clue.evidence, strength="strong", note=clue.evidence.note + "; model matches its pattern")
            clue = replace(clue, evidence=ev)
        yield clue


def _http_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    if info := device_info(obs):
        yield from _device_info_clues(kb, info)
    for field in ("title", "server", "realm", "cert_subject"):
        yield from _class_text_clues(kb, "http", field, fields.get(field))
    yield from _signature_clues(kb, "http", "server", "http_server", fields.get("server"))
    yield from _signature_clues(kb, "http", "title", "http_title", fields.get("title"))
    yield from _signature_clues(kb, "http", "title", "model", fields.get("title"), 60)
    yield from _signature_clues(kb, "http", "realm", "http_realm", fields.get("realm"))
    yield from _signature_clues(kb, "http", "challenge", "challenge", fields.get("challenge"))
    yield from _signature_clues(kb, "http", "p3p", "http_p3p", fields.get("p3p"))
    if fields.get("headers_upper") is True:
        yield from _signature_clues(kb, "http", "headers_upper", "http_headers_upper", "true")
    paths = fields.get("paths")
    if not isinstance(paths, dict):
        paths = {}
    path_clues = [clue for path, status in list(paths.items())[:32]
                  if isinstance(status, int) and status != 404 and status < 500
                  for clue in _signature_clues(kb, "http", f"paths[{_text(path)}]", "http_path", path)]
    if len({kb.group_of(c.maker) for c in path_clues if c.maker}) > 1:
        # Several makers' paths answered: a catch-all server (login redirect, 401 or SPA
        # index for every URL), so no path says who made it.
        path_clues = [replace(c, evidence=replace(c.evidence, strength="weak",
                                                  note=c.evidence.note + "; other makers' paths answered too"))
                      for c in path_clues]
    yield from path_clues
    for field in ("server", "title", "realm"):
        clue = _name_clue(kb, "http", field, fields.get(field), "medium", 5)
        if clue:
            yield clue
    yield from _signature_clues(kb, "http", "cert_sha256", "cert_fingerprint", fields.get("cert_sha256"))
    for field in ("cert_subject", "cert_issuer"):  # a camera's self-signed certificate names its maker in both
        for name in _CERT_NAME.findall(_text(fields.get(field))):
            clue = _name_clue(kb, "http", field, _site_name(name), "medium", 6)
            if clue:
                yield clue
                break


def _rtsp_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    fields = obs.fields
    yield _Clue(Evidence("rtsp", "status", _text(fields.get("status")), None, "weak", "answers RTSP"),
                device_class="camera", class_strength="weak")
    for field in ("server", "realm"):
        yield from _class_text_clues(kb, "rtsp", field, fields.get(field))
    yield from _signature_clues(kb, "rtsp", "server", "rtsp_server", fields.get("server"))
    yield from _signature_clues(kb, "rtsp", "realm", "rtsp_realm", fields.get("realm"))
    yield from _signature_clues(kb, "rtsp", "challenge", "challenge", fields.get("challenge"))
    yield from _signature_clues(kb, "rtsp", "content_base", "rtsp_path", fields.get("content_base"))
    for field in ("server", "realm"):
        clue = _name_clue(kb, "rtsp", field, fields.get(field), "medium", 5)
        if clue:
            yield clue


def _port_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    for port in sorted({p for p in (obs.fields.get("open") or []) if isinstance(p, int)})[:64]:
        yield from _signature_clues(kb, "ports", "open", "port", str(port))
    banners = obs.fields.get("banners")
    if not isinstance(banners, dict):
        banners = {}
    for port, banner in list(banners.items())[:16]:
        field = f"banners[{_text(port)}]"
        yield from _signature_clues(kb, "ports", field, "ssh_banner", banner)
        text = _banner_text(banner)
        if not text or text.startswith("SSH-"):
            continue
        # FTP / telnet greetings often name the maker or the model ("220 AXIS 216FD ... ready")
        yield from _signature_clues(kb, "ports", field, "banner", text)
        yield from _class_text_clues(kb, "ports", field, text)
        yield from _signature_clues(kb, "ports", field, "model", text, 60)
        clue = _name_clue(kb, "ports", field, text, "medium", 5)
        if clue:
            yield clue


def _inventory_clues(kb: KnowledgeBase, obs: Observation) -> Iterator[_Clue]:
    """A row of an inventory the site already has (``camaudit classify``): the names and codes it
    records count like the same values a device shows over ONVIF (a VMS export's manufacturer
    and model usually are the device's ONVIF answers), the MAC like a self-reported one."""
    fields = obs.fields
    models = list(_signature_clues(kb, "inventory", "model", "model", fields.get("model"), 60))
    yield from models
    yield from _signature_clues(kb, "inventory", "firmware", "firmware", fields.get("firmware"))
    for key, source in (("manufacturer", 1), ("brand", 2)):
        clue = _name_clue(kb, "inventory", key, fields.get(key), "medium", source, keep_unknown=True)
        if clue is None:
            continue
        if clue.maker is not None and any(_corroborates(kb, m, clue.maker) for m in models):
            ev = replace(clue.evidence, strength="strong", note=clue.evidence.note + "; model matches its pattern")
            clue = replace(clue, evidence=ev)
        yield clue
    for key in ("device_type", "name"):
        yield from _class_text_clues(kb, "inventory", key, fields.get(key))


_BANNER_NOISE = re.compile(r"^(?:\d{3}[ -]+|welcome to\s+)+", re.IGNORECASE)


def _banner_text(banner: Any) -> str:
    """The first non-empty line of a banner without reply codes or a greeting ("220 ", "Welcome to ")."""
    if not isinstance(banner, str):
        return ""
    line = next((ln.strip() for ln in banner.splitlines() if ln.strip()), "")
    return _BANNER_NOISE.sub("", line)[:_MAX_VALUE]


_COLLECTORS = {
    "sadp": _sadp_clues, "dhip": _dhip_clues, "onvif": _onvif_clues, "wsdiscovery": _wsd_clues,
    "http": _http_clues, "rtsp": _rtsp_clues, "ports": _port_clues, "inventory": _inventory_clues,
    "login": _login_clues, "channel": _channel_clues,
}


def collect_evidence(host: Host, kb: KnowledgeBase) -> list[_Clue]:
    """Every clue the host's observations give, deduplicated by (probe, field, value, maker, class)."""
    clues: list[_Clue] = list(_oui_clues(host, kb))
    for obs in host.observations:
        collector = _COLLECTORS.get(obs.probe)
        if collector is not None and _answered(obs):
            clues.extend(collector(kb, obs))
    unique: dict[tuple[Any, ...], _Clue] = {}
    for clue in clues:
        ev = clue.evidence
        key = (ev.probe, ev.field, ev.value, ev.supports, clue.device_class, clue.brand)
        if key not in unique or _RANK[ev.strength] > _RANK[unique[key].evidence.strength]:
            unique[key] = clue
    return list(unique.values())


# ---------------------------------------------------------------- fusion


def _label(ev: Evidence) -> str:
    if ev.field == "mac":
        return "OUI"
    if ev.field == "answered":
        return ev.probe.upper()
    return f"{ev.probe} {ev.field} {ev.value!r}"


def _score(clues: Iterable[_Clue]) -> int:
    best: dict[tuple[str, str], int] = {}
    for clue in clues:
        key = (clue.evidence.probe, clue.evidence.field)
        best[key] = max(best.get(key, 0), _RANK[clue.evidence.strength])
    return sum(best.values())


def _best(clues: list[_Clue]) -> _Clue:
    """The strongest clue; among equals, the first by probe, field and value (never by arrival)."""
    return min(clues, key=lambda c: (not c.firmware_level, -_RANK[c.evidence.strength], c.evidence.probe,
                                     c.evidence.field, c.evidence.value))


def _decide_maker(kb: KnowledgeBase, clues: list[_Clue]) -> tuple[str | None, list[str], str, bool]:
    """(maker, conflicts, confidence, firmware-level proof)."""
    by_group: dict[str, list[_Clue]] = defaultdict(list)
    for clue in clues:
        if clue.maker is not None:
            by_group[kb.group_of(clue.maker)].append(clue)
    candidates = {g: cs for g, cs in by_group.items() if any(_RANK[c.evidence.strength] >= 2 for c in cs)}
    if not candidates:
        return None, [], "low", False
    firmware = [g for g, cs in candidates.items() if any(c.firmware_level for c in cs)]
    scores = {g: _score(cs) + (100 if g in firmware else 0) for g, cs in candidates.items()}
    ranked = sorted(scores, key=lambda g: (-scores[g], g))
    conflicts: list[str] = []
    if len(ranked) > 1 and scores[ranked[0]] == scores[ranked[1]]:
        tied = [g for g in ranked if scores[g] == scores[ranked[0]]]
        conflicts.extend(f"{_label(_best(candidates[g]).evidence)} says {g}" for g in tied)
        return None, ["; ".join(conflicts) + ": no evidence decides between them"], "low", False
    group = ranked[0]
    win = candidates[group]
    # the maker inside the group: most evidence, video makers first (Avigilon over Motorola Solutions)
    makers: dict[str, list[_Clue]] = defaultdict(list)
    for clue in win:
        if clue.maker is not None:
            makers[clue.maker].append(clue)
    maker = min(makers, key=lambda m: (-_score(makers[m]), -((kb.makers[m].kind == "video") if m in kb.makers else 0),
                                       m))
    best = _best(win)
    against_strong = False
    for other in ranked[1:]:
        theirs = _best(candidates[other])
        against_strong = against_strong or theirs.evidence.strength == "strong"
        other_maker = theirs.maker or other
        conflicts.append(f"{_label(theirs.evidence)} says {other_maker} but {_label(best.evidence)} says {maker}")
    has_strong = any(c.evidence.strength == "strong" for c in win)
    medium_probes = {c.evidence.probe for c in win if _RANK[c.evidence.strength] >= 2}
    if not conflicts:
        confidence = "high" if has_strong or len(medium_probes) >= 2 else "medium"
    elif has_strong and not against_strong:
        confidence = "medium"
    else:
        confidence = "low"
    return maker, conflicts, confidence, bool(firmware) and group in firmware


def _relation_text(maker: str, brand: str, relation: str, status: str) -> str:
    texts = {
        "own brand": f"{maker}'s own brand {brand}",
        "subsidiary": f"{brand}, a {maker} subsidiary",
        "OEM relabel": f"{maker} product sold as {brand}",
    }
    text = texts.get(relation, f"{maker} / {brand}")
    return text + " (relation under review)" if status == "review" else text


def _decide_brand(kb: KnowledgeBase, maker: str, clues: list[_Clue], conflicts: list[str]) -> tuple[
        str, str, str | None]:
    """(brand, relation, relation_text)."""
    same = [c for c in clues if c.brand and kb.brand_maker(c.brand, maker) is not None]
    shown_other = [c for c in clues if c.brand and c not in same and c.brand_source < 30]
    for clue in shown_other:
        brand = kb.brands[clue.brand or ""]
        listed = (f"listed as {brand.relation} of {brand.maker}" if brand.maker
                  else f"documented for {', '.join(brand.candidates)}")
        conflicts.append(f"{_label(clue.evidence)} shows brand {brand.name}, {listed}, but the evidence says {maker}")
    if same:
        chosen = kb.brands[min(same, key=lambda c: (c.brand_source, c.brand or "")).brand or ""]
        entry = kb.brand_maker(chosen.name, maker)
        assert entry is not None
        return chosen.name, entry.relation, _relation_text(entry.maker, chosen.name, entry.relation, entry.status)
    if shown_other:
        brand = kb.brands[min(shown_other, key=lambda c: (c.brand_source, c.brand or "")).brand or ""]
        return brand.name, "OEM relabel", f"{maker} product sold as {brand.name}"
    return maker, "maker", None


def _unsettled(kb: KnowledgeBase, clues: list[_Clue]) -> tuple[str, tuple[str, ...], str] | None:
    """(brand, possible makers, why) when the maker is unknown but a brand the device shows
    (or a brand's model line) is documented to have sold some maker's equipment."""
    branded = [c for c in clues if c.brand and c.candidates]
    if not branded:
        return None
    clue = min(branded, key=lambda c: (c.brand_source, -_RANK[c.evidence.strength], c.brand or "",
                                       c.evidence.probe, c.evidence.field, c.evidence.value))
    brand = kb.brands[clue.brand or ""]
    possible = tuple(m.maker for m in brand.makers)
    lines = "; ".join(m.describe() for m in brand.makers)
    why = (f"{brand.name} is documented to have sold equipment made by {lines}. "
           f"Nothing on this device ({_label(clue.evidence)}) settles which: check the model label and "
           f"purchase record against those sources.")
    if brand.review:
        why = f"{brand.review} {why}"
    return brand.name, possible, why


def _model_proof(kb: KnowledgeBase, maker: str, clues: list[_Clue]) -> bool:
    """A model code of the maker's own lines (not a brand's line) backs the maker beyond the brand's word."""
    return any(c.brand is None and c.maker is not None and kb.same_group(c.maker, maker)
               and c.evidence.field in ("model", "hardware") and _RANK[c.evidence.strength] >= 2 for c in clues)


def _decide_class(kb: KnowledgeBase, maker: str | None, clues: list[_Clue]) -> str:
    tells: dict[str, int] = defaultdict(int)
    for clue in clues:
        if clue.device_class:
            tells[clue.device_class] = max(tells[clue.device_class], _RANK[clue.class_strength])
    if tells.get("other", 0) >= 3:
        return "other"
    if tells.get("recorder", 0) >= 2:
        return "recorder"
    if tells.get("camera", 0) >= 2:
        return "camera"
    if tells.get("other", 0) >= 2:
        return "other"
    found = kb.maker(maker)
    if found is not None and found.kind != "video" and not found.video_lines:
        return "other"
    if tells.get("camera") and found is not None:
        return "camera"
    if tells.get("other") and not tells.get("camera") and not tells.get("recorder"):
        return "other"
    return "unknown"


_PREFERENCE: dict[str, tuple[tuple[str, str], ...]] = {
    "model": (("onvif", "model"), ("sadp", "model"), ("dhip", "model"), ("login", "device_info.model"),
              ("http", "device_info.model"), ("wsdiscovery", "hardware"), ("inventory", "model"), ("channel", "model")),
    "firmware": (("onvif", "firmware"), ("sadp", "firmware"), ("dhip", "firmware"), ("login", "device_info.firmware"),
                 ("http", "device_info.firmware"), ("inventory", "firmware"), ("channel", "firmware")),
    "serial": (("onvif", "serial"), ("sadp", "serial"), ("dhip", "serial"), ("login", "device_info.serial"),
               ("http", "device_info.serial"), ("inventory", "serial"), ("channel", "serial")),
}
"""Where Identity.model, .firmware and .serial come from, first found wins: what the device presents
through ONVIF (the standard interface, the name on its label), then its maker's own firmware protocols
(SADP, DHIP), then a maker's identity API (ISAPI, VAPIX, Dahua CGI: ``device_info``, read with the
site's credentials first), then the WS-Discovery hardware scope, then an imported inventory row
(what the device says beats what a record says about it), then what a recorder says of a camera
behind it. A vendor API's firmware carries its build date when the API gives it apart
(ISAPI ``firmwareReleasedDate``), so the version can be placed against an advisory's fixed build.
A serial no field holds may still be read out of a realm or a certificate name (``AXIS_<serial>``;
:meth:`KnowledgeBase.serials_shown_in`)."""


_BUILD_DATE = re.compile(r"^(?:build\s*\d{6}|\d{4}-\d{2}-\d{2})$", re.IGNORECASE)


def _value(obs: Observation, field: str) -> str:
    if field.startswith("device_info."):
        info = device_info(obs)
        value = _text(info.get(field.split(".", 1)[1]))
        date = _text(info.get("firmware_date"))
        if field == "device_info.firmware" and value and _BUILD_DATE.match(date) and date not in value:
            return f"{value} {date}"
        return value
    return _text(obs.fields.get(field))


def _pick(host: Host, what: str, kb: KnowledgeBase | None = None) -> str | None:
    for probe, field in _PREFERENCE[what]:
        for obs in host.observations:
            if obs.probe == probe and (value := _value(obs, field)):
                return value
    if what == "serial" and kb is not None:
        shown = _serials(host, kb)
        return shown[0][0] if shown else None
    return None


def identify(host: Host, kb: KnowledgeBase) -> Identity:
    """Who made this device, what it is, and the evidence (see the module docstring for the rules).

    A function of the observations as a set: they are put in their canonical order first
    (``ordering.sort_observations``), and every tie below is broken by name, so the same
    answers give the same identity, evidence and conflicts whatever order they arrived in
    (or were stored in, for re-identification)."""
    host = replace(host, observations=sort_observations(host.observations))
    clues = collect_evidence(host, kb)
    maker, conflicts, confidence, proven = _decide_maker(kb, clues)
    brand = relation = relation_text = None
    covered, basis, review = False, None, None
    possible: tuple[str, ...] = ()
    if maker is not None:
        brand, relation, relation_text = _decide_brand(kb, maker, clues, conflicts)
        cover = kb.coverage(maker, brand, proven=proven or _model_proof(kb, maker, clues))
        covered, basis, review = cover.covered, cover.basis, cover.review
        entry = kb.brand_maker(brand, maker)
        if entry is not None and entry.status == "review" and kb.coverage(maker).covered:
            review = f"{review or ''} Documented: {brand} sold {entry.describe()}.".strip()
            if not covered:
                possible = (maker,)
        if conflicts and confidence == "high":
            confidence = "medium"
    elif (unsettled := _unsettled(kb, clues)) is not None:
        brand, possible, review = unsettled
        relation = "review"
        relation_text = f"{brand}: maker not settled (possibly {' or '.join(possible)}): needs review"
    possible_covered = any(kb.coverage(m).covered for m in possible)
    evidence = sorted((c.evidence for c in clues),
                      key=lambda e: (-_RANK[e.strength], e.probe, e.field, e.value, e.supports or "", e.note))
    return Identity(
        maker=maker, brand=brand, relation=relation, relation_text=relation_text,
        device_class=_decide_class(kb, maker, clues),  # type: ignore[arg-type]
        model=_pick(host, "model"), firmware=_pick(host, "firmware"), serial=_pick(host, "serial", kb),
        confidence=confidence,  # type: ignore[arg-type]
        covered=covered, covered_basis=basis, evidence=tuple(evidence), conflicts=tuple(conflicts),
        review=review, possible_makers=possible, possible_covered=possible_covered,
    )


def maker_hints(observations: Iterable[Observation], kb: KnowledgeBase) -> set[str]:
    """The makers what one address has shown so far points to, at medium strength or more (an
    OUI, a realm, a WS-Discovery name, a banner...): what a probe checks before it asks a maker's
    own identity API, so a device only ever hears the requests its own firmware understands."""
    seen = tuple(observations)
    if not seen:
        return set()
    host = Host(key="hints", ip=seen[0].ip, mac=None, ips=(seen[0].ip,), observations=seen)
    return {c.maker for c in collect_evidence(host, kb) if c.maker and _RANK[c.evidence.strength] >= 2}


def identify_all(hosts: Iterable[Host], kb: KnowledgeBase) -> list[Identity]:
    return [identify(host, kb) for host in hosts]


