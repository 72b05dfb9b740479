"""The operator table and the facts derived from observations."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import KevStub, make_device

from auditor.policy.facts import FACTS, device_facts
from auditor.policy.operators import OPERATORS, ArgError

CASES: list[tuple[str, Any, Any, bool]] = [
    ("equals", "Hikvision", "HIKVISION", True),
    ("equals", "Hikvision", None, False),
    ("equals", 554, 554, True),
    ("not_equals", "Axis", "Hikvision", True),
    ("not_equals", "Axis", None, True),
    ("not_equals", "Axis", "axis", False),
    ("in", ["camera", "recorder"], "recorder", True),
    ("in", ["camera", "recorder"], None, False),
    ("not_in", ["other"], "camera", True),
    ("not_in", ["other"], None, True),
    ("not_in", ["other"], "Other", False),
    ("any_of", ["telnet", "ftp"], ["http", "FTP"], True),
    ("any_of", ["telnet", "ftp"], ["http"], False),
    ("any_of", [23, 21], [80, 23], True),
    ("contains", "telnet", ["telnet", "http"], True),
    ("contains", "telnet", ["http"], False),
    ("contains", "sold as", "Hikvision product SOLD AS LTS", True),
    ("contains", 23, [22, 23], True),
    ("regex", r"^DS-2CD", "ds-2cd2143g2-i", True),
    ("regex", r"^DS-2CD", "IPC-HFW2431S", False),
    ("regex", r"^DS-2CD", None, False),
    ("regex", r"Device", ["GetSystemDateAndTime", "GetDeviceInformation"], True),
    ("version_lt", "V5.5.800 build 210628", "V5.5.82 build 190220", True),
    ("version_lt", "V5.5.800 build 210628", "V5.7.3build 220112", False),
    ("version_lt", "V5.5.800 build 210628", "2.800.0000000.16.R", False),  # cannot be ordered: no match
    ("version_lt", "V5.5.800 build 210628", None, False),
    ("version_le", "5.4.41", "V5.4.41 build 170312", True),
    ("version_ge", "2.800.0000000.16.R", "2.800.0000000.18.R, Build Date 2022-01-01", True),
    ("version_gt", "10.12.0", "10.12.153", True),
    ("gt", 300, 300.5, True),
    ("gt", 300, 300, False),
    ("gt", 300, None, False),
    ("gt", 300, True, False),
    ("ge", 300, 300, True),
    ("lt", 0, -1.5, True),
    ("le", 0, 0, True),
    ("exists", True, "x", True),
    ("exists", True, [], False),
    ("exists", True, None, False),
    ("exists", False, None, True),
    ("exists", False, "", True),
    ("is_true", True, True, True),
    ("is_true", True, None, False),
    ("is_true", False, None, True),
    ("is_false", True, False, True),
    ("is_false", True, None, False),
    ("in_subnet", ["198.18.0.0/24", "198.18.32.0/24"], "198.18.32.7", True),
    ("in_subnet", ["198.18.0.0/24"], "198.18.1.7", False),
    ("in_subnet", ["198.18.0.0/24"], "not an ip", False),
]


@pytest.mark.parametrize(("op", "arg", "value", "expected"), CASES)
def test_operator(op: str, arg: Any, value: Any, expected: bool) -> None:
    assert OPERATORS[op].make(arg)(value) is expected


def test_every_operator_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(OPERATORS)


@pytest.mark.parametrize(("op", "arg"), [
    ("equals", None), ("in", []), ("in", [[1]]), ("regex", "("), ("regex", 3), ("version_lt", "n/a"),
    ("version_lt", True), ("gt", "x"), ("exists", "yes"), ("in_subnet", ["10.0.0.1/8"]), ("in_subnet", []),
])
def test_bad_arguments_are_refused_at_load(op: str, arg: Any) -> None:
    with pytest.raises(ArgError):
        OPERATORS[op].make(arg)


def test_facts_from_observations() -> None:
    device = make_device(
        identity={"maker": "Hikvision", "brand": "LTS", "relation": "OEM relabel", "covered": True,
                  "device_class": "camera", "model": "DS-2CD2043G0-I", "firmware": "V5.5.82 build 190220",
                  "serial": "SN9", "confidence": "high"},
        observations=[
            {"probe": "ports", "fields": {"open": [8000, 80, 554, 23], "banners": {"2222": "SSH-2.0-x"}}},
            {"probe": "http", "fields": {"port": 80, "scheme": "http", "status": 200}},
            {"probe": "rtsp", "fields": {"port": 554, "auth_required": True}},
            {"probe": "rtsp", "fields": {"port": 8554, "auth_required": False}},
            {"probe": "onvif", "fields": {"clock_offset_s": -400, "hostname": "gate",
                                          "calls": {"GetSystemDateAndTime": "open", "GetDeviceInformation": "denied",
                                                    "GetHostname": "open"}}},
            {"probe": "sadp", "fields": {"activated": False}},
            {"probe": "wsdiscovery", "fields": {"name": "ignored"}, "warning": "XML with DOCTYPE refused"},
        ])
    seen = []

    def kev(maker: str | None, model: str | None, firmware: str | None) -> list[str]:
        seen.append((maker, model, firmware))
        return ["CVE-2021-36260", "CVE-2021-36260"]

    facts = device_facts(device, KevStub(kev))
    assert set(facts) == set(FACTS)
    assert seen == [("Hikvision", "DS-2CD2043G0-I", "V5.5.82 build 190220")]
    assert facts["kev"] == ["CVE-2021-36260"]
    assert facts["open_ports"] == [23, 80, 554, 8000]
    assert facts["services"] == ["http", "onvif", "rtsp", "sadp", "sdk", "ssh", "telnet", "wsdiscovery"]
    assert facts["http_only"] is True
    assert facts["rtsp_unauth"] is True
    assert facts["onvif_unauth_calls"] == ["GetHostname", "GetSystemDateAndTime"]
    assert facts["onvif_devinfo_unauth"] is False
    assert facts["activated"] is False
    assert facts["clock_offset_s"] == -400.0 and facts["clock_skew_s"] == 400.0
    assert facts["name"] == "gate"
    assert facts["warnings"] == ["wsdiscovery: XML with DOCTYPE refused"]
    assert facts["zones"] == [] and facts["in_inventory"] is None
    assert (facts["maker"], facts["brand"], facts["covered"], facts["needs_review"]) == ("Hikvision", "LTS", True,
                                                                                        False)


def test_facts_unknown_stay_none() -> None:
    facts = device_facts(make_device(mac=None, identity={"device_class": "unknown"}), KevStub(lambda *a: ["CVE-X"]))
    assert facts["kev"] == []  # no maker: nothing to look up
    for name in ("rtsp_unauth", "onvif_devinfo_unauth", "activated", "clock_offset_s", "clock_skew_s", "name",
                 "mac", "maker"):
        assert facts[name] is None, name
    assert facts["http_only"] is False and facts["services"] == [] and facts["onvif_unauth_calls"] == []


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|aa)+$", "(a*)*b", "^(([a-z])+.)+[A-Z]([a-z])+$"])
def test_a_catastrophic_regex_matches_hostile_text_in_linear_time(pattern: str) -> None:
    """With Python's engine each of these took longer than the age of the universe on this
    text (it hung `identify` and a scan past its deadline); RE2 answers at once."""
    import time

    check = OPERATORS["regex"].make(pattern)
    text = "a" * 50_000 + "!"
    t0 = time.perf_counter()
    assert check([text, "b" * 10_000]) in (True, False)
    assert time.perf_counter() - t0 < 0.5
