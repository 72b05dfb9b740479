"""The market-wide knowledge base: makers and brands, their classes and sources, and what
identification concludes from what devices show (ONVIF Manufacturer, names, OUI)."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import NO_KEV

from auditor.assemble import assemble
from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.models import Identity, Observation
from auditor.oui import default_registry

KB = load_knowledge()
IP = "198.18.7.9"


def _identify(*observations: Observation) -> Identity:
    (host,) = assemble(list(observations))
    return identify(host, KB)


def onvif(manufacturer: str, model: str = "") -> Observation:
    return Observation(IP, "onvif", {"xaddr": f"http://{IP}/onvif/device_service", "manufacturer": manufacturer,
                                     "model": model})


def _block(org: str) -> str:
    """A MAC inside the organisation's first registered block (MA-L, MA-M or MA-S)."""
    entry = min((e for e in default_registry().entries() if e.org == org), key=lambda e: e.prefix_len)
    digits = entry.prefix.replace(":", "").ljust(11, "0") + "1"
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2)).lower()


# ---- coverage of the market


def test_market_coverage() -> None:
    video_makers = [m for m in KB.makers.values() if m.kind == "video"]
    camera_brands = len(video_makers) + len(KB.brands)
    assert camera_brands >= 120
    classes = [KB.brand_class(b) for b in KB.brands]
    assert classes.count("relabel") >= 10 and classes.count("covered brand") >= 6
    for maker in ("Uniview", "Tiandy", "TVT", "Kedacom", "XiongMai", "Raysharp", "Sunell", "Milesight", "Jovision",
                  "Hanbang"):
        assert not KB.makers[maker].covered and KB.makers[maker].country == "CN"


def test_every_relation_names_a_source() -> None:
    for brand in KB.brands.values():
        assert brand.makers
        for entry in brand.makers:
            assert entry.source.startswith("http"), brand.name
            if entry.status == "review":
                assert entry.review, f"{brand.name}/{entry.maker}: a relation under review says why"
        if len(brand.makers) > 1:
            assert brand.review and brand.maker is None


def test_swann_lists_each_maker_with_lines() -> None:
    swann = KB.brands["Swann"]
    assert swann.candidates == ("Reolink", "Hikvision")
    assert all(m.lines and m.status == "review" for m in swann.makers)
    assert KB.brand_maker("Swann", "Reolink").confidence == "medium"  # type: ignore[union-attr]
    assert KB.brand_maker("Swann", "Dahua") is None


@pytest.mark.parametrize(
    ("shown", "maker", "brand"),
    [
        ("TP-LINK", "TP-Link", "TP-Link"), ("tp-link", "TP-Link", "TP-Link"), ("Tapo", "TP-Link", "Tapo"),
        ("Ubiquiti Networks", "Ubiquiti", "Ubiquiti"), ("UniFi", "Ubiquiti", "UniFi"), ("eufy", "Anker", "eufy"),
        ("Arlo", "Arlo", "Arlo"), ("Reolink", "Reolink", "Reolink"), ("GeoVision", "GeoVision", "GeoVision"),
        ("Pelco", "Pelco", "Pelco"), ("ACTi", "ACTi", "ACTi"), ("Sunell", "Sunell", "Sunell"),
        ("KEDACOM", "Kedacom", "Kedacom"), ("TVT", "TVT", "TVT"), ("FLIR Systems", "FLIR", "FLIR"),
        ("Synology", "Synology", "Synology"), ("Verkada", "Verkada", "Verkada"), ("Wisenet", "Hanwha", "Wisenet"),
        ("Uniarch", "Uniview", "Uniarch"), ("Google Nest", "Google", "Nest"), ("Ring", "Amazon", "Ring"),
        ("Illustra", "Johnson Controls", "Illustra"), ("Digital Watchdog", "Digital Watchdog", "Digital Watchdog"),
        ("Provision-ISR", "Provision-ISR", "Provision-ISR"), ("Merit LILIN", "Merit LILIN", "Merit LILIN"),
        ("Hikmicro", "Hikvision", "Hikmicro"), ("HoloSens", "Huawei", "HoloSens"),
    ],
)
def test_names_devices_show(shown: str, maker: str, brand: str) -> None:
    found = KB.match_name(shown)
    assert found is not None and (found.maker, found.brand) == (maker, brand)


@pytest.mark.parametrize("shown", ["Ringo", "Axisware", "Acticam", "Nestor", "Blinky", "TVTech", "Lumio", "Tapoo"])
def test_names_need_a_whole_word(shown: str) -> None:
    assert KB.match_name(shown) is None


# ---- OUI rules for the added makers


