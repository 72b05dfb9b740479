"""WS-Discovery (SOAP-over-UDP, port 3702): answer Probes with a ProbeMatch, as ONVIF cameras do.

Envelope as cameras send it: SOAP 1.2, WS-Addressing 2004/08, WS-Discovery 2005/04;
``RelatesTo`` carries the Probe's ``MessageID``; the reply goes unicast to the sender.
"""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape

from ...xmlsafe import UnsafeXML, find_local, local, parse_xml
from . import hostile
from .runtime import DeviceRuntime

PORT = 3702
GROUP = "239.255.255.250"
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ACTION_PROBE = NS_WSD + "/Probe"
ACTION_MATCHES = NS_WSD + "/ProbeMatches"
ANONYMOUS = NS_WSA + "/role/anonymous"
MAX_PROBE = 16 * 1024

KNOWN_PREFIXES = {
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tdn": "http://www.onvif.org/ver10/network/wsdl",
    "wsdp": "http://schemas.xmlsoap.org/ws/2006/02/devprof",
    "pub": "http://schemas.microsoft.com/windows/pub/2005/07",
    "wprt": "http://schemas.microsoft.com/windows/2006/08/wdp/print",
    "wscn": "http://schemas.microsoft.com/windows/2006/08/wdp/scan",
}


def xaddr(dev: DeviceRuntime) -> str:
    """Device-service URL: ``http://host[:port]/path`` (port left out when 80, as cameras do)."""
    svc = dev.spec.services
    assert svc.wsd is not None
    host = svc.wsd.xaddr_host or dev.ip
    if svc.onvif is not None:
        port, path = dev.port(svc.onvif.port), svc.onvif.path
    else:
        port, path = dev.port(svc.http.port if svc.http else 80), "/onvif/device_service"
    return f"http://{host}{'' if port == 80 else f':{port}'}{path}"


def parse_probe(data: bytes) -> tuple[str, list[str], list[str]] | None:
    """(MessageID, type local names, scopes) of a Probe; None when it is not a Probe."""
    try:
        root = parse_xml(data, max_bytes=MAX_PROBE)
    except UnsafeXML:
        return None
    action = find_local(root, "Action")
    body = find_local(root, "Body")
    probe = find_local(body, "Probe") if body is not None else None
    if probe is None or (action is not None and (action.text or "").strip() != ACTION_PROBE):
        return None
    mid = find_local(root, "MessageID")
    msg_id = (mid.text or "").strip() if mid is not None else ""
    types_el = next((e for e in probe if local(e.tag) == "Types"), None)
    scopes_el = next((e for e in probe if local(e.tag) == "Scopes"), None)
    types = [t.rsplit(":", 1)[-1] for t in (types_el.text or "").split()] if types_el is not None else []
    scopes = (scopes_el.text or "").split() if scopes_el is not None else []
    return msg_id, types, scopes


def matches(dev: DeviceRuntime, types: list[str], scopes: list[str]) -> bool:
    """WS-Discovery matching: every probed type is one of ours; every probed scope prefixes one of ours."""
    wsd = dev.spec.services.wsd
    assert wsd is not None
    ours = {t.rsplit(":", 1)[-1] for t in wsd.types}
    if any(t not in ours for t in types):
        return False
    for s in scopes:
        base = s.rstrip("/")
        if not any(o == s or o.rstrip("/") == base or o.startswith(base + "/") for o in wsd.scopes):
            return False
    return True


