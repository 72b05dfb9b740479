"""Evidence fusion, table-driven: relation types, conflict types, class rules, hostile text."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.models import Host, Identity, Observation

KB = load_knowledge()
IP = "198.18.0.40"


def obs(probe: str, **fields: Any) -> Observation:
    return Observation(IP, probe, fields)


def host(*observations: Observation, mac: str | None = None) -> Host:
    return Host(key=f"mac:{mac}" if mac else f"ip:{IP}", ip=IP, mac=mac, ips=(IP,), observations=observations)


def sadp(model: str, oem: str = "N/A", device_type: str = "139", **extra: Any) -> Observation:
    return obs("sadp", model=model, serial=model + "20210315AAWRG12345678", device_type=device_type,
               firmware="V5.5.82build 190220", oem_info=oem, activated=True, **extra)


def dhip(model: str, vendor: str = "Dahua", device_class: str = "IPC") -> Observation:
    return obs("dhip", model=model, serial="6G0A1B2PAZ3C4D5", device_class=device_class, vendor=vendor,
               firmware="2.800.0000000.16.R")


def onvif(manufacturer: str, model: str, firmware: str = "1.0", serial: str = "S1") -> Observation:
    return obs("onvif", xaddr=f"http://{IP}/onvif/device_service", manufacturer=manufacturer, model=model,
               firmware=firmware, serial=serial, calls={"GetDeviceInformation": "auth"})


WSD_CAMERA = obs("wsdiscovery", types=["NetworkVideoTransmitter", "Device"], scopes=[])
HIK_HTTP = obs("http", port=80, status=200, server="App-webs/", paths={"/ISAPI/System/deviceInfo": 401})
RTSP_HIK = obs("rtsp", port=554, status=401, realm="Hikvision", auth_required=True)
PORTS_HIK = obs("ports", open=[80, 554, 8000])


# ---- relation types: maker's own product, own brand, subsidiary, OEM relabel, review

RELATIONS = [
    ("maker's own product", host(onvif("HIKVISION", "DS-2CD2143G2-I"), WSD_CAMERA, mac="c0:56:e3:1a:2b:3c"),
     "Hikvision", "Hikvision", "maker", True, None),
    ("own brand", host(onvif("HiLook", "IPC-B140H"), sadp("IPC-B140H", oem="HiLook"), mac="a4:14:37:c8:21:5d"),
     "Hikvision", "HiLook", "own brand", True, None),
    ("subsidiary", host(sadp("CS-C6N-A0-1C2WFR", oem="EZVIZ"), mac="20:bb:bc:3e:0d:81"),
     "Hikvision", "EZVIZ", "subsidiary", True, None),
    ("OEM relabel", host(onvif("LTS", "CMIP3C42W-28M"), sadp("CMIP3C42W-28M", oem="LTS"), WSD_CAMERA),
     "Hikvision", "LTS", "OEM relabel", True, None),
    ("OEM relabel, Dahua", host(onvif("Amcrest", "IP5M-T1179EW"), dhip("IP5M-T1179EW", vendor="Amcrest")),
     "Dahua", "Amcrest", "OEM relabel", True, None),
    ("review, proven by DHIP", host(dhip("E841CA-E", vendor="Lorex"), mac="00:1f:54:6c:20:3b"),
     "Dahua", "Lorex", "subsidiary", True, "Lorex"),
    ("review, brand only", host(onvif("Lorex", "LNB4321"), WSD_CAMERA, mac="00:1f:54:6c:20:3b"),
     "Dahua", "Lorex", "subsidiary", False, "Lorex"),
]


@pytest.mark.parametrize(("case", "h", "maker", "brand", "relation", "covered", "review"), RELATIONS,
                         ids=[r[0] for r in RELATIONS])
def test_relations(case: str, h: Host, maker: str, brand: str, relation: str, covered: bool,
                   review: str | None) -> None:
    identity = identify(h, KB)
    assert (identity.maker, identity.brand, identity.relation, identity.covered) == (maker, brand, relation, covered)
    if review:
        assert identity.review and review in identity.review
    else:
        assert identity.review is None
    assert identity.conflicts == ()


def test_relation_text_for_relabel() -> None:
    identity = identify(host(onvif("LTS", "CMIP3C42W-28M"), sadp("CMIP3C42W-28M", oem="LTS")), KB)
    assert identity.relation_text == "Hikvision product sold as LTS"
    assert identity.confidence == "high"
    assert "§889(f)(3)(B)" in (identity.covered_basis or "")


# ---- conflict types: listed, not silently resolved


def _conflict(identity: Identity, *words: str) -> bool:
    return any(all(w in c for w in words) for c in identity.conflicts)


def test_conflict_oui_vs_sadp() -> None:
    identity = identify(host(sadp("DS-2CD2143G2-I"), mac="00:40:8c:e2:7a:10"), KB)
    assert identity.maker == "Hikvision" and identity.covered
    assert _conflict(identity, "OUI", "Axis", "SADP", "Hikvision")
    assert identity.confidence == "medium"


def test_conflict_onvif_manufacturer_vs_dhip() -> None:
    identity = identify(host(onvif("AXIS", "M3106-L Mk II"), dhip("IPC-HFW2431S-S-S2")), KB)
    assert identity.maker == "Dahua"  # firmware-level evidence wins
    assert _conflict(identity, "Axis", "DHIP", "Dahua")
    assert identity.confidence == "low"  # strong evidence on both sides


def test_conflict_both_discovery_protocols() -> None:
    identity = identify(host(sadp("DS-2CD2143G2-I"), dhip("IPC-HFW2431S-S-S2")), KB)
    assert identity.conflicts
    assert identity.confidence == "low"


def test_conflict_banner_vs_model_tie_is_unknown() -> None:
    h = host(obs("http", port=80, status=200, server="App-webs/"), obs("wsdiscovery", hardware="IPC-HFW2431S"))
    identity = identify(h, KB)
    assert identity.maker is None and not identity.covered
    assert identity.conflicts and "no evidence decides" in identity.conflicts[0]


def test_conflict_brand_listed_for_another_maker() -> None:
    identity = identify(host(onvif("Swann", "NHD-887MSB"), dhip("NHD-887MSB", vendor="Swann")), KB)
    assert identity.maker == "Dahua"
    assert identity.brand == "Swann" and identity.relation == "OEM relabel"
    assert _conflict(identity, "Swann", "Hikvision", "Dahua")


# ---- evidence without a usable MAC


def test_random_mac_camera_identified_from_other_evidence() -> None:
    h = host(dhip("IPC-A22EP", vendor="General"), obs("rtsp", port=554, status=401, server="Dahua Rtsp Server"),
             obs("ports", open=[554, 37777]), mac="02:3a:91:5c:e4:07")
    identity = identify(h, KB)
    assert (identity.maker, identity.device_class, identity.covered) == ("Dahua", "camera", True)
    assert identity.brand == "Imou"
    mac_evidence = [e for e in identity.evidence if e.field == "mac"]
    assert mac_evidence and all(e.supports is None for e in mac_evidence)
    assert "locally administered" in mac_evidence[0].note


def test_onvif_off_hikvision_is_high() -> None:
    identity = identify(host(sadp("DS-2CD2047G2-LU"), HIK_HTTP, RTSP_HIK, PORTS_HIK), KB)
    assert (identity.maker, identity.device_class, identity.confidence) == ("Hikvision", "camera", "high")
    assert identity.model == "DS-2CD2047G2-LU" and identity.firmware == "V5.5.82build 190220"


def test_routed_camera_without_mac_from_onvif() -> None:
    identity = identify(host(onvif("HIKVISION", "DS-2CD2T47G2-L", firmware="V5.7.3 build 220112",
                                   serial="DS-2CD2T47G2-L2022"), WSD_CAMERA), KB)
    assert (identity.maker, identity.device_class, identity.confidence) == ("Hikvision", "camera", "high")
    assert identity.firmware == "V5.7.3 build 220112" and identity.serial == "DS-2CD2T47G2-L2022"
    assert any(e.probe == "onvif" and e.strength == "strong" for e in identity.evidence)


# ---- device class


def test_printer_is_not_a_camera() -> None:
    h = host(obs("wsdiscovery", types=["Device", "PrintDeviceType", "ScanDeviceType"], scopes=[]),
             obs("http", port=80, status=200, server="HP HTTP Server; HP OfficeJet Pro 9020 series"),
             obs("ports", open=[80, 443, 631, 9100]), mac="3c:d9:2b:7e:41:09")
    identity = identify(h, KB)
    assert (identity.maker, identity.device_class, identity.covered) == ("HP", "other", False)


def test_printer_answering_rtsp_is_still_not_a_camera() -> None:
    h = host(obs("wsdiscovery", types=["PrintDeviceType"]), obs("rtsp", port=554, status=200),
             obs("ports", open=[554, 9100]))
    assert identify(h, KB).device_class == "other"


def test_linux_server_is_other() -> None:
    h = host(obs("http", port=80, status=200, server="nginx/1.22.1", title="Welcome to nginx!"),
             obs("ports", open=[22, 80], banners={"22": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}),
             mac="52:54:00:6b:2c:91")
    identity = identify(h, KB)
    assert (identity.maker, identity.device_class) == (None, "other")


def test_covered_network_gear_is_other_but_covered() -> None:
    identity = identify(host(obs("http", port=443, status=200, server="HuaweiHTTP"), mac="e0:24:7f:5b:31:c2"), KB)
    assert (identity.maker, identity.device_class, identity.covered) == ("Huawei", "other", True)


def test_recorder_from_model_and_banner() -> None:
    h = host(sadp("DS-7608NI-K2/8P", device_type="30004"),
             obs("http", port=80, status=200, server="DNVRS-Webs"))
    assert identify(h, KB).device_class == "recorder"
    assert identify(host(dhip("NVR4108HS-4KS2", device_class="NVR")), KB).device_class == "recorder"


@pytest.mark.parametrize(
    "observations",
    [
        (obs("rtsp", port=554, status=200),),
        (obs("ports", open=[8000, 37777]),),
        (obs("http", port=80, status=200, server="Webs"), obs("ports", open=[80, 8000])),
        (obs("http", port=80, status=200, title="WEB SERVICE", headers_upper=True, p3p="CP=CAO PSA OUR"),),
    ],
    ids=["rtsp-only", "ports-only", "webs+8000", "dahua-weak-http"],
)
def test_weak_signals_alone_are_unknown(observations: tuple[Observation, ...]) -> None:
    identity = identify(host(*observations, mac="02:00:00:00:00:01"), KB)
    assert identity.maker is None and not identity.covered
    assert identity.device_class == "unknown"


CATCH_ALL = {"/doc/page/login.asp": 302, "/ISAPI/System/deviceInfo": 302, "/SDK/webLanguage": 302,
             "/RPC2_Login": 302}


def test_catch_all_web_server_is_not_hikvision() -> None:
    """A server that redirects (or 401s) every URL answers every maker's vendor paths: no maker."""
    identity = identify(host(obs("http", port=80, status=302, server="nginx", paths=CATCH_ALL)), KB)
    assert identity.maker is None and not identity.covered
    axis = identify(host(obs("http", port=80, status=200, paths=dict.fromkeys(CATCH_ALL, 200)), WSD_CAMERA,
                         mac="00:40:8c:11:22:33"), KB)
    assert (axis.maker, axis.covered, axis.conflicts) == ("Axis", False, ())


