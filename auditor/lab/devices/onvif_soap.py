"""ONVIF device service (SOAP 1.2 over HTTP POST): the calls a scanner makes to identify a device.

``handle(dev, body)`` returns (HTTP status, body). Open calls: GetSystemDateAndTime always,
the spec's ``unauth_calls``, or everything when the password is None; the rest need a
WS-Security UsernameToken digest checked against the device clock. Faults are SOAP 1.2
faults with ONVIF subcodes: ``env:Sender/ter:NotAuthorized`` (HTTP 400) and
``env:Receiver/ter:ActionNotSupported`` (HTTP 500), as the ONVIF core spec lists them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from xml.sax.saxutils import escape

from ...xmlsafe import UnsafeXML, local, parse_xml
from . import hostile, wsse
from .runtime import DeviceRuntime

NS_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TER = "http://www.onvif.org/ver10/error"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
MEDIA_PATH = "/onvif/Media"
"""Where the media service answers (GetCapabilities and GetServices name it)."""
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
MAX_REQUEST = 64 * 1024
ALWAYS_OPEN = ("GetSystemDateAndTime",)
XXE = "__XXE__"
"""Placeholder a builder puts where the hostile variant references the external entity."""


HIKVISION_NAMESPACES: tuple[tuple[str, str], ...] = (
    ("env", NS_ENV), ("soapenc", "http://www.w3.org/2003/05/soap-encoding"),
    ("xsi", "http://www.w3.org/2001/XMLSchema-instance"), ("xs", "http://www.w3.org/2001/XMLSchema"),
    ("tt", NS_TT), ("tds", NS_TDS), ("trt", "http://www.onvif.org/ver10/media/wsdl"),
    ("timg", "http://www.onvif.org/ver20/imaging/wsdl"), ("tev", "http://www.onvif.org/ver10/events/wsdl"),
    ("tptz", "http://www.onvif.org/ver20/ptz/wsdl"), ("tan", "http://www.onvif.org/ver20/analytics/wsdl"),
    ("tst", "http://www.onvif.org/ver10/storage/wsdl"), ("ter", NS_TER),
    ("dn", "http://www.onvif.org/ver10/network/wsdl"), ("tns1", "http://www.onvif.org/ver10/topics"),
    ("tmd", "http://www.onvif.org/ver10/deviceIO/wsdl"), ("wsdl", "http://schemas.xmlsoap.org/wsdl"),
    ("wsoap12", "http://schemas.xmlsoap.org/wsdl/soap12"), ("http", "http://schemas.xmlsoap.org/wsdl/http"),
    ("d", "http://schemas.xmlsoap.org/ws/2005/04/discovery"),
    ("wsadis", "http://schemas.xmlsoap.org/ws/2004/08/addressing"), ("wsnt", "http://docs.oasis-open.org/wsn/b-2"),
    ("wsa", "http://www.w3.org/2005/08/addressing"), ("wstop", "http://docs.oasis-open.org/wsn/t-1"),
    ("wsrf-bf", "http://docs.oasis-open.org/wsrf/bf-2"), ("wsntw", "http://docs.oasis-open.org/wsn/bw-2"),
    ("wsrf-rw", "http://docs.oasis-open.org/wsrf/rw-2"), ("wsaw", "http://www.w3.org/2006/05/addressing/wsdl"),
    ("wsrf-r", "http://docs.oasis-open.org/wsrf/r-2"), ("trc", "http://www.onvif.org/ver10/recording/wsdl"),
    ("tse", "http://www.onvif.org/ver10/search/wsdl"), ("trp", "http://www.onvif.org/ver10/replay/wsdl"),
    ("tnshik", "http://www.hikvision.com/2011/event/topics"),
    ("hikwsd", "http://www.onvifext.com/onvif/ext/ver10/wsdl"),
    ("hikxsd", "http://www.onvifext.com/onvif/ext/ver10/schema"),
    ("tas", "http://www.onvif.org/ver10/advancedsecurity/wsdl"), ("tr2", "http://www.onvif.org/ver20/media/wsdl"),
    ("axt", "http://www.onvif.org/ver20/analytics"),
)
"""The namespaces Hikvision firmware declares on every ONVIF reply's envelope, in its order
(tests/real onvif-devinfo-hikvision-ds-2cd3t45p1-i-go-onvif)."""


def envelope(body: str, style: str = "generic") -> str:
    """A SOAP 1.2 envelope around ``body``: as Hikvision firmware writes it (its 38 namespace
    declarations, the body on its own lines) for ``style`` hikvision, else a minimal one."""
    if style == "hikvision":
        decls = " ".join(f'xmlns:{p}="{uri}"' for p, uri in HIKVISION_NAMESPACES)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {decls}>\n<env:Body>\n{body}\n</env:Body>\n' \
               "</env:Envelope>\n"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:tds="{NS_TDS}" xmlns:tt="{NS_TT}" xmlns:ter="{NS_TER}" '
        f'xmlns:trt="{NS_TRT}">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )


def fault(code: str, subcode: str, reason: str, detail: str = "") -> str:
    detail_xml = f"<env:Detail><env:Text>{escape(detail)}</env:Text></env:Detail>" if detail else ""
    return envelope(
        "<env:Fault>"
        f"<env:Code><env:Value>{code}</env:Value>"
        f"<env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
        f"{detail_xml}</env:Fault>"
    )


def _t(value: str) -> str:
    return escape(value)


def base_url(dev: DeviceRuntime) -> str:
    onvif = dev.spec.services.onvif
    assert onvif is not None
    port = dev.port(onvif.port)
    return f"http://{dev.ip}{'' if port == 80 else f':{port}'}"


def scopes(dev: DeviceRuntime) -> list[str]:
    """The device's scopes: WS-Discovery's when it has them, else built from its identity."""
    svc = dev.spec.services
    if svc.wsd is not None and svc.wsd.scopes:
        return list(svc.wsd.scopes)
    assert svc.onvif is not None
    from urllib.parse import quote

    return [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/Profile/Streaming",
        f"onvif://www.onvif.org/name/{quote(svc.onvif.manufacturer)}",
        f"onvif://www.onvif.org/hardware/{quote(svc.onvif.model)}",
        f"onvif://www.onvif.org/MAC/{dev.spec.mac.lower()}",
    ]


def _date_time(ts: float) -> str:
    t = time.gmtime(ts)
    return (  # tt:DateTime is a sequence of Time, then Date
        f"<tt:Time><tt:Hour>{t.tm_hour}</tt:Hour><tt:Minute>{t.tm_min}</tt:Minute>"
        f"<tt:Second>{t.tm_sec}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{t.tm_year}</tt:Year><tt:Month>{t.tm_mon}</tt:Month><tt:Day>{t.tm_mday}</tt:Day>"
        "</tt:Date>"
    )


def get_system_date_and_time(dev: DeviceRuntime) -> str:
    onvif = dev.spec.services.onvif
    assert onvif is not None
    now = dev.clock()
    kind = "NTP" if onvif.clock_offset_s == 0 else "Manual"
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>{kind}</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{XXE}GMT0</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{_date_time(now)}</tt:UTCDateTime>"
        f"<tt:LocalDateTime>{_date_time(now)}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def get_device_information(dev: DeviceRuntime) -> str:
    o = dev.spec.services.onvif
    assert o is not None
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{XXE}{_t(o.manufacturer)}</tds:Manufacturer>"
        f"<tds:Model>{_t(o.model)}</tds:Model>"
        f"<tds:FirmwareVersion>{_t(o.firmware)}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{_t(o.serial)}</tds:SerialNumber>"
        f"<tds:HardwareId>{_t(o.hardware_id)}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def get_network_interfaces(dev: DeviceRuntime) -> str:
    prefix = dev.network().prefixlen
    return (
        '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
        "<tt:Enabled>true</tt:Enabled>"
        f"<tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>{dev.spec.mac.lower()}</tt:HwAddress>"
        "<tt:MTU>1500</tt:MTU></tt:Info>"
        "<tt:Link><tt:AdminSettings><tt:AutoNegotiation>true</tt:AutoNegotiation><tt:Speed>100</tt:Speed>"
        "<tt:Duplex>Full</tt:Duplex></tt:AdminSettings><tt:OperSettings><tt:AutoNegotiation>true"
        "</tt:AutoNegotiation><tt:Speed>100</tt:Speed><tt:Duplex>Full</tt:Duplex></tt:OperSettings>"
        "<tt:InterfaceType>0</tt:InterfaceType></tt:Link>"
        "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>"
        f"<tt:Manual><tt:Address>{dev.ip}</tt:Address><tt:PrefixLength>{prefix}</tt:PrefixLength></tt:Manual>"
        "<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
        "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
    )


def get_scopes(dev: DeviceRuntime) -> str:
    items = "".join(
        f"<tds:Scopes><tt:ScopeDef>{'Fixed' if '/name/' not in s and '/location/' not in s else 'Configurable'}"
        f"</tt:ScopeDef><tt:ScopeItem>{_t(s)}</tt:ScopeItem></tds:Scopes>"
        for s in scopes(dev)
    )
    return f"<tds:GetScopesResponse>{items}</tds:GetScopesResponse>"


def get_hostname(dev: DeviceRuntime) -> str:
    o = dev.spec.services.onvif
    assert o is not None
    name = o.hostname or dev.name
    return (
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
        f"<tt:Name>{_t(name)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
    )


def get_capabilities(dev: DeviceRuntime) -> str:
    o = dev.spec.services.onvif
    assert o is not None
    base = base_url(dev)
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}{_t(o.path)}</tt:XAddr>"
        "<tt:Network><tt:IPFilter>true</tt:IPFilter><tt:ZeroConfiguration>true</tt:ZeroConfiguration>"
        "<tt:IPVersion6>true</tt:IPVersion6><tt:DynDNS>true</tt:DynDNS></tt:Network>"
        "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>"
        "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
        "<tt:SystemLogging>true</tt:SystemLogging><tt:FirmwareUpgrade>true</tt:FirmwareUpgrade>"
        "<tt:SupportedVersions><tt:Major>17</tt:Major><tt:Minor>12</tt:Minor></tt:SupportedVersions>"
        "</tt:System>"
        "<tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO>"
        "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>true</tt:TLS1.2>"
        "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>true"
        "</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
        "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security>"
        "</tt:Device>"
        f"<tt:Events><tt:XAddr>{base}/onvif/Events</tt:XAddr><tt:WSSubscriptionPolicySupport>true"
        "</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
        "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
        f"<tt:Imaging><tt:XAddr>{base}/onvif/Imaging</tt:XAddr></tt:Imaging>"
        f"<tt:Media><tt:XAddr>{base}/onvif/Media</tt:XAddr><tt:StreamingCapabilities>"
        "<tt:RTPMulticast>true</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
        "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def get_services(dev: DeviceRuntime) -> str:
    o = dev.spec.services.onvif
    assert o is not None
    base = base_url(dev)
    services = [
        ("http://www.onvif.org/ver10/device/wsdl", o.path),
        ("http://www.onvif.org/ver10/media/wsdl", "/onvif/Media"),
        ("http://www.onvif.org/ver10/events/wsdl", "/onvif/Events"),
        ("http://www.onvif.org/ver20/imaging/wsdl", "/onvif/Imaging"),
    ]
    items = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{_t(path)}</tds:XAddr>"
        "<tds:Version><tt:Major>17</tt:Major><tt:Minor>12</tt:Minor></tds:Version></tds:Service>"
        for ns, path in services
    )
    return f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>"


def get_video_sources(dev: DeviceRuntime) -> str:
    o = dev.spec.services.onvif
    assert o is not None
    items = "".join(
        f'<trt:VideoSources token="VideoSource_{n}"><tt:Framerate>25</tt:Framerate><tt:Resolution>'
        f"<tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>"
        for n in range(1, o.video_sources + 1))
    return f"<trt:GetVideoSourcesResponse>{items}</trt:GetVideoSourcesResponse>"


CALLS: dict[str, Callable[[DeviceRuntime], str]] = {
    "GetSystemDateAndTime": get_system_date_and_time,
    "GetDeviceInformation": get_device_information,
    "GetNetworkInterfaces": get_network_interfaces,
    "GetScopes": get_scopes,
    "GetHostname": get_hostname,
    "GetCapabilities": get_capabilities,
    "GetServices": get_services,
    "GetVideoSources": get_video_sources,
}


def not_authorized(reason: str) -> tuple[int, bytes]:
    return 400, fault(
        "env:Sender",
        "ter:NotAuthorized",
        "Sender not Authorized",
        f"The action requested requires authorization and the sender is not authorized ({reason})",
    ).encode()


def is_open(dev: DeviceRuntime, body: bytes) -> bool:
    """Does the call in ``body`` need no credentials (GetSystemDateAndTime, the spec's ``unauth_calls``)?
    A body that is not a SOAP call is "open": ``handle`` answers it with its fault."""
    onvif = dev.spec.services.onvif
    assert onvif is not None
    try:
        root = parse_xml(body, max_bytes=MAX_REQUEST)
    except UnsafeXML:
        return True
    soap_body = next((e for e in root if local(e.tag) == "Body"), None)
    call_el = next(iter(soap_body), None) if soap_body is not None else None
    if call_el is None:
        return True
    call = local(call_el.tag)
    return call in ALWAYS_OPEN or call in onvif.unauth_calls or onvif.password is None or call not in CALLS


def handle(dev: DeviceRuntime, body: bytes, authenticated: bool = False) -> tuple[int, bytes]:
    """(HTTP status, SOAP body) answering the request ``body`` for ``dev``; ``authenticated``: the HTTP
    layer already checked the caller (an ``http-digest`` device), no WS-Security token needed."""
    onvif = dev.spec.services.onvif
    assert onvif is not None
    try:
        root = parse_xml(body, max_bytes=MAX_REQUEST)
    except UnsafeXML as exc:
        return 400, fault("env:Sender", "ter:WellFormed", "Well-formed Error", str(exc)).encode()
    soap_body = next((e for e in root if local(e.tag) == "Body"), None)
    call_el = next(iter(soap_body), None) if soap_body is not None else None
    if local(root.tag) != "Envelope" or call_el is None:
        return 400, fault("env:Sender", "ter:WellFormed", "Well-formed Error", "no SOAP Body").encode()
    call = local(call_el.tag)
    builder = CALLS.get(call)
    if builder is None:
        return 500, fault(
            "env:Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented", call
        ).encode()
    open_call = authenticated or call in ALWAYS_OPEN or call in onvif.unauth_calls or onvif.password is None
    if not open_call:
        why = wsse.verify(root, onvif.username, onvif.password or "", dev.clock())
        if why is not None:
            return not_authorized(why)
    text = envelope(builder(dev), onvif.style)
    return 200, _hostile(dev, text)


def _hostile(dev: DeviceRuntime, text: str) -> bytes:
    if dev.hostile("xxe_soap"):
        text = hostile.with_xxe(text.replace(XXE, hostile.XXE_REF))
    else:
        text = text.replace(XXE, "")
    if dev.hostile("malformed_soap"):
        return text.encode()[: len(text) // 2]
    if dev.hostile("oversize"):
        return hostile.pad_udp(text, hostile.TCP_OVERSIZE)
    return text.encode()
