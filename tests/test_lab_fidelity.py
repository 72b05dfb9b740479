"""The lab looks like a real network to clients that know nothing about it.

Every check runs an independent, widely used client (scapy, the ``wsdiscovery``
package, onvif-zeep) inside the lab's scanner namespace and compares what it sees
with the fleet's data.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from lab_fixture import scanner_python

from auditor.lab.runner import LabState
from auditor.lab.spec import DeviceSpec

pytestmark = pytest.mark.netns

ARP_SWEEP = r"""
import json
from scapy.all import ARP, Ether, conf, srp
conf.verb = 0
# No BPF filter (libpcap may be absent): srp matches answers to requests itself.
ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="198.18.0.0/24"), iface="lan0",
             timeout=1.5, verbose=0)
print(json.dumps({r[ARP].psrc: r[ARP].hwsrc for _, r in ans}))
"""

TCP_REACH = r"""
import json, socket, sys
out = {}
for ip, port in json.loads(sys.argv[1]):
    s = socket.socket()
    s.settimeout(0.7)
    try:
        s.connect((ip, port))
        out[ip] = "open"
    except ConnectionRefusedError:
        out[ip] = "refused"
    except OSError as exc:
        out[ip] = type(exc).__name__
    finally:
        s.close()
print(json.dumps(out))
"""

WSD_SEARCH = r"""
import json
from wsdiscovery.discovery import ThreadedWSDiscovery
w = ThreadedWSDiscovery()
w.start()
try:
    found = {}
    for s in w.searchServices(timeout=2):
        for x in s.getXAddrs():
            found[x] = {"types": [str(t) for t in s.getTypes()], "scopes": [str(sc) for sc in s.getScopes()]}
finally:
    w.stop()
print(json.dumps(found))
"""

ONVIF_READ = r"""
import datetime as dt, json, logging, os, sys
import onvif
from onvif.client import ONVIFService, UsernameDigestTokenDtDiff
from zeep import Client, Settings
from zeep.wsdl import Document
from zeep.transports import Transport
logging.disable(logging.CRITICAL)
WSDL = os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl", "devicemgmt.wsdl")
BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"

# Parse the WSDL once; every device gets its own client (and WS-Security token) from it.
DOCUMENT = Document(WSDL, Transport(timeout=3), settings=Settings(strict=False))

def service(ip, user, pw, dt_diff=None, http_digest=False):
    xaddr = f"http://{ip}/onvif/device_service"
    t = Transport(timeout=3, operation_timeout=3)
    wsse = None
    if user is not None and http_digest:  # requests' own Digest implementation, not camaudit's
        from requests.auth import HTTPDigestAuth
        t.session.auth = HTTPDigestAuth(user, pw)
    elif user is not None:
        wsse = UsernameDigestTokenDtDiff(user, pw, dt_diff=dt_diff, use_digest=True)
    client = Client(DOCUMENT, transport=t, wsse=wsse)
    return ONVIFService(xaddr, "", "", WSDL, binding_name=BINDING, zeep_client=client)

out = {}
for ip, user, pw, http_digest in json.loads(sys.argv[1]):
    key = f"{ip}|{user}|{pw}"
    try:
        # Like any careful client: read the device clock (never needs auth) and sign with it.
        u = service(ip, None, None).GetSystemDateAndTime().UTCDateTime
        device_now = dt.datetime(u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute,
                                 u.Time.Second)
        diff = device_now - dt.datetime.utcnow()
        r = service(ip, user, pw, diff, http_digest).GetDeviceInformation()
        out[key] = {"ok": True, "manufacturer": r.Manufacturer, "model": r.Model,
                    "firmware": r.FirmwareVersion, "serial": r.SerialNumber, "skew": diff.total_seconds()}
    except Exception as exc:
        out[key] = {"ok": False, "error": str(exc)[:200]}