def test_oem_brand_and_its_own_model_code_do_not_prove_the_maker() -> None:
    """LTS is a medium-low reported Hikvision relabel: the name LTS plus an LTS model code
    show LTS twice, they do not make the relation certain (no 'high', no covered verdict)."""
    identity = identify(host(onvif("LTS", "CMIP3C42W-28M"), WSD_CAMERA), KB)
    assert identity.maker is None and not identity.covered and identity.device_class == "camera"
    assert any(e.supports == "Hikvision" and "LTS" in (e.note or "") for e in identity.evidence)
    # a Hikvision model code behind an OEM name is real evidence of the maker
    annke = identify(host(onvif("ANNKE", "DS-2CD2143G2-I"), WSD_CAMERA), KB)
    assert (annke.maker, annke.brand, annke.covered) == ("Hikvision", "Annke", True)


def test_garbage_replies_do_not_count() -> None:
    h = host(Observation(IP, "sadp", {}, warning="not XML"), Observation(IP, "dhip", {}, warning="bad header"))
    identity = identify(h, KB)
    assert identity.maker is None and identity.device_class == "unknown"


def test_hostile_strings_are_carried_as_plain_text() -> None:
    h = host(onvif("<script>alert(1)</script>", "<img src=x onerror=alert(2)>"), WSD_CAMERA)
    identity = identify(h, KB)
    assert identity.maker is None and identity.brand is None
    assert identity.model == "<img src=x onerror=alert(2)>"
    assert any(e.value == "<script>alert(1)</script>" and e.supports is None for e in identity.evidence)
    assert identity.device_class == "camera"


