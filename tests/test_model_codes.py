"""Model-code grammar and identification against real model lists (tests/data/models/).

* every covered-line signature matches the real codes of its line, and the model code
  alone identifies them as covered (or "needs review" for a relabel line under review);
* no signature pointing to a covered maker matches any code of a non-covered maker
  (the project's own list and the iSpy list, minus reviewed mis-filings);
* the listed cameras, fed as a scan sees them (ONVIF Manufacturer + Model, WS-Discovery
  name + hardware scopes), come out as expectations.yaml says: independent makers named
  and not covered, covered makers covered, relabel brands covered or "needs review" with
  their candidates — never "unknown" for a maker the knowledge base knows.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from typing import Any

import pytest
import yaml
from model_list import DATA, Listed, device_model, identify_listed, listed, load_expectations, outcome

from auditor.assemble import assemble
from auditor.identify import identify
from auditor.knowledge import Signature, load_knowledge
from auditor.models import Observation

KB = load_knowledge()
LINES: dict[str, Any] = yaml.safe_load((DATA / "covered-lines.yaml").read_text(encoding="utf-8"))
EXPECT: dict[str, Any] = yaml.safe_load((DATA / "expectations.yaml").read_text(encoding="utf-8"))
LISTED = listed()
SIGNATURES = {s.id: s for s in KB.signatures}


def _points_to_covered(sig: Signature) -> bool:
    """The signature can make a device covered: its maker is covered, or its brand lists a covered maker."""
    if sig.maker is not None and KB.makers[sig.maker].covered:
        return True
    if sig.brand is not None:
        return any(KB.makers[m].covered for m in KB.brands[sig.brand].candidates)
    return False


COVERED_MODEL_SIGNATURES = [s for s in KB.signatures if s.kind == "model" and _points_to_covered(s)]


def _ispy_rows() -> list[tuple[str, str]]:
    with (DATA / "ispy-camera-db.csv").open(encoding="utf-8", newline="") as fh:
        return [(row["ispy_brand"], row["model"]) for row in csv.DictReader(fh)]


ISPY = _ispy_rows()
ISPY_MODELS = {model for _, model in ISPY}
EXCLUDED = {(e["brand"], e["model"]) for e in EXPECT["ispy_excluded"]}


def _non_covered_codes() -> list[tuple[str, str]]:
    """(where, code) for every code of a non-covered maker in both lists."""
    out = [(f"cctvdb {item.brand}", item.model) for item in LISTED if item.expect == "independent"]
    out += [(f"ispy {brand}", model) for brand, model in ISPY
            if brand in EXPECT["ispy_independent"] and (brand, model) not in EXCLUDED]
    return out


def _line_cases() -> list[Any]:
    return [pytest.param(line, source, code, id=f"{line['signature']}:{code}")
            for line in LINES["lines"] for source, codes in line["codes"].items() for code in codes]


# ---- covered-line grammar against real codes


def test_every_covered_line_signature_has_real_codes() -> None:
    tested = {line["signature"] for line in LINES["lines"]}
    untested = set(LINES["untested"])
    missing = {s.id for s in COVERED_MODEL_SIGNATURES} - tested - untested
    assert missing == set(), f"covered-line signatures without real codes in covered-lines.yaml: {sorted(missing)}"
    assert tested <= set(SIGNATURES) and untested <= set(SIGNATURES), "covered-lines.yaml names unknown signatures"
    assert not tested & untested


@pytest.mark.parametrize(("line", "source", "code"), _line_cases())
def test_covered_line_code(line: dict[str, Any], source: str, code: str) -> None:
    assert source in LINES["sources"], f"{code}: unknown source {source!r}"
    if source == "cctvdb":
        assert any(code in (item.model, item.listed_model) for item in LISTED), f"{code} is not in the cctvdb list"
    if source == "ispy":
        assert code.upper() in ISPY_MODELS, f"{code} is not in the iSpy list"
    sig = SIGNATURES[line["signature"]]
    assert sig.pattern.search(code), f"{sig.id} does not match the real code {code}"
    if line["expect"] == "weak":
        return
    (host,) = assemble([Observation("198.18.7.8", "onvif", {"xaddr": "http://198.18.7.8/onvif", "model": code})])
    ident = identify(host, KB)
    if line["expect"] == "covered":
        assert ident.covered, f"{code}: model alone should be covered; got {ident.maker} {ident.conflicts}"
    elif line["expect"] == "review":
        assert not ident.covered and set(line["possible"]) <= set(ident.possible_makers), (
            f"{code}: expected needs review with {line['possible']}; got {ident.maker} {ident.possible_makers}")
        assert ident.possible_covered and ident.review
    else:
        assert (ident.maker, ident.covered, ident.possible_makers) == (line["maker"], False, ())


# ---- no covered pattern on another maker's line


def test_no_covered_pattern_matches_a_non_covered_makers_code() -> None:
    codes = _non_covered_codes()
    assert len(codes) > 5000
    hits = [(where, code, sig.id) for where, code in codes for sig in COVERED_MODEL_SIGNATURES
            if sig.pattern.search(code)]
    assert hits == [], f"covered patterns matching non-covered makers' codes: {hits[:20]}"


def test_exclusions_are_still_needed() -> None:
    """A reviewed mis-filing that no covered pattern matches any more is stale: remove it."""
    for brand, model in EXCLUDED:
        assert (brand, model) in set(ISPY), f"{brand} {model}: not in the iSpy list"
        assert any(s.pattern.search(model) for s in COVERED_MODEL_SIGNATURES), f"{brand} {model}: stale exclusion"


def test_dahua_ptz_pattern_spares_vivotek_speed_domes() -> None:
    ptz = SIGNATURES["model.dahua.ptz"]
    for vivotek in ("SD9384-EHL", "SD9388-EHL", "SD8364E", "SD8312E"):
        assert not ptz.pattern.search(vivotek)
    for dahua in ("SD49225XA-HNR", "DH-SD22204T-GN", "SD6C3432XB-HNR", "SD1A404XB-GNR"):
        assert ptz.pattern.search(dahua)


@pytest.mark.parametrize(
    ("code", "maker", "brand"),
    [
        ("IPC-B140H", "Hikvision", None),        # HiLook: a dash after IPC, three digits, then H
        ("IPC-HFW2431S-S-S2", "Dahua", None),    # Dahua: a dash after IPC, then the form-factor letters
        ("IPC3612SB-ADF28KM-I0", "Uniview", None),  # Uniview: no dash after IPC
        ("IPC-A22EP", "Dahua", "Imou"),          # Imou: one letter, two digits
        ("IPC2151-HN-S", "Kedacom", None),       # Kedacom: four digits then -HN
        ("IPC6512-Z30", "Huawei", None),         # Huawei IPC6000: four digits then a dash
    ],
)
def test_ipc_prefix_collisions(code: str, maker: str, brand: str | None) -> None:
    matched = {(s.maker, s.brand) for s in KB.match_signatures("model", code) if s.strength != "weak"}
    assert matched == {(maker, brand)}


# ---- the list as a scan sees it


def _tally(mode: str) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for item in LISTED:
        counts.setdefault(item.expect, Counter())[outcome(item, identify_listed(item, mode, KB))] += 1
    return counts


def _misses(mode: str, expect: str) -> list[str]:
    out = []
    for item in LISTED:
        if item.expect != expect:
            continue
        ident = identify_listed(item, mode, KB)
        if outcome(item, ident) != "right":
            out.append(f"{item.brand} {item.model!r}: maker={ident.maker} covered={ident.covered} "
                       f"possible={ident.possible_makers} conflicts={ident.conflicts}")
    return out


@pytest.mark.parametrize("mode", ["onvif", "wsd"])
def test_named_devices_are_identified(mode: str) -> None:
    """Manufacturer / name scope + model: every listed camera comes out as expected."""
    for expect in ("covered", "independent", "review"):
        assert _misses(mode, expect) == []


def test_model_alone_never_accuses_and_never_misnames() -> None:
    counts = _tally("model")
    assert counts["independent"]["wrong-covered"] == 0, _misses("model", "independent")
    assert counts["independent"]["other-maker"] == 0, _misses("model", "independent")
    assert counts["covered"]["missed-covered"] == 0
    assert counts["review"]["other-maker"] == 0
    # what the grammar recognises from the code alone (marketing names such as "C6N" or
    # "Ranger 2" stay unknown by design): floors that catch a regression
    covered = counts["covered"]
    assert covered["right"] / sum(covered.values()) >= 0.85


def test_review_brands_are_never_silent() -> None:
    """Named relabel brands: covered, or needs review with the candidates and the reason."""
    for item in LISTED:
        if item.expect != "review":
            continue
        ident = identify_listed(item, "onvif", KB)
        assert ident.covered or (ident.possible_covered and ident.review and ident.relation_text), item


def test_every_listed_brand_has_an_expectation() -> None:
    assert {item.brand for item in LISTED} == set(load_expectations())
    assert all(isinstance(item, Listed) for item in LISTED)


@pytest.mark.parametrize(
    ("listed_model", "reported"),
    [
        ("4K AI Bullet PoE (IP8M-2493E)", "IP8M-2493E"),
        ("IPC-HDW3849H-AS-PV (EU)", "IPC-HDW3849H-AS-PV"),
        ("DS-2CD2023G2-I(U)", "DS-2CD2023G2-I"),
        ("Sarix Enhanced 4 IBV532-1ER", "IBV532-1ER"),
        ("Tapo C200", "Tapo C200"),
        ("Argus 3 Pro", "Argus 3 Pro"),
    ],
)
def test_device_model_as_reported(listed_model: str, reported: str) -> None:
    assert device_model(listed_model) == reported


def test_list_provenance_is_recorded() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for needle in ("ch-bas/cctv-camera-databse", "243c7e9f8a8a4f7bfd32f7dc250dcfe2d3242640",
                   "eduard256/Strix", "4c03ad8d3c083a4a4eaeb07eec5a1b164df35d34"):
        assert needle in readme
    assert re.search(r"CC0", readme)
