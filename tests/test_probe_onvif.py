"""ONVIF probe: zeep decoding of recorded replies, hostile replies, and the call sequence
against a loopback fake device that demands WS-Security digests and runs an hour fast."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostprobe_support import ASSETS, free_port, make_ctx, read_request, serve, tarpit

from auditor.credentials import Credential, Credentials
from auditor.models import Observation
from auditor.probes import onvif
from auditor.probes.base import HostState
from auditor.probes.onvif import (
    CALLS,
    HostileReply,
    OnvifProbe,
    classify_error,
    device_time,
    interpret,
    parse_reply,
    wsdl_dir,
)

ONVIF = ASSETS / "onvif"


def asset(name: str) -> bytes:
    return (ONVIF / name).read_bytes()


# ------------------------------------------------------------------ decoding recorded replies


def test_wsdl_found_without_importing_onvif_client() -> None:
    """onvif.client calls logging.basicConfig at import: building our Document must not import it.

    Checked in a fresh interpreter (other test modules import onvif themselves).
    """
    import subprocess
    import sys

    assert (wsdl_dir() / "devicemgmt.wsdl").is_file()
    code = ("import sys, logging; from auditor.probes import onvif; onvif.device_document(); "
            "assert 'onvif.client' not in sys.modules and 'onvif' not in sys.modules; "
            "assert not logging.getLogger().handlers; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr[-500:]


def test_system_date_and_time() -> None:
    value = parse_reply("GetSystemDateAndTime", asset("hikvision-GetSystemDateAndTime.xml"))
    assert device_time(value) == dt.datetime(2024, 3, 12, 8, 12, 45, tzinfo=dt.UTC).timestamp()


def test_system_date_and_time_absurd_year_is_no_clock() -> None:
    """zeep hands xsd:int through unbounded; datetime() then raises OverflowError, not ValueError."""
    xml = asset("hikvision-GetSystemDateAndTime.xml")
    assert b"<tt:Year>2024</tt:Year>" in xml
    value = parse_reply("GetSystemDateAndTime", xml.replace(b"<tt:Year>2024</tt:Year>",
                                                            b"<tt:Year>99999999999999</tt:Year>"))
    assert device_time(value) is None  # both UTC and local dates are absurd: no offset, no crash


def test_device_information_hikvision_and_dahua() -> None:
    hik = interpret("GetDeviceInformation", parse_reply("GetDeviceInformation",
                                                        asset("hikvision-GetDeviceInformation.xml")))
    assert hik == {"manufacturer": "HIKVISION", "model": "DS-2CD2143G2-I", "firmware": "V5.7.3 build 220112",
                   "serial": "DS-2CD2143G2-I20220315AAWRJ12345678", "hardware_id": "88"}
    dah_reply = parse_reply("GetDeviceInformation", asset("dahua-GetDeviceInformation.xml"))
    dah = interpret("GetDeviceInformation", dah_reply)
    assert dah["manufacturer"] == "Dahua" and dah["model"] == "IPC-HFW2431S-S-S2"


def test_network_interfaces_macs_normalised() -> None:
    hik = parse_reply("GetNetworkInterfaces", asset("hikvision-GetNetworkInterfaces.xml"))
    assert interpret("GetNetworkInterfaces", hik) == {"macs": ["c4:2f:90:a1:b2:c3"]}
    dah = parse_reply("GetNetworkInterfaces", asset("dahua-GetNetworkInterfaces.xml"))
    assert interpret("GetNetworkInterfaces", dah) == {"macs": ["e0:50:8b:12:34:56"]}  # junk MAC dropped


def test_scopes_and_hostname() -> None:
    scopes = interpret("GetScopes", parse_reply("GetScopes", asset("hikvision-GetScopes.xml")))["scopes"]
    assert "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I" in scopes and len(scopes) == 5
    assert interpret("GetHostname", parse_reply("GetHostname", asset("hikvision-GetHostname.xml"))) == {
        "hostname": "HIKVISION"}


@pytest.mark.parametrize("name", ["hikvision-fault-NotAuthorized.xml", "dahua-fault-NotAuthorized.xml"])
def test_not_authorized_faults(name: str) -> None:
    for status in (400, 401, 500):
        with pytest.raises(Exception) as err:
            parse_reply("GetDeviceInformation", asset(name), status=status)
        assert classify_error(err.value) == ("auth_needed", None)


def test_other_fault_is_not_auth() -> None:
    with pytest.raises(Exception) as err:
        parse_reply("GetHostname", asset("fault-ActionNotSupported.xml"), status=500)
    assert classify_error(err.value) == ("fault", None)


def test_script_names_are_text_and_capped() -> None:
    f = interpret("GetDeviceInformation", parse_reply("GetDeviceInformation",
                                                      asset("script-names-GetDeviceInformation.xml")))
    assert f["manufacturer"] == "<script>alert(1)</script>"
    assert f["model"] == "<img src=x onerror=alert(2)>"
    assert len(f["firmware"]) == 256 and "hardware_id" not in f


@pytest.mark.parametrize(("name", "needle"), [
    ("xxe-GetDeviceInformation.xml", "DOCTYPE"),
    ("billion-laughs-GetHostname.xml", "DOCTYPE"),
    ("truncated-GetDeviceInformation.xml", "malformed"),
])
def test_hostile_replies_refused_before_zeep(name: str, needle: str) -> None:
    op = "GetHostname" if "Hostname" in name else "GetDeviceInformation"
    with pytest.raises(HostileReply) as err:
        parse_reply(op, asset(name))
    kind, note = classify_error(err.value)
    assert kind == "hostile" and note is not None and needle in note


def test_zeep_itself_refuses_xxe() -> None:
    """Defence in depth: even without the xmlsafe pre-check, zeep's settings forbid the DTD."""
    import requests
    import zeep

    client = zeep.Client(onvif.device_document(), settings=onvif.zeep_settings())
    binding = client.create_service(onvif.DEVICE_BINDING, "http://127.0.0.1/x")._binding
    resp = requests.Response()
    resp.status_code = 200
    resp._content = asset("xxe-GetDeviceInformation.xml")
    resp.headers["Content-Type"] = "application/soap+xml"
    with pytest.raises(Exception) as err:
        binding.process_reply(client, binding.get("GetDeviceInformation"), resp)
    assert "root:" not in str(err.value)  # /etc/passwd never read
    assert type(err.value).__name__ in ("DTDForbidden", "EntitiesForbidden", "XMLSyntaxError")