def test_every_maker_claim_has_checkable_evidence() -> None:
    identity = identify(host(sadp("DS-2CD2143G2-I"), HIK_HTTP, mac="c0:56:e3:1a:2b:3c"), KB)
    supporting = [e for e in identity.evidence if e.supports == "Hikvision"]
    assert {e.probe for e in supporting} >= {"arp", "sadp", "http"}
    assert all(e.note for e in supporting)
    assert any("C0:56:E3/24" in e.note for e in supporting)


# ---- firmware identity from makers' identity APIs (device_info), serials that are MACs


def test_isapi_device_info_identifies_and_feeds_the_identity() -> None:
    info = {"api": "isapi-device-info", "device_name": "garden", "model": "DS-2CD2386G2-IU",
            "serial": "DS-2CD2386G2-IU20220101AAWRK12345678", "firmware": "V5.7.15", "mac": "c0:56:e3:9a:8b:7c",
            "device_type": "IPCamera"}
    ident = identify(host(obs("http", port=80, status=401, device_info=info)), KB)
    assert (ident.maker, ident.covered, ident.device_class) == ("Hikvision", True, "camera")
    assert (ident.model, ident.firmware, ident.serial) == ("DS-2CD2386G2-IU", "V5.7.15",
                                                          "DS-2CD2386G2-IU20220101AAWRK12345678")
    oui = [e for e in ident.evidence if e.field == "mac"]
    assert oui and oui[0].probe == "http" and oui[0].value == "c0:56:e3:9a:8b:7c", "a self-reported MAC is OUI evidence"


