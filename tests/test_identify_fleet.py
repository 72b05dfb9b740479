"""The demo fleet's ground truth, from synthetic observations built out of each device's spec.

Each device's `services` are turned into the observations the probes would emit (field
names per docs/observations.md), hostile behaviours included (refused XML → empty fields
with a warning; garbage UDP → nothing parsed; tarpits → only open ports). The lab's
end-to-end test checks the same truth over real sockets; this one checks the fusion alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.lab.fleet import load_fleet
from auditor.lab.spec import DeviceSpec
from auditor.models import Host, Observation

KB = load_knowledge()
FLEET = load_fleet()


def _wsd(spec: DeviceSpec) -> Observation | None:
    wsd = spec.services.wsd
    if wsd is None:
        return None
    hostile = spec.services.hostile
    if "xxe_wsd" in hostile or "garbage_udp" in hostile:
        return Observation(spec.ip, "wsdiscovery", {}, warning="XML with DOCTYPE refused")
    fields: dict[str, Any] = {
        "endpoint": wsd.endpoint,
        "types": [t.split(":")[-1] for t in wsd.types],
        "scopes": list(wsd.scopes),
        "xaddrs": [f"http://{wsd.xaddr_host or spec.ip}/onvif/device_service"],
    }
    for scope in wsd.scopes:
        prefix = "onvif://www.onvif.org/"
        if scope.startswith(prefix):
            key, _, value = scope[len(prefix):].partition("/")
            if key.lower() in ("name", "hardware", "location", "mac") and value:
                fields[key.lower()] = unquote(value)
    return Observation(spec.ip, "wsdiscovery", fields)


def _observations(spec: DeviceSpec) -> list[Observation]:
    s = spec.services
    hostile = s.hostile
    out: list[Observation] = []
    if spec.segment == "lan":
        out.append(Observation(spec.ip, "arp", {"mac": spec.mac, "source": "sweep"}))
    wsd = _wsd(spec)
    if wsd:
        out.append(wsd)
    if s.sadp:
        if "garbage_udp" in hostile:
            out.append(Observation(spec.ip, "sadp", {}, warning="not XML"))
        else:
            out.append(Observation(spec.ip, "sadp", {
                "mac": spec.mac, "serial": s.sadp.serial, "model": s.sadp.description,
                "device_type": s.sadp.device_type, "firmware": s.sadp.firmware,
                "dsp_version": s.sadp.dsp_version, "activated": s.sadp.activated,
                "oem_info": s.sadp.oem_info, "ipv4": spec.ip, "http_port": s.sadp.http_port,
                "command_port": s.sadp.command_port, "encrypted": s.sadp.encrypted}))
    if s.dhip:
        if "garbage_udp" in hostile:
            out.append(Observation(spec.ip, "dhip", {}, warning="bad DHIP header"))
        else:
            out.append(Observation(spec.ip, "dhip", {
                "mac": spec.mac, "serial": s.dhip.serial, "model": s.dhip.device_type,
                "device_class": s.dhip.device_class, "vendor": s.dhip.vendor,
                "machine_name": s.dhip.machine_name, "firmware": s.dhip.firmware,
                "ipv4": spec.ip, "http_port": s.dhip.http_port, "service_port": s.dhip.port}))
    if s.onvif:
        if "xxe_soap" in hostile or "malformed_soap" in hostile:
            out.append(Observation(spec.ip, "onvif", {}, warning="SOAP reply refused"))
        else:
            out.append(Observation(spec.ip, "onvif", {
                "xaddr": f"http://{spec.ip}:{s.onvif.port}{s.onvif.path}",
                "manufacturer": s.onvif.manufacturer, "model": s.onvif.model,
                "firmware": s.onvif.firmware, "serial": s.onvif.serial,
                "hardware_id": s.onvif.hardware_id, "hostname": s.onvif.hostname,
                "macs": [spec.mac], "calls": {"GetSystemDateAndTime": "open", "GetDeviceInformation": "auth"}}))
    open_ports = set(s.tcp_ports)
    if s.http and "tarpit" not in hostile:
        fields: dict[str, Any] = {"port": s.http.port, "scheme": "http", "status": 200 if s.http.realm is None else 401,
                                  "title": s.http.title, "headers_upper": s.http.upper_case_headers,
                                  "paths": dict(s.http.paths)}
        if s.http.server is not None:
            fields["server"] = s.http.server
        if s.http.realm is not None:
            fields["realm"] = s.http.realm
            fields["auth_scheme"] = s.http.auth_scheme
        if "P3P" in s.http.extra_headers:
            fields["p3p"] = s.http.extra_headers["P3P"]
        out.append(Observation(spec.ip, "http", fields))
        if s.http.https_port and s.http.cert_subject_cn:
            out.append(Observation(spec.ip, "http", {"port": s.http.https_port, "scheme": "https", "status": 200,
                                                     "cert_subject": f"CN={s.http.cert_subject_cn}"}))
    if s.http:
        open_ports.add(s.http.port)
    if s.rtsp:
        open_ports.add(s.rtsp.port)
        if "tarpit" not in hostile:
            fields = {"port": s.rtsp.port, "status": 200 if s.rtsp.auth == "none" else 401,
                      "auth_required": s.rtsp.auth != "none"}
            if s.rtsp.server:
                fields["server"] = s.rtsp.server
            if s.rtsp.realm:
                fields["realm"] = s.rtsp.realm
            out.append(Observation(spec.ip, "rtsp", fields))
    if open_ports:
        out.append(Observation(spec.ip, "ports", {"open": sorted(open_ports)}))
    return out


def _host(spec: DeviceSpec) -> Host:
    seen_mac = spec.mac if spec.segment == "lan" else None
    return Host(key=f"mac:{spec.mac}" if seen_mac else f"ip:{spec.ip}", ip=spec.ip, mac=seen_mac,
                ips=(spec.ip,), observations=tuple(_observations(spec)))


@pytest.mark.parametrize("spec", FLEET.devices, ids=lambda d: d.name)
def test_fleet_truth(spec: DeviceSpec) -> None:
    identity = identify(_host(spec), KB)
    truth = spec.truth
    got = (identity.maker, identity.device_class, identity.covered)
    assert got == (truth.maker, truth.device_class, truth.covered), identity
    if truth.brand is not None:
        assert identity.brand == truth.brand
    if truth.maker is not None:
        assert identity.evidence and any(e.supports == truth.maker for e in identity.evidence)
        assert identity.confidence in ("high", "medium")


def test_fleet_evidence_is_plain_text() -> None:
    (spec,) = [d for d in FLEET.devices if d.name == "hostile-script"]
    identity = identify(_host(spec), KB)
    assert identity.model == "<img src=x onerror=alert(2)>"
    assert any("<script>" in e.value for e in identity.evidence)
    assert identity.brand is None and identity.maker is None