def test_targets_only_talk_to_the_host_itself() -> None:
    probe = OnvifProbe(ports=(80, 8899))
    host = HostState("127.0.0.1", open_ports={80}, xaddrs=[
        "http://127.0.0.1:2020/onvif/device_service",
        "http://127.0.0.2/onvif/device_service",  # another address: not ours to probe here
        "http://camera.local/onvif/device_service",  # a name would need DNS: never
        "ftp://127.0.0.1/x", "http://127.0.0.1:99999/x", "garbage",
    ])
    ctx = make_ctx([])
    assert probe.targets(ctx, host) == [
        ("http://127.0.0.1:2020/onvif/device_service", True),
        ("http://127.0.0.1/onvif/device_service", False),
    ]


def test_a_port_mute_to_the_web_probe_gets_no_soap_unless_announced() -> None:
    """A port that accepted and then told the HTTP probe nothing would only hold a connection slot for
    another timeout; a WS-Discovery XAddr on it is still tried (the device announced it)."""
    probe = OnvifProbe(ports=(80, 8899))
    host = HostState("127.0.0.1", open_ports={80, 8899}, mute_ports={80, 2020},
                     xaddrs=["http://127.0.0.1:2020/onvif/device_service"])
    assert probe.targets(make_ctx([]), host) == [
        ("http://127.0.0.1:2020/onvif/device_service", True),
        ("http://127.0.0.1:8899/onvif/device_service", False),
    ]


# ------------------------------------------------------------------ fake ONVIF device on loopback

