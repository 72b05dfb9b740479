"""WS-Discovery (UDP 3702): who answers a Probe, with what Types, Scopes and XAddrs.

Cameras announce make, model and often MAC in their ONVIF scopes without any login;
printers and PCs answer too, so Types are recorded as seen and never read as "camera".
The probe goes to 239.255.255.250 on the operator's interface (typed for
NetworkVideoTransmitter and untyped, so printers/PCs show up as hosts) and unicast to
every routed target, because multicast does not cross routers.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any, ClassVar
from urllib.parse import unquote

from ..mac import normalise_mac
from ..text import clean_or_none
from ..xmlsafe import local, parse_xml
from .contract import Field, ProbeFields
from .udp import ReplyError, UdpProbe

FIELDS = ProbeFields("wsdiscovery", (
    Field("endpoint", "str", "EndpointReference Address, e.g. `urn:uuid:…`",
          "urn:uuid:4d454930-0000-1000-8000-c056e3123456"),
    Field("types", "list[str]", "Types as QNames with the prefix resolved to a local name, e.g. "
          "`NetworkVideoTransmitter`, `Device`, `PrintDeviceType`", ["NetworkVideoTransmitter", "Device"]),
    Field("scopes", "list[str]", "raw scope URIs", ["onvif://www.onvif.org/type/video_encoder"]),
    Field("xaddrs", "list[str]", "XAddrs URLs (may name another IP than the sender)",
          ["http://198.18.0.11/onvif/device_service"]),
    Field("name", "str", "from the `onvif://www.onvif.org/name/<value>` scope (URL-decoded)",
          "HIKVISION DS-2CD2143G2-I"),
    Field("hardware", "str", "from the `…/hardware/<value>` scope", "DS-2CD2143G2-I"),
    Field("location", "str", "from the `…/location/<value>` scope", "city/hangzhou",
          kept="where the device says it is, for a person; no stage interprets it"),
    Field("mac", "str", "from the `…/MAC/<value>` scope, normalised", "c0:56:e3:12:34:56"),
    Field("metadata_version", "int", "MetadataVersion of the ProbeMatch", 1,
          kept="protocol detail, for a person reading the evidence"),
))

PORT = 3702
GROUP = "239.255.255.250"
MAX_REPLY_BYTES = 32 * 1024
"""Real ProbeMatches are 1-4 KB (an MFP listing dozens of types stays under 8 KB); more is hostile."""
MAX_MATCHES = 16
"""ProbeMatch elements read from one datagram; more is hostile."""
MAX_LIST = 64
"""Types / Scopes / XAddrs kept per match."""

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
ACTION_PROBE = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
TO_DISCOVERY = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
NVT_TYPES = ("dn:NetworkVideoTransmitter",)
ONVIF_SCOPE = "onvif://www.onvif.org/"
SCOPE_FIELDS = {"name": "name", "hardware": "hardware", "location": "location", "mac": "mac"}


def build_probe(message_id: str | None = None, types: tuple[str, ...] | list[str] = NVT_TYPES) -> bytes:
    """A SOAP 1.2 WS-Discovery Probe. ``message_id`` defaults to a fresh ``urn:uuid:``.

    ``types`` are QNames with the ``dn``/``tds`` prefixes declared here; empty = untyped
    probe (every device answers). A fresh MessageID per send matters: receivers drop
    messages whose MessageID they have already seen.
    """
    mid = message_id or f"urn:uuid:{uuid.uuid4()}"
    types_xml = f"<d:Types>{' '.join(types)}</d:Types>" if types else ""
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}"'
        f' xmlns:dn="{NS_DN}" xmlns:tds="{NS_TDS}">'
        "<s:Header>"
        f"<a:MessageID>{mid}</a:MessageID>"
        f"<a:To>{TO_DISCOVERY}</a:To>"
        f"<a:Action>{ACTION_PROBE}</a:Action>"
        "</s:Header>"
        f"<s:Body><d:Probe>{types_xml}</d:Probe></s:Body>"
        "</s:Envelope>"
    )
    return doc.encode("utf-8")


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    for c in elem.iter():
        if c is not elem and local(c.tag) == name:
            return c
    return None


def _tokens(elem: ET.Element | None, limit: int = MAX_LIST) -> list[str]:
    """Whitespace-separated list (bounded count; items capped by the caller)."""
    if elem is None or not elem.text:
        return []
    return elem.text.split()[:limit]


def _capped(items: list[str]) -> list[str]:
    return [t[:256] for t in items]


def _scope_fields(scopes: list[str]) -> dict[str, str]:
    """name/hardware/location/mac from ``onvif://www.onvif.org/<key>/<value>`` scopes (first wins)."""
    out: dict[str, str] = {}
    for scope in scopes:
        if not scope.lower().startswith(ONVIF_SCOPE):
            continue
        rest = scope[len(ONVIF_SCOPE):]
        key, _, value = rest.partition("/")
        field = SCOPE_FIELDS.get(key.lower())
        if field is None or field in out:
            continue
        decoded = clean_or_none(unquote(value))
        if decoded is None:
            continue
        if field == "mac":
            mac = normalise_mac(decoded)
            if mac:
                out["mac"] = mac
        else:
            out[field] = decoded
    return out