def _hikvision_match(dev: DeviceRuntime, relates_to: str, message_number: int, ns_decl: str,
                     scopes_text: str) -> str:
    """A ProbeMatches as Hikvision firmware writes it (tests/real wsd-hikvision-dfi6256te-edgex):
    prefixes env/wsadis/d, no mustUnderstand, AppSequence InstanceId before MessageNumber, the
    MessageID the device's own endpoint uuid, pretty-printed."""
    wsd = dev.spec.services.wsd
    assert wsd is not None
    endpoint = escape(wsd.endpoint)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{NS_SOAP12}" xmlns:wsadis="{NS_WSA}" xmlns:d="{NS_WSD}"{ns_decl}>\n'
        "    <env:Header>\n"
        f"        <wsadis:MessageID>{endpoint}</wsadis:MessageID>\n"
        f"        <wsadis:RelatesTo>{escape(relates_to)}</wsadis:RelatesTo>\n"
        f"        <wsadis:To>{ANONYMOUS}</wsadis:To>\n"
        f"        <wsadis:Action>{ACTION_MATCHES}</wsadis:Action>\n"
        f'        <d:AppSequence InstanceId="{int(dev.started)}" MessageNumber="{message_number}"/>\n'
        "    </env:Header>\n"
        "    <env:Body>\n"
        "        <d:ProbeMatches>\n"
        "            <d:ProbeMatch>\n"
        "                <wsadis:EndpointReference>\n"
        f"                    <wsadis:Address>{endpoint}</wsadis:Address>\n"
        "                </wsadis:EndpointReference>\n"
        f"                <d:Types>{escape(' '.join(wsd.types))}</d:Types>\n"
        f"                <d:Scopes>{scopes_text}</d:Scopes>\n"
        f"                <d:XAddrs>{escape(xaddr(dev))}</d:XAddrs>\n"
        f"                <d:MetadataVersion>{wsd.metadata_version}</d:MetadataVersion>\n"
        "            </d:ProbeMatch>\n"
        "        </d:ProbeMatches>\n"
        "    </env:Body>\n"
        "</env:Envelope>\n"
    )


def probe_match(dev: DeviceRuntime, relates_to: str, message_number: int = 1) -> str:
    """The ProbeMatches envelope for ``dev`` answering the Probe ``relates_to`` (the spec's ``style``
    says whose firmware's writing to imitate)."""
    wsd = dev.spec.services.wsd
    assert wsd is not None
    prefixes = {t.split(":", 1)[0] for t in wsd.types if ":" in t}
    ns_decl = "".join(
        f' xmlns:{p}="{escape(KNOWN_PREFIXES.get(p, f"urn:camaudit:lab:{p}"))}"' for p in sorted(prefixes)
    )
    scopes_text = dev_scopes(dev)
    if dev.hostile("xxe_wsd"):
        scopes_text = scopes_text + " " + hostile.XXE_REF
    if wsd.style == "hikvision":
        return _hikvision_match(dev, relates_to, message_number, ns_decl, scopes_text)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{NS_SOAP12}" xmlns:wsa="{NS_WSA}" xmlns:d="{NS_WSD}"{ns_decl}>'
        "<SOAP-ENV:Header>"
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
        f'<wsa:To SOAP-ENV:mustUnderstand="true">{ANONYMOUS}</wsa:To>'
        f'<wsa:Action SOAP-ENV:mustUnderstand="true">{ACTION_MATCHES}</wsa:Action>'
        f'<d:AppSequence SOAP-ENV:mustUnderstand="true" MessageNumber="{message_number}"'
        f' InstanceId="{int(dev.started)}"/>'
        "</SOAP-ENV:Header>"
        "<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>{escape(wsd.endpoint)}</wsa:Address></wsa:EndpointReference>"
        f"<d:Types>{escape(' '.join(wsd.types))}</d:Types>"
        f"<d:Scopes>{scopes_text}</d:Scopes>"
        f"<d:XAddrs>{escape(xaddr(dev))}</d:XAddrs>"
        f"<d:MetadataVersion>{wsd.metadata_version}</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


def dev_scopes(dev: DeviceRuntime) -> str:
    """Scopes as XML-escaped text (data may hold markup on purpose; it must stay data)."""
    wsd = dev.spec.services.wsd
    assert wsd is not None
    return escape(" ".join(wsd.scopes))


class WsdResponder:
    """Datagram handler: Probe in, ProbeMatch (or hostile bytes) out."""

    def __init__(self, dev: DeviceRuntime) -> None:
        self.dev = dev
        self.sent = 0

    def __call__(self, data: bytes, addr: tuple[str, int]) -> list[bytes]:
        probe = parse_probe(data)
        if probe is None:
            return []
        msg_id, types, scopes = probe
        if not matches(self.dev, types, scopes):
            return []
        if self.dev.hostile("garbage_udp"):
            return [hostile.garbage()]
        self.sent += 1
        text = probe_match(self.dev, msg_id, self.sent)
        if self.dev.hostile("xxe_wsd"):
            text = hostile.with_xxe(text)
        if self.dev.hostile("oversize"):
            return [hostile.pad_udp(text)]
        return [text.encode()]
