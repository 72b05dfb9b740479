"""Vendor-aware firmware version parsing and comparison.

Camera firmware strings are not semver. The two formats that matter most here:

* Hikvision: ``V5.5.0 build 170725`` / ``V5.7.3build 220112`` / ``5.4.41`` — a dotted
  version, optionally followed by a six-digit ``YYMMDD`` build date.
* Dahua (and its OEMs such as Amcrest): ``2.800.0000000.16.R, Build Date 2021-08-25``
  / ``V2.420.AC00.18.R`` — major, baseline, a customer/project field, a build number and
  a release letter, optionally followed by a build date.

Anything else is parsed generically: the first dotted number (a lone integer is not a version), plus any
``YYYY-MM-DD`` date found. ``compare_firmware`` returns ``None`` when two strings cannot
be ordered honestly (no numbers, or different schemes), so callers never mistake
"unknown" for "old" or "new".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Scheme = Literal["hikvision", "dahua", "generic"]

_MAX_LEN = 256

_DAHUA = re.compile(
    r"""^\s*V?(?P<major>\d{1,3})\.(?P<baseline>\d{1,4})\.(?P<branch>[0-9A-Za-z]{1,12})
        \.(?P<build>\d{1,5})\.(?P<letter>[A-Za-z])\b""",
    re.VERBOSE,
)
_HIK = re.compile(
    r"""^\s*V?(?P<version>\d{1,4}(?:\.\d{1,5}){1,3})(?![\d.])
        (?:\s*[_,]?\s*build\s*[:_]?\s*(?P<build>\d{6})\b|_(?P<build2>\d{6})\b)?""",
    re.VERBOSE | re.IGNORECASE,
)
_GENERIC = re.compile(r"(?<![\w.])(?P<version>\d{1,5}(?:\.\d{1,7})+)")
_ISO_DATE = re.compile(r"(?P<y>(?:19|20)\d\d)[-/.](?P<m>\d\d)[-/.](?P<d>\d\d)")


@dataclass(frozen=True)
class FirmwareVersion:
    """A parsed firmware string."""

    raw: str
    scheme: Scheme
    numbers: tuple[int, ...]
    """Ordered numeric parts: Hikvision (5, 5, 0); Dahua (major, baseline, build number)."""
    branch: str | None = None
    """Dahua's customer/project field (``0000000``, ``AC00``); builds of different branches
    are still ordered by (major, baseline) and build date, not by build number."""
    build_date: date | None = None

    def __str__(self) -> str:
        return self.raw


def _yymmdd(text: str) -> date | None:
    try:
        return date(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None


def _iso(text: str) -> date | None:
    match = _ISO_DATE.search(text)
    if not match:
        return None
    try:
        return date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def parse_firmware_version(text: str | None) -> FirmwareVersion | None:
    """Parse a firmware string; None when it holds no version number at all."""
    if not text:
        return None
    raw = str(text).strip()[:_MAX_LEN]
    match = _DAHUA.match(raw)
    if match:
        return FirmwareVersion(
            raw=raw,
            scheme="dahua",
            numbers=(int(match["major"]), int(match["baseline"]), int(match["build"])),
            branch=match["branch"].upper(),
            build_date=_iso(raw[match.end():]),
        )
    match = _HIK.match(raw)
    if match:
        build = match["build"] or match["build2"]
        return FirmwareVersion(
            raw=raw,
            scheme="hikvision",
            numbers=tuple(int(p) for p in match["version"].split(".")),
            build_date=_yymmdd(build) if build else _iso(raw[match.end():]),
        )
    match = _GENERIC.search(raw)
    if not match:
        return None
    return FirmwareVersion(
        raw=raw,
        scheme="generic",
        numbers=tuple(int(p) for p in match["version"].split(".")),
        build_date=_iso(raw),
    )


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    pa = a + (0,) * (width - len(a))
    pb = b + (0,) * (width - len(b))
    return (pa > pb) - (pa < pb)


def _cmp_dates(a: date | None, b: date | None) -> int:
    if a is None or b is None:
        return 0
    return (a > b) - (a < b)


def compare_firmware(a: str | FirmwareVersion | None, b: str | FirmwareVersion | None) -> int | None:
    """-1 / 0 / 1 like ``cmp(a, b)``; None when the two cannot be ordered.

    Hikvision and generic versions compare by their numbers, then by build date when
    both carry one. Dahua versions compare by (major, baseline); within the same branch
    by build number; then by build date. A Dahua string never compares with a
    Hikvision one (different firmware lines: the answer would be meaningless).
    """
    va = a if isinstance(a, FirmwareVersion) else parse_firmware_version(a)
    vb = b if isinstance(b, FirmwareVersion) else parse_firmware_version(b)
    if va is None or vb is None:
        return None
    if (va.scheme == "dahua") != (vb.scheme == "dahua"):
        return None
    if va.scheme == "dahua":
        result = _cmp(va.numbers[:2], vb.numbers[:2])
        if result == 0 and va.branch == vb.branch:
            result = _cmp(va.numbers[2:], vb.numbers[2:])
        if result == 0 and va.branch != vb.branch and (va.build_date is None or vb.build_date is None):
            return None  # other branch, same baseline, no dates: nothing orders them
        if result == 0:
            result = _cmp_dates(va.build_date, vb.build_date)
        return result
    result = _cmp(va.numbers, vb.numbers)
    if result == 0:
        result = _cmp_dates(va.build_date, vb.build_date)
    return result


def firmware_before(actual: str | FirmwareVersion | None, fixed: str | FirmwareVersion | None) -> bool | None:
    """True when ``actual`` is older than ``fixed``; None when that cannot be decided."""
    result = compare_firmware(actual, fixed)
    return None if result is None else result < 0


def build_date_before(actual: str | FirmwareVersion | None, cutoff: date) -> bool | None:
    """True when ``actual``'s build date is before ``cutoff``; None when it carries no date."""
    version = actual if isinstance(actual, FirmwareVersion) else parse_firmware_version(actual)
    if version is None or version.build_date is None:
        return None
    return version.build_date < cutoff