NS = {"s": "http://www.w3.org/2003/05/soap-envelope",
      "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
      "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"}


def sdt_reply(now: float) -> bytes:
    t = dt.datetime.fromtimestamp(now, dt.UTC)
    body = asset("hikvision-GetSystemDateAndTime.xml").decode()
    utc = (f"<tt:UTCDateTime><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
           f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
           f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date></tt:UTCDateTime>")
    start, end = body.index("<tt:UTCDateTime>"), body.index("</tt:UTCDateTime>") + len("</tt:UTCDateTime>")
    return (body[:start] + utc + body[end:]).encode()


REPLIES = {op: f"hikvision-{op}.xml" for op in CALLS}


@dataclass
class FakeOnvif:
    username: str = "admin"
    password: str = "s3cret-pw"
    unauth: Iterable[str] = ("GetSystemDateAndTime",)
    offset: float = 3600.0
    fault_status: int = 401
    override: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    """(operation, 'none' | 'good' | 'bad') per request."""

    def check(self, token: ET.Element | None) -> str:
        if token is None:
            return "none"
        user = token.findtext("wsse:Username", namespaces=NS)
        digest = token.findtext("wsse:Password", namespaces=NS) or ""
        nonce = base64.b64decode(token.findtext("wsse:Nonce", namespaces=NS) or "")
        created = token.findtext("wsu:Created", namespaces=NS) or ""
        expect = base64.b64encode(hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()).decode()
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        fresh = abs(when - (time.time() + self.offset)) <= 5  # the device checks against its own clock
        return "good" if user == self.username and digest == expect and fresh else "bad"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            envelope = ET.fromstring(request.split(b"\r\n\r\n", 1)[1])
            body = envelope.find("s:Body", NS)
            assert body is not None
            op = body[0].tag.rsplit("}", 1)[-1]
            auth = self.check(envelope.find(".//wsse:UsernameToken", NS))
            self.log.append((op, auth))
            status = 200
            if op in self.override:
                payload = self.override[op]
            elif op in self.unauth or auth == "good":
                payload = sdt_reply(time.time() + self.offset) if op == "GetSystemDateAndTime" else asset(REPLIES[op])
            else:
                status, payload = self.fault_status, asset("hikvision-fault-NotAuthorized.xml")
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
                         f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()


def run_probe(handler: object, *, creds: Credentials | None = None, timeout: float = 1.0,
              xaddrs: list[str] | None = None) -> list[Observation]:
    async def main() -> list[Observation]:
        server, port = await serve(handler)  # type: ignore[arg-type]
        out: list[Observation] = []
        host = HostState("127.0.0.1", open_ports={port},
                         xaddrs=[x.replace("PORT", str(port)) for x in (xaddrs or [])])
        try:
            await OnvifProbe(ports=(port,)).probe_host(make_ctx(out, timeout=timeout, credentials=creds), host)
        finally:
            server.close()
        return out

    return asyncio.run(main())


def creds(password: str = "s3cret-pw") -> Credentials:
    return Credentials(hosts={"127.0.0.1": Credential("admin", password)})


def test_digest_with_clock_offset_opens_every_call() -> None:
    device = FakeOnvif(offset=3600.0)
    (obs,) = run_probe(device.handle, creds=creds())
    f = obs.fields
    assert obs.warning is None
    assert f["calls"] == {"GetSystemDateAndTime": "open", "GetDeviceInformation": "auth",
                          "GetNetworkInterfaces": "auth", "GetScopes": "auth", "GetHostname": "auth"}
    assert f["auth_used"] is True
    assert abs(f["clock_offset_s"] - 3600) < 3
    assert f["manufacturer"] == "HIKVISION" and f["macs"] == ["c4:2f:90:a1:b2:c3"]
    assert f["hostname"] == "HIKVISION" and len(f["scopes"]) == 5
    assert f["xaddr"].endswith("/onvif/device_service")
    # every call went out without credentials first, and the digests (Created = device time) were accepted
    assert device.log[:3] == [("GetSystemDateAndTime", "none"), ("GetDeviceInformation", "none"),
                              ("GetDeviceInformation", "good")]
    assert ("GetDeviceInformation", "bad") not in device.log
    assert "s3cret-pw" not in repr(obs)


def test_wrong_password_is_offered_once_then_denied() -> None:
    device = FakeOnvif(offset=-120.0, fault_status=400)
    (obs,) = run_probe(device.handle, creds=creds("wrong"))
    calls = obs.fields["calls"]
    assert calls["GetSystemDateAndTime"] == "open"
    assert all(calls[op] == "denied" for op in CALLS[1:])
    assert [a for _, a in device.log].count("bad") == 1  # never hammer an account that may lock
    assert obs.fields["auth_used"] is True
    assert obs.warning is not None and "credentials rejected" in obs.warning


def test_without_credentials_records_denied() -> None:
    device = FakeOnvif(unauth=("GetSystemDateAndTime", "GetHostname"))
    (obs,) = run_probe(device.handle)
    assert obs.fields["calls"] == {"GetSystemDateAndTime": "open", "GetDeviceInformation": "denied",
                                   "GetNetworkInterfaces": "denied", "GetScopes": "denied", "GetHostname": "open"}
    assert obs.fields["auth_used"] is False and obs.fields["hostname"] == "HIKVISION"
    assert all(a == "none" for _, a in device.log)


def test_open_device() -> None:
    (obs,) = run_probe(FakeOnvif(unauth=CALLS, offset=0).handle)
    assert set(obs.fields["calls"].values()) == {"open"} and abs(obs.fields["clock_offset_s"]) < 3


@pytest.mark.parametrize(("name", "needle"), [
    ("xxe-GetDeviceInformation.xml", "DOCTYPE"),
    ("truncated-GetDeviceInformation.xml", "malformed"),
])
def test_hostile_device_reply_becomes_warning(name: str, needle: str) -> None:
    device = FakeOnvif(unauth=CALLS, override={"GetDeviceInformation": asset(name)})
    (obs,) = run_probe(device.handle)
    assert obs.fields["calls"]["GetDeviceInformation"] == "error"
    assert obs.fields["calls"]["GetHostname"] == "open"  # the rest of the device still probed
    assert obs.warning is not None and needle in obs.warning and "manufacturer" not in obs.fields


def test_oversize_reply_is_capped() -> None:
    huge = asset("hikvision-GetHostname.xml").replace(b"<tt:Name>HIKVISION", b"<tt:Name>" + b"A" * 600_000)
    (obs,) = run_probe(FakeOnvif(unauth=CALLS, override={"GetHostname": huge}).handle)
    assert obs.fields["calls"]["GetHostname"] == "error"
    assert obs.warning is not None and "over 262144 bytes" in obs.warning


def test_plain_web_server_is_not_onvif() -> None:
    async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nnot found")
        await writer.drain()

    assert run_probe(web) == []


def test_tarpit_is_bounded_and_reported_for_discovered_xaddrs() -> None:
    assert run_probe(tarpit, timeout=0.3) == []  # just an open port: nothing to report
    (obs,) = run_probe(tarpit, timeout=0.3, xaddrs=["http://127.0.0.1:PORT/onvif/device_service"])
    assert obs.warning is not None and "did not answer ONVIF" in obs.warning


def test_dripping_device_is_cut_off_at_the_timeout() -> None:
    """A body byte every third of the timeout: requests' per-recv timeout never fires, so the
    reply must be cut by the whole-exchange watchdog (else the pool thread stays pinned and the
    call ends as a silent 'unreachable')."""
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 9999\r\n\r\n")
            for _ in range(100):
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(0.1)
            return

    (obs,) = run_probe(drip, timeout=0.3)
    assert obs.fields["calls"]["GetSystemDateAndTime"] == "error"
    assert obs.warning is not None and "still arriving after 0.3s" in obs.warning


def test_closed_port_no_observation() -> None:
    out: list[Observation] = []
    port = free_port()
    asyncio.run(OnvifProbe(ports=(port,)).probe_host(make_ctx(out), HostState("127.0.0.1", open_ports={port})))
    assert out == []


def test_document_parsed_once(tmp_path: Path) -> None:
    first = onvif.device_document()
    assert onvif.device_document() is first
    assert onvif.DOCUMENT_BUILD_SECONDS is not None


def test_http_401_without_soap_body_counts_as_auth_needed() -> None:
    async def http_auth(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            if b"GetSystemDateAndTime" in request:
                payload = sdt_reply(time.time())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                             + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            else:
                writer.write(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="IPC"\r\n'
                             b"Content-Length: 0\r\n\r\n")
            await writer.drain()

    (obs,) = run_probe(http_auth)
    assert obs.fields["calls"]["GetSystemDateAndTime"] == "open"
    assert obs.fields["calls"]["GetDeviceInformation"] == "denied"


def test_persistently_hostile_device_is_left_after_two_replies() -> None:
    xxe = asset("xxe-GetDeviceInformation.xml")
    device = FakeOnvif(unauth=CALLS, override=dict.fromkeys(CALLS, xxe))
    (obs,) = run_probe(device.handle)
    assert obs.fields["calls"] == {"GetSystemDateAndTime": "error", "GetDeviceInformation": "error"}
    assert len(device.log) == 2
    assert obs.warning is not None and "remaining calls skipped" in obs.warning


@pytest.mark.netns
def test_calls_are_sent_from_the_callers_namespace() -> None:
    """A probe first used in the root namespace must send from the scan's namespace when called there.

    The fake device listens on 127.0.0.1 *inside* a namespace this test creates; in the
    root namespace nothing listens on that port, so a call sent from there would be refused.
    """
    import os
    import subprocess
    import uuid

    from auditor.netns import enter_netns

    probe = OnvifProbe()
    # First use in the root namespace (zeep's document and the probe's transport are built here).
    root_device = FakeOnvif(unauth=CALLS, offset=0)

    async def warm() -> None:
        server, port = await serve(root_device.handle)
        probe.ports = (port,)
        await probe.probe_host(make_ctx([]), HostState("127.0.0.1", open_ports={port}))
        server.close()

    asyncio.run(warm())
    assert root_device.log, "warm-up call did not reach the root-namespace device"

    ns = f"camlt{uuid.uuid4().hex[:8]}-onvif"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        inner = FakeOnvif(unauth=CALLS, offset=0)
        out: list[Observation] = []

        async def inside() -> None:
            server, port = await serve(inner.handle)
            probe.ports = (port,)
            await probe.probe_host(make_ctx(out), HostState("127.0.0.1", open_ports={port}))
            server.close()

        root_ns = os.stat("/proc/thread-self/ns/net").st_ino
        with enter_netns(ns):
            assert os.stat("/proc/thread-self/ns/net").st_ino != root_ns
            asyncio.run(inside())
        assert len(out) == 1 and out[0].fields["calls"]["GetDeviceInformation"] == "open"
        assert inner.log and inner.log[0][0] == "GetSystemDateAndTime"
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_against_the_lab_emulator_on_loopback() -> None:
    """Interop with the lab's own ONVIF emulator (the devices the end-to-end scan meets)."""
    from emulator_specs import PASSWORD, hik_camera

    from auditor.lab.devices.loopback import LoopbackLab

    with LoopbackLab([hik_camera("locked", clock_offset_s=3600.0)]) as lab:
        port = lab.port("locked", 80)
        out: list[Observation] = []
        ctx = make_ctx(out, credentials=Credentials(default=Credential("admin", PASSWORD)))
        asyncio.run(OnvifProbe(ports=(port,)).probe_host(ctx, HostState("127.0.0.1", open_ports={port})))
    (obs,) = out
    assert obs.warning is None and abs(obs.fields["clock_offset_s"] - 3600) < 5
    assert obs.fields["calls"]["GetDeviceInformation"] == "auth" and obs.fields["manufacturer"] == "HIKVISION"
    assert obs.fields["macs"] and PASSWORD not in repr(obs)