@pytest.mark.parametrize(
    ("org", "maker", "brand", "covered"),
    [
        ("Hangzhou Microimage Software Co., Ltd", "Hikvision", "Hikmicro", True),
        ("Ring LLC", "Amazon", "Ring", False),
        ("Tp-Link Technologies Co.,Ltd.", "TP-Link", None, False),
        ("Suzhou Keda Technology CO.,Ltd", "Kedacom", None, False),
        ("Honeywell Video Systems", "Honeywell", None, False),
        ("Swann communications Pty Ltd", None, "Swann", False),
    ],
)
def test_oui_of_added_makers(org: str, maker: str | None, brand: str | None, covered: bool) -> None:
    match = KB.lookup_oui(_block(org))
    assert match is not None and (match.maker, match.brand, match.covered) == (maker, brand, covered)


@pytest.mark.parametrize("org", ["GENETEC Corporation", "AVTECH Software, Inc.", "Shenzhen Costar Electronics Co. Ltd.",
                                 "Cp Plus Gmbh & Co. Kg", "Xacti Corporation", "Viconics Electronics Inc."])
def test_oui_lookalikes_are_not_mapped(org: str) -> None:
    match = KB.lookup_oui(_block(org))
    assert match is not None and match.maker is None and match.brand is None


# ---- identification: independent makers are named, relabels are reviewed, never silent


@pytest.mark.parametrize(
    ("manufacturer", "model", "maker"),
    [
        ("TP-LINK", "Tapo C200", "TP-Link"), ("Reolink", "RLC-510A", "Reolink"), ("Ubiquiti", "UVC-G4-PRO", "Ubiquiti"),
        ("GeoVision", "GV-ABL2702", "GeoVision"), ("Sunell", "SN-IPR5720DCAN-B", "Sunell"),
        ("KEDACOM", "IPC2151-HN-S", "Kedacom"), ("TVT", "TD-9422E3-A", "TVT"), ("Vivotek", "SD9384-EHL", "Vivotek"),
        ("Synology", "BC500", "Synology"), ("Verkada", "CD61", "Verkada"), ("ACTi", "Z84", "ACTi"),
    ],
)
def test_independent_maker_is_named_not_covered(manufacturer: str, model: str, maker: str) -> None:
    ident = _identify(onvif(manufacturer, model))
    assert (ident.maker, ident.covered, ident.possible_makers, ident.conflicts) == (maker, False, (), ())
    assert any(e.supports == maker and e.field == "manufacturer" for e in ident.evidence)


def test_vivotek_speed_dome_is_not_called_dahua() -> None:
    """The old Dahua PTZ pattern matched Vivotek's SD9384-EHL: a false accusation."""
    ident = _identify(onvif("", "SD9384-EHL"))
    assert not ident.covered and ident.maker != "Dahua"


@pytest.mark.parametrize(
    ("shown", "possible"),
    [("Annke", ("Hikvision",)), ("LTS", ("Hikvision",)), ("Swann", ("Reolink", "Hikvision")),
     ("LaView", ("Hikvision",)), ("Lorex", ("Dahua",)), ("Intelbras", ("Dahua",))],
)
def test_relabel_brand_alone_needs_review(shown: str, possible: tuple[str, ...]) -> None:
    ident = _identify(onvif(shown, ""))
    assert not ident.covered and ident.possible_makers == possible and ident.possible_covered
    assert ident.review and all(m in ident.review for m in possible) and "http" in ident.review
    assert ident.relation_text


def test_unsettled_brand_is_reviewed_with_every_candidate() -> None:
    ident = _identify(onvif("Swann", "SWWHD-INTCAM"))
    assert ident.maker is None and ident.relation == "review"
    assert "Reolink" in (ident.relation_text or "") and "Hikvision" in (ident.relation_text or "")


def test_firmware_level_tell_settles_a_relabel() -> None:
    sadp = Observation(IP, "sadp", {"model": "I91BM", "serial": "I91BM20210315AAWRG1", "oem_info": "ANNKE",
                                    "firmware": "V5.7.1 build 210701"})
    ident = _identify(onvif("ANNKE", "I91BM"), sadp)
    assert (ident.maker, ident.brand, ident.covered) == ("Hikvision", "Annke", True)
    assert ident.possible_makers == ()


def test_covered_makers_own_code_settles_a_relabel_under_review() -> None:
    ident = _identify(onvif("Swann", "DS-2CD2143G2-I"))
    assert (ident.maker, ident.brand, ident.covered) == ("Hikvision", "Swann", True)