def parse_probe_match(data: bytes) -> list[dict[str, Any]]:
    """Every ProbeMatch in one datagram → fields dicts (names per docs/observations.md).

    Returns [] for a message that is not a ProbeMatches (a Probe from another tool, a
    Hello/Bye). Raises ``ValueError`` (``UnsafeXML``/``ReplyError``) for malformed,
    oversize or hostile payloads.
    """
    root = parse_xml(data, max_bytes=MAX_REPLY_BYTES)
    if local(root.tag) != "Envelope":
        raise ReplyError(f"not a SOAP envelope (root <{local(root.tag)[:40]}>)")
    body = _child(root, "Body")
    if body is None:
        raise ReplyError("SOAP envelope without Body")
    matches_elem = _child(body, "ProbeMatches")
    if matches_elem is None:
        return []
    out: list[dict[str, Any]] = []
    for match in matches_elem:
        if local(match.tag) != "ProbeMatch":
            continue
        if len(out) >= MAX_MATCHES:
            break
        out.append(_match_fields(match))
    if not out:
        raise ReplyError("ProbeMatches without a ProbeMatch")
    return out


def _match_fields(match: ET.Element) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    epr = _child(match, "EndpointReference")
    address = _child(epr, "Address") if epr is not None else None
    endpoint = clean_or_none(address.text) if address is not None else None
    if endpoint:
        fields["endpoint"] = endpoint
    types = _capped([t.rsplit(":", 1)[-1] for t in _tokens(_child(match, "Types"))])
    if types:
        fields["types"] = types
    scopes = _tokens(_child(match, "Scopes"))
    if scopes:
        fields["scopes"] = _capped(scopes)
        fields.update(_scope_fields(scopes))
    xaddrs = _capped(_tokens(_child(match, "XAddrs")))
    if xaddrs:
        fields["xaddrs"] = xaddrs
    mv = _child(match, "MetadataVersion")
    version = mv.text.strip() if mv is not None and mv.text else ""
    if version.isascii() and version.isdigit() and len(version) < 11:  # '²' is a digit int() refuses
        fields["metadata_version"] = int(version)
    if "endpoint" not in fields and "xaddrs" not in fields:
        raise ReplyError("ProbeMatch with neither EndpointReference nor XAddrs")
    return fields


def raw_start(data: bytes) -> int:
    """Where a person's excerpt should begin: the SOAP Body (headers are namespace clutter)."""
    i = data.find(b"Body", 0, 16 * 1024)
    return max(0, data.rfind(b"<", 0, i)) if i > 0 else 0


def match_key(ip: str, fields: dict[str, Any]) -> str:
    """De-duplicate by endpoint reference; a match without one is keyed by its sender."""
    endpoint = fields.get("endpoint")
    return f"epr:{endpoint.lower()}" if isinstance(endpoint, str) else f"ip:{ip}"


class WsDiscoveryProbe(UdpProbe):
    """Multicast + routed-unicast WS-Discovery Probe; one observation per endpoint reference."""

    name: ClassVar[str] = "wsdiscovery"
    default_port: ClassVar[int] = PORT
    default_group: ClassVar[str] = GROUP

    def payloads(self, multicast: bool) -> list[bytes]:
        if multicast:
            return [build_probe(types=NVT_TYPES), build_probe(types=())]
        return [build_probe(types=NVT_TYPES)]

    def parse(self, data: bytes) -> list[dict[str, Any]]:
        return parse_probe_match(data)

    def key(self, ip: str, fields: dict[str, Any]) -> str:
        return match_key(ip, fields)

    def raw_start(self, data: bytes) -> int:
        return raw_start(data)
