"""The ONVIF device service against zeep (the client onvif-zeep builds), on 127.0.0.1:
open and protected calls, WS-Security digest, the device clock, SOAP faults, hostile bodies."""

from __future__ import annotations

import base64
import datetime as dt
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import onvif
import pytest
import zeep
from emulator_specs import HIK_MAC, PASSWORD, hik_camera, hostile
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from auditor.lab.devices import onvif_soap, wsse
from auditor.lab.devices.loopback import LoopbackLab
from auditor.xmlsafe import UnsafeXML, parse_xml

WSDL = os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl", "devicemgmt.wsdl")
BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
OFFSET = 3600.0


class LoopbackOnlyTransport(Transport):
    """Refuses to load anything remote or post anywhere but 127.0.0.1 (the tests never leave the box)."""

    def load(self, url: str) -> bytes:
        assert not url.startswith(("http:", "https:")), f"remote schema fetch refused: {url}"
        return super().load(url)

    def post(self, address: str, message: Any, headers: Any) -> Any:
        assert address.startswith("http://127.0.0.1:"), address
        return super().post(address, message, headers)


@pytest.fixture(scope="module")
def document() -> zeep.wsdl.Document:
    return zeep.wsdl.Document(WSDL, LoopbackOnlyTransport(timeout=5))


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackLab]:
    specs = [
        hik_camera("locked", clock_offset_s=OFFSET, unauth_calls=("GetSystemDateAndTime", "GetCapabilities")),
        hik_camera("nopw", password=None),
        hostile("xxe", "xxe_soap"),
        hostile("broken", "malformed_soap"),
    ]
    with LoopbackLab(specs) as running:
        yield running


def service(doc: zeep.wsdl.Document, lab: LoopbackLab, name: str, wsse_token: Any = None) -> Any:
    client = zeep.Client(doc, wsse=wsse_token, transport=LoopbackOnlyTransport(timeout=5))
    return client.create_service(BINDING, f"http://127.0.0.1:{lab.port(name, 80)}/onvif/device_service")


def token(password: str = PASSWORD, offset: float = OFFSET, user: str = "admin") -> UsernameToken:
    created = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=offset)
    return UsernameToken(user, password, use_digest=True, created=created)


def device_time(result: Any) -> float:
    u = result.UTCDateTime
    when = dt.datetime(u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second,
                       tzinfo=dt.UTC)  # fmt: skip
    return when.timestamp()


def test_system_date_and_time_is_open_and_reports_the_device_clock(document: Any, lab: LoopbackLab) -> None:
    result = service(document, lab, "locked").GetSystemDateAndTime()
    skew = device_time(result) - dt.datetime.now(dt.UTC).timestamp()
    assert abs(skew - OFFSET) < 5


def test_protected_call_without_credentials_is_a_not_authorized_fault(document: Any, lab: LoopbackLab) -> None:
    with pytest.raises(Fault) as info:
        service(document, lab, "locked").GetDeviceInformation()
    assert info.value.code == "env:Sender" or info.value.code.endswith("Sender")
    assert [q.localname for q in info.value.subcodes] == ["NotAuthorized"]


def test_digest_signed_with_device_clock_succeeds(document: Any, lab: LoopbackLab) -> None:
    info = service(document, lab, "locked", token()).GetDeviceInformation()
    assert (info.Manufacturer, info.Model, info.FirmwareVersion) == ("HIKVISION", "DS-2CD2143G2-I",
                                                                     "V5.7.3 build 220112")  # fmt: skip
    assert info.SerialNumber == "DS-2CD2143G2-I20210315AAWRG12345678" and info.HardwareId == "88"


def test_digest_signed_with_our_clock_fails_as_on_real_cameras(document: Any, lab: LoopbackLab) -> None:
    with pytest.raises(Fault, match="not Authorized"):
        service(document, lab, "locked", token(offset=0)).GetDeviceInformation()


@pytest.mark.parametrize("kw", [{"password": "wrong"}, {"user": "operator"}])
def test_wrong_credentials_fail(document: Any, lab: LoopbackLab, kw: dict[str, str]) -> None:
    with pytest.raises(Fault, match="not Authorized"):
        service(document, lab, "locked", token(**kw)).GetHostname()


def test_unauth_calls_are_open(document: Any, lab: LoopbackLab) -> None:
    caps = service(document, lab, "locked").GetCapabilities()
    assert caps.Device.XAddr.endswith("/onvif/device_service") and caps.Media.XAddr


def test_all_identity_calls_with_auth(document: Any, lab: LoopbackLab) -> None:
    svc = service(document, lab, "locked", token())
    (nic,) = svc.GetNetworkInterfaces()
    assert nic.Info.HwAddress == HIK_MAC and nic.IPv4.Config.Manual[0].Address == "198.18.0.11"
    scopes = [s.ScopeItem for s in svc.GetScopes()]
    assert f"onvif://www.onvif.org/MAC/{HIK_MAC}" in scopes
    assert svc.GetHostname().Name == "lobby-dome"
    namespaces = {s.Namespace for s in svc.GetServices(IncludeCapability=False)}
    assert "http://www.onvif.org/ver10/device/wsdl" in namespaces


