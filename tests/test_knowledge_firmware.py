"""Vendor-aware firmware parsing and ordering (auditor/firmware.py)."""

from __future__ import annotations

from datetime import date

import pytest

from auditor.firmware import (
    build_date_before,
    compare_firmware,
    firmware_before,
    parse_firmware_version,
)


@pytest.mark.parametrize(
    ("text", "scheme", "numbers", "branch", "built"),
    [
        ("V5.5.0 build 170725", "hikvision", (5, 5, 0), None, date(2017, 7, 25)),
        ("V5.7.3build 220112", "hikvision", (5, 7, 3), None, date(2022, 1, 12)),
        ("V5.5.800_210628", "hikvision", (5, 5, 800), None, date(2021, 6, 28)),
        ("5.4.41", "hikvision", (5, 4, 41), None, None),
        ("V4.30.210 build 200720", "hikvision", (4, 30, 210), None, date(2020, 7, 20)),
        ("2.800.0000000.16.R, Build Date 2021-08-25", "dahua", (2, 800, 16), "0000000", date(2021, 8, 25)),
        ("V2.420.AC00.18.R", "dahua", (2, 420, 18), "AC00", None),
        ("2.800.0000018.0.R", "dahua", (2, 800, 0), "0000018", None),
        ("10.12.4.1", "hikvision", (10, 12, 4, 1), None, None),
        ("AXIS OS 11.8.61", "generic", (11, 8, 61), None, None),
    ],
)
def test_parse_known_formats(
    text: str, scheme: str, numbers: tuple[int, ...], branch: str | None, built: date | None
) -> None:
    version = parse_firmware_version(text)
    assert version is not None
    assert version.scheme == scheme
    assert version.numbers == numbers
    assert version.branch == branch
    assert version.build_date == built
    assert str(version) == text


@pytest.mark.parametrize("junk", ["", None, "unknown", "<script>alert(1)</script>", "N/A"])
def test_parse_returns_none_without_numbers(junk: str | None) -> None:
    assert parse_firmware_version(junk) is None


def test_parse_bounds_length() -> None:
    version = parse_firmware_version("V5.5.0 build 170725" + "x" * 10_000)
    assert version is not None and len(version.raw) <= 256


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("V5.5.0 build 170725", "V5.5.800 build 210628", -1),
        ("V5.5.800 build 210628", "V5.5.800 build 210628", 0),
        ("V5.5.800 build 210701", "V5.5.800 build 210628", 1),  # same version, later build
        ("V5.5.800 build 210101", "V5.5.800 build 210628", -1),
        ("V5.6.3 build 200909", "V5.5.800 build 210628", 1),  # 5.6 > 5.5 despite older build
        ("5.4.5", "5.4.41", -1),  # numeric, not lexical
        ("5.4.41", "5.4.41 build 170312", 0),  # a missing build date is not a difference
        ("V5.4.0", "5.4", 0),
        # Dahua: same branch orders by build number, then date
        ("2.800.0000000.16.R", "2.800.0000000.18.R", -1),
        ("2.800.0000000.16.R, Build Date 2021-08-25", "2.800.0000000.16.R, Build Date 2021-05-01", 1),
        # different branches: baseline first, then date; build numbers are not comparable
        ("2.800.0000018.99.R, Build Date 2021-01-01", "2.800.0000000.1.R, Build Date 2021-09-01", -1),
        ("2.820.0000000.1.R", "2.800.0000000.40.R", 1),
    ],
)
def test_compare(a: str, b: str, expected: int) -> None:
    assert compare_firmware(a, b) == expected
    assert compare_firmware(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2.800.0000000.16.R", "V5.5.0 build 170725"),  # Dahua vs Hikvision line
        ("V2.420.0000000.18.R", "V2.420.AC00.18.R"),  # other branch, same baseline, no build dates
        ("V2.420.0000000.99.R", "V2.420.AC00.18.R, Build Date 2019-01-01"),
        ("unknown", "V5.5.0"),
        (None, "V5.5.0"),
    ],
)
def test_compare_refuses_meaningless_orderings(a: str | None, b: str) -> None:
    assert compare_firmware(a, b) is None
    assert firmware_before(a, b) is None


def test_firmware_before() -> None:
    assert firmware_before("V5.5.0 build 170725", "V5.5.800 build 210628") is True
    assert firmware_before("V5.5.800 build 210628", "V5.5.800 build 210628") is False


def test_kev_other_dahua_branch_without_dates_is_not_vulnerable() -> None:
    """Amcrest's KEV line names V2.420.AC00.18.R as last affected; another branch of the
    same baseline without build dates cannot be placed against it: unknown, not 'vulnerable'."""
    from auditor.knowledge import load_knowledge

    matches = load_knowledge().kev_for("Dahua", "IP4M-1041B", "V2.420.0000000.25.R", brand="Amcrest")
    assert [(m.cve, m.status) for m in matches if m.cve == "CVE-2020-5735"] == [("CVE-2020-5735", "unknown")]
    same = load_knowledge().kev_for("Dahua", "IP4M-1041B", "V2.420.AC00.17.R", brand="Amcrest")
    assert [(m.cve, m.status) for m in same if m.cve == "CVE-2020-5735"] == [("CVE-2020-5735", "vulnerable")]


def test_build_date_before() -> None:
    cutoff = date(2021, 8, 1)
    assert build_date_before("2.800.0000000.16.R, Build Date 2021-06-25", cutoff) is True
    assert build_date_before("2.800.0000000.16.R, Build Date 2021-08-25", cutoff) is False
    assert build_date_before("2.800.0000000.16.R", cutoff) is None
    assert build_date_before("V5.5.0 build 170725", cutoff) is True
