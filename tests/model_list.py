"""The project's model-code list, fed to identification "as a scan sees it".

Data: ``tests/data/models/`` (provenance in its README). Three ways a scan meets a
listed camera: an ONVIF GetDeviceInformation answer (Manufacturer + Model), the
model alone (ONVIF Model with an empty Manufacturer), and a WS-Discovery
ProbeMatch (``name`` and ``hardware`` scopes). ``expectations.yaml`` says what
identification must conclude for each listed brand. Used by the tests and by
``bench/identify_models.py`` (which prints the rates).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.assemble import assemble
from auditor.identify import identify
from auditor.knowledge import KnowledgeBase
from auditor.models import Identity, Observation

DATA = Path(__file__).parent / "data" / "models"
MODES = ("onvif", "model", "wsd")
IP = "198.18.7.7"

_CODE = re.compile(r"^(?=[^ ]*\d)(?=[^ ]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9./-]{2,}$")


@dataclass(frozen=True)
class Listed:
    brand: str
    """Brand as the list names it."""
    listed_model: str
    """Model text as listed (marketing name and code)."""
    model: str
    """What a device would report as its model (see :func:`device_model`)."""
    manufacturer: str
    expect: str
    """covered | independent | review"""
    maker: str | None
    possible: tuple[str, ...]


def device_model(listed: str) -> str:
    """The model string a device reports for a listed entry.

    The list mixes marketing names and codes ("4K AI Bullet PoE (IP8M-2493E)",
    "IPC-HDW3849H-AS-PV (EU)", "Sarix Enhanced 4 IBV532-1ER"). A device reports the
    code: a code in parentheses wins; other parenthesised notes (regions, variants)
    are dropped; then the first code-like word of five characters or more; else the
    text as listed ("Tapo C200", "Argus 3 Pro").
    """
    inner = [part.strip() for part in re.findall(r"\(([^)]*)\)", listed) if _CODE.match(part.strip())]
    if inner:
        return inner[-1]
    text = " ".join(re.sub(r"\([^)]*\)", " ", listed).split())
    codes = [word for word in text.split(" ") if len(word) >= 5 and _CODE.match(word)]
    return codes[0] if codes else text


def load_expectations() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((DATA / "expectations.yaml").read_text(encoding="utf-8"))
    return dict(data["brands"])


def listed() -> list[Listed]:
    expectations = load_expectations()
    out: list[Listed] = []
    with (DATA / "cctv-camera-database.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            want = expectations[row["brand"]]
            out.append(Listed(
                brand=row["brand"], listed_model=row["model"], model=device_model(row["model"]),
                manufacturer=want.get("manufacturer", row["brand"]), expect=want["expect"],
                maker=want.get("maker"), possible=tuple(want.get("possible", ())),
            ))
    return out


def observation(item: Listed, mode: str) -> Observation:
    if mode == "onvif":
        return Observation(IP, "onvif", {"xaddr": f"http://{IP}/onvif/device_service",
                                         "manufacturer": item.manufacturer, "model": item.model})
    if mode == "model":
        return Observation(IP, "onvif", {"xaddr": f"http://{IP}/onvif/device_service",
                                         "manufacturer": "", "model": item.model})
    if mode == "wsd":
        return Observation(IP, "wsdiscovery", {
            "endpoint": "urn:uuid:00000000-0000-0000-0000-000000000001",
            "types": ["NetworkVideoTransmitter", "Device"],
            "name": item.manufacturer, "hardware": item.model,
            "scopes": [f"onvif://www.onvif.org/name/{item.manufacturer}",
                       f"onvif://www.onvif.org/hardware/{item.model}"]})
    raise ValueError(mode)


def identify_listed(item: Listed, mode: str, kb: KnowledgeBase) -> Identity:
    (host,) = assemble([observation(item, mode)])
    return identify(host, kb)


def outcome(item: Listed, ident: Identity) -> str:
    """right | unknown | wrong-covered | missed-covered | other-maker | silent-unknown."""
    possible = tuple(getattr(ident, "possible_makers", ()) or ())
    if item.expect == "covered":
        if ident.covered:
            return "right"
        return "unknown" if ident.maker is None and not possible else "missed-covered"
    if item.expect == "independent":
        if ident.covered:
            return "wrong-covered"
        if ident.maker == item.maker:
            return "right"
        return "unknown" if ident.maker is None else "other-maker"
    # review: covered (a firmware-level tell settled it) or needs review with the listed candidates
    if ident.covered or (possible and set(item.possible) <= set(possible)):
        return "right"
    return "silent-unknown" if ident.maker is None and not possible else "other-maker"


def tally(kb: KnowledgeBase, mode: str) -> dict[str, Counter[str]]:
    """Outcome counts per expectation class for one mode."""
    counts: dict[str, Counter[str]] = {}
    for item in listed():
        counts.setdefault(item.expect, Counter())[outcome(item, identify_listed(item, mode, kb))] += 1
    return counts


def rows(kb: KnowledgeBase, mode: str) -> Iterator[tuple[Listed, Identity, str]]:
    for item in listed():
        ident = identify_listed(item, mode, kb)
        yield item, ident, outcome(item, ident)