def test_swann_reolink_line_is_reolink() -> None:
    ident = _identify(onvif("Swann", "NHD-818"))
    assert (ident.maker, ident.brand, ident.relation, ident.covered, ident.possible_makers) == (
        "Reolink", "Swann", "OEM relabel", False, ())


def test_multi_maker_brand_oui_alone_is_reviewed() -> None:
    arp = Observation(IP, "arp", {"mac": _block("Swann communications Pty Ltd")})
    ident = _identify(arp, Observation(IP, "rtsp", {"status": 401, "auth_required": True}))
    assert ident.maker is None and ident.possible_makers == ("Reolink", "Hikvision") and ident.possible_covered


def test_policy_gives_relabels_their_own_finding() -> None:
    from auditor.models import Device
    from auditor.policy import device_facts, evaluate, load_policy, shipped_rule_files

    (host,) = assemble([onvif("LTS", ""), Observation(IP, "wsdiscovery", {"types": ["NetworkVideoTransmitter"]})])
    device = Device(host=host, identity=identify(host, KB))
    facts: dict[str, Any] = device_facts(device, KB)
    assert facts["possible_makers"] == ["Hikvision"] and facts["possible_covered"] is True
    findings = evaluate(load_policy(shipped_rule_files(["ndaa-889"])), [device], kb=NO_KEV)
    assert [f.rule_id for f in findings] == ["ndaa-889.possible-covered-brand"]
    assert "Hikvision" in findings[0].message and "http" in findings[0].message


@pytest.mark.parametrize(
    ("kind", "value", "maker"),
    [  # the examples recog's fingerprints carry (rapid7/recog xml/*.xml)
        ("rtsp_server", "AvigilonOnvifNvt/2.6.0.130", "Avigilon"),
        ("http_realm", "Merit LILIN Ent. Co., Ltd.", "Merit LILIN"),
        ("http_realm", "DCS-5222LB1", "D-Link"),
        ("http_realm", "TP-LINK IP-Camera", "TP-Link"),
        ("http_realm", "Use 'live' as User Name", "Bosch"),
        ("http_title", "Sony Network Camera", "Sony"),
        ("http_title", "Hanwha Techwin", "Hanwha"),
        ("http_title", "WV-NS202A Network Camera", "Panasonic"),
        ("http_title", "Genetec - SHARPV01111", "Genetec"),
        ("http_server", "PDR-M800/1.0", "Merit LILIN"),
    ],
)
def test_banner_and_realm_tells_of_independent_makers(kind: str, value: str, maker: str) -> None:
    assert [s.maker for s in KB.match_signatures(kind, value)] == [maker]
    observation = {"rtsp_server": ("rtsp", "server"), "http_realm": ("http", "realm"),
                   "http_title": ("http", "title"), "http_server": ("http", "server")}[kind]
    ident = _identify(Observation(IP, observation[0], {observation[1]: value, "status": 401}))
    assert ident.maker == maker and not ident.covered


@pytest.mark.parametrize(
    ("port", "banner", "maker"),
    [  # FTP / telnet greetings as recog's examples record them
        (21, "220 AXIS 216FD Network Fixed Dome Camera 4.47 (Mar 13 2008) ready.", "Axis"),
        (21, "220 hostname DCS-2100 FTP server ready.", "D-Link"),
        (23, "Welcome to AutoDome 800 HD 1.2.3.4 from 5.6.7.8", "Bosch"),
        (23, "Grandstream GXV3674_FHD_VF\r\nShell Command.", "Grandstream"),
        (23, "192.0.0.64 login:", "Hikvision"),
    ],
)
def test_banners_name_the_maker(port: int, banner: str, maker: str) -> None:
    ident = _identify(Observation(IP, "ports", {"open": [port], "banners": {str(port): banner}}))
    assert ident.maker == maker


def test_certificate_issuer_names_the_maker() -> None:
    issuer = "SERIALNUMBER=111,CN=00-07-5f-11-11-11,OU=ST-VS,O=Bosch Sicherheitssysteme GmbH,L=Grasbrunn,C=DE"
    ident = _identify(Observation(IP, "http", {"port": 443, "scheme": "https", "cert_subject": "CN=192.0.2.1",
                                               "cert_issuer": issuer}))
    assert ident.maker == "Bosch" and not ident.covered


@pytest.mark.parametrize("realm", ["AXIS_ACCC8E012345", "AXIS_WS_ACCC8E3A0A8F"])
def test_axis_serial_realm(realm: str) -> None:
    ident = _identify(Observation(IP, "rtsp", {"status": 401, "realm": realm, "server": "GStreamer RTSP server"}))
    assert ident.maker == "Axis"