def test_onvif_outranks_a_vendor_api_for_the_model_shown() -> None:
    info = {"api": "dahua-magicbox", "model": "IPC-HDW5831R-ZE", "model_code": "IPC-HDW5830R-Z"}
    ident = identify(host(onvif("Dahua", "IPC-HDW5831R-ZE-X", serial="4X7C5A1ZAG21L3F"),
                          obs("http", port=80, device_info=info)), KB)
    assert ident.model == "IPC-HDW5831R-ZE-X" and ident.maker == "Dahua"


def test_a_recorders_channel_list_makes_it_a_recorder() -> None:
    ident = identify(host(obs("http", port=80, device_info={"api": "isapi-channels", "channels": 0})), KB)
    assert (ident.maker, ident.device_class) == ("Hikvision", "recorder")


def test_axis_serial_is_oui_evidence_and_fills_the_serial() -> None:
    realm_only = identify(host(obs("rtsp", port=554, status=401, realm="AXIS_ACCC8E3A0A8F")), KB)
    assert realm_only.maker == "Axis" and realm_only.serial == "ACCC8E3A0A8F"
    serial = [e for e in realm_only.evidence if e.field == "serial"]
    assert serial and serial[0].supports == "Axis" and "AC:CC:8E" in serial[0].note
    anonymised = identify(host(obs("http", port=80, device_info={"api": "axis-basicdeviceinfo",
                                                                 "serial": "ACCC12345678"})), KB)
    assert anonymised.maker == "Axis" and not [e for e in anonymised.evidence if e.field == "serial"], \
        "a serial whose OUI is not Axis's gives no OUI evidence"


def test_a_device_without_video_is_other() -> None:
    info = {"api": "axis-param", "serial": "ACCC8ED0A6EC", "firmware": "1.84.1", "video": False}
    ident = identify(host(obs("http", port=80, device_info=info)), KB)
    assert (ident.maker, ident.device_class) == ("Axis", "other")


def test_maker_hints_come_from_what_the_address_showed_so_far() -> None:
    from auditor.identify import maker_hints

    assert maker_hints([obs("arp", mac="00:40:8c:e2:7a:10")], KB) == {"Axis"}
    assert maker_hints([obs("http", port=80, status=401, realm="AXIS_ACCC8E0B52E6")], KB) == {"Axis"}
    assert maker_hints([obs("wsdiscovery", name="HIKVISION DS-2CD2143G2-I", scopes=[])], KB) >= {"Hikvision"}
    assert maker_hints([obs("http", port=80, status=200, server="nginx")], KB) == set()
    assert maker_hints([], KB) == set()