def test_no_password_means_everything_open(document: Any, lab: LoopbackLab) -> None:
    assert service(document, lab, "nopw").GetDeviceInformation().Manufacturer == "HIKVISION"


def test_unknown_action_is_action_not_supported(lab: LoopbackLab) -> None:
    status, body = post(lab, "locked", "<tds:SystemReboot/>")
    assert status == 500
    root = parse_xml(body)
    values = [e.text for e in root.iter("{http://www.w3.org/2003/05/soap-envelope}Value")]
    assert values == ["env:Receiver", "ter:ActionNotSupported"]


def test_not_well_formed_request_is_a_sender_fault(lab: LoopbackLab) -> None:
    status, body = post(lab, "locked", "", raw=b"<env:Envelope")
    assert status == 400 and b"ter:WellFormed" in body


def test_get_on_service_path_is_refused(lab: LoopbackLab) -> None:
    url = f"http://127.0.0.1:{lab.port('locked', 80)}/onvif/device_service"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=5)
    assert info.value.code == 405


def test_xxe_soap_reply_declares_external_entity(lab: LoopbackLab) -> None:
    status, body = post(lab, "xxe", "<tds:GetDeviceInformation/>")
    assert status == 200 and b'SYSTEM "file:///etc/passwd"' in body
    assert b"<tds:Manufacturer>&xxe;" in body
    with pytest.raises(UnsafeXML):
        parse_xml(body)


def test_malformed_soap_is_truncated_with_200(lab: LoopbackLab) -> None:
    status, body = post(lab, "broken", "<tds:GetSystemDateAndTime/>")
    assert status == 200 and body.startswith(b"<?xml")
    with pytest.raises(UnsafeXML, match="malformed"):
        parse_xml(body)


def post(lab: LoopbackLab, name: str, call: str, raw: bytes | None = None) -> tuple[int, bytes]:
    data = raw or onvif_soap.envelope(call).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{lab.port(name, 80)}/onvif/device_service",
        data=data,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# ------------------------------------------------------------------ verifier unit tests


def _envelope(user: str, digest: str, nonce: bytes, created: str, ptype: str = wsse.PASSWORD_DIGEST) -> Any:
    n = base64.b64encode(nonce).decode()
    xml = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
        'xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        "<s:Header><o:Security><o:UsernameToken>"
        f"<o:Username>{user}</o:Username><o:Password Type=\"{ptype}\">{digest}</o:Password>"
        f"<o:Nonce>{n}</o:Nonce><u:Created>{created}</u:Created>"
        "</o:UsernameToken></o:Security></s:Header><s:Body/></s:Envelope>"
    )
    return parse_xml(xml)


def test_verify_accepts_known_vector_and_rejects_tampering() -> None:
    nonce, created, clock = b"0123456789abcdef", "2024-01-02T03:04:05Z", 1704164645.0
    digest = wsse.password_digest(nonce, created, "pw")
    assert wsse.verify(_envelope("admin", digest, nonce, created), "admin", "pw", clock) is None
    assert wsse.verify(_envelope("admin", digest, nonce, created), "admin", "other", clock) == "wrong password"
    assert wsse.verify(_envelope("admin", digest, nonce, created), "admin", "pw", clock + 301) is not None
    assert wsse.verify(_envelope("admin", digest, nonce, created), "admin", "pw", clock - 299) is None
    text = _envelope("admin", "pw", nonce, created, ptype=wsse.PASSWORD_DIGEST.replace("Digest", "Text"))
    assert wsse.verify(text, "admin", "pw", clock) == "only PasswordDigest is accepted"
    assert wsse.verify(parse_xml("<a><Header/></a>"), "admin", "pw", clock) == "no UsernameToken"


def test_onvif_on_its_own_port_is_separate_from_the_web_ui(document: Any) -> None:
    from auditor.lab.devices import wsd

    with LoopbackLab([hik_camera("split", port=8899, password=None)]) as lab:
        info = service_at(document, lab.port("split", 8899)).GetDeviceInformation()
        assert info.Model == "DS-2CD2143G2-I"
        assert wsd.xaddr(lab.devices["split"]) == f"http://198.18.0.11:{lab.port('split', 8899)}/onvif/device_service"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{lab.port('split', 80)}/onvif/device_service", data=b"<x/>"), timeout=5)
        assert err.value.code == 404  # the web UI's port does not route ONVIF


def service_at(doc: zeep.wsdl.Document, port: int) -> Any:
    client = zeep.Client(doc, transport=LoopbackOnlyTransport(timeout=5))
    return client.create_service(BINDING, f"http://127.0.0.1:{port}/onvif/device_service")