print(json.dumps(out))
"""


def _run_json(lab: LabState, code: str, *args: str) -> Any:
    r = scanner_python(lab, code, *args, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _lan(lab: LabState) -> list[DeviceSpec]:
    return [d for d in lab.fleet.devices if d.segment == "lan"]


def _routed(lab: LabState) -> list[DeviceSpec]:
    return [d for d in lab.fleet.devices if d.segment == "routed"]


def test_arp_sweep_sees_every_lan_device_with_its_mac(demo_lab: LabState) -> None:
    seen = _run_json(demo_lab, ARP_SWEEP)
    expected = {d.ip: d.mac for d in _lan(demo_lab) if d.ip.startswith("198.18.0.")}
    assert expected, "demo fleet has LAN devices"
    for ip, mac in expected.items():
        assert seen.get(ip) == mac, f"{ip}: ARP saw {seen.get(ip)}, fleet says {mac}"
    # Only the router and scanner-side infrastructure besides the fleet; never the routed cameras.
    assert set(seen) - set(expected) == {"198.18.0.1"}
    for d in _routed(demo_lab):
        assert d.ip not in seen


def test_routed_devices_reachable_by_unicast(demo_lab: LabState) -> None:
    targets = [[d.ip, 80] for d in _routed(demo_lab)] + [["198.18.32.250", 80]]
    assert len(targets) >= 3
    result = _run_json(demo_lab, TCP_REACH, json.dumps(targets))
    for d in _routed(demo_lab):
        assert result[d.ip] == "open", f"{d.name}: {result[d.ip]}"
    # An address nobody holds on the routed side: the router answers nothing useful.
    assert result["198.18.32.250"] != "open"


def test_wsdiscovery_package_finds_the_onvif_devices(demo_lab: LabState) -> None:
    found = _run_json(demo_lab, WSD_SEARCH)
    nvt = "http://www.onvif.org/ver10/network/wsdl:NetworkVideoTransmitter"
    answering = [d for d in _lan(demo_lab) if d.services.wsd is not None
                 and not {"garbage_udp", "xxe_wsd"} & set(d.services.hostile)]
    onvif_devs = [d for d in answering if d.services.onvif is not None]
    assert len(onvif_devs) >= 8
    by_host = {x.split("/")[2]: v for x, v in found.items()}
    for d in onvif_devs:
        assert d.ip in by_host, f"{d.name} ({d.ip}) not found by WS-Discovery"
        assert nvt in by_host[d.ip]["types"]
        assert d.services.wsd is not None
        if d.services.hostile:
            continue  # e.g. raw spaces inside a scope: the client splits it, by design
        # The client percent-decodes scopes; compare decoded.
        assert {unquote(x) for x in d.services.wsd.scopes} <= {unquote(x) for x in by_host[d.ip]["scopes"]}
    # The printer answers too, but not as a camera.
    printers = [d for d in answering if d.services.onvif is None]
    for d in printers:
        assert d.ip in by_host and nvt not in by_host[d.ip]["types"]
    # Multicast does not cross the router.
    for d in _routed(demo_lab):
        assert d.ip not in by_host


def _onvif_cases(lab: LabState) -> list[tuple[DeviceSpec, str | None, str | None, bool]]:
    """(device, user, password, should_succeed) for every well-behaved ONVIF device."""
    cases = []
    for d in lab.fleet.devices:
        o = d.services.onvif
        if o is None or d.services.hostile:
            continue
        if o.password is None:
            cases.append((d, None, None, True))
            continue
        cases.append((d, o.username, o.password, True))
        cases.append((d, None, None, "GetDeviceInformation" in o.unauth_calls))
        cases.append((d, o.username, o.password + "-wrong", "GetDeviceInformation" in o.unauth_calls))
    return cases


def test_onvif_zeep_reads_device_information_as_configured(demo_lab: LabState) -> None:
    cases = _onvif_cases(demo_lab)
    assert any(ok and user is None for _, user, _, ok in cases), "some device is open"
    assert any(not ok for *_, ok in cases), "some device demands credentials"
    assert any(d.services.onvif and d.services.onvif.clock_offset_s for d, *_ in cases), "a skewed clock"
    assert any(d.segment == "routed" for d, *_ in cases)
    result = _run_json(demo_lab, ONVIF_READ, json.dumps([[d.ip, u, p, d.services.onvif.auth == "http-digest"]
                                                         for d, u, p, _ in cases]))
    assert any(d.services.onvif.auth == "http-digest" and ok and u for d, u, _, ok in cases), "an HTTP Digest ONVIF"
    for d, user, pw, ok in cases:
        got = result[f"{d.ip}|{user}|{pw}"]
        assert got["ok"] is ok, f"{d.name} user={user}: {got}"
        if ok:
            o = d.services.onvif
            assert o is not None
            assert (got["manufacturer"], got["model"], got["serial"], got["firmware"]) == (
                o.manufacturer, o.model, o.serial, o.firmware)
            assert abs(got["skew"] - o.clock_offset_s) < 5
        else:
            assert ("not authorized" in got["error"].lower() or "auth" in got["error"].lower()
                    or "401" in got["error"]), got
