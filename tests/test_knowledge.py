"""The vendor knowledge base: seed integrity, name resolution, coverage, KEV, schema errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from auditor.errors import OperatorError
from auditor.knowledge import FILES, KevCatalog, KevCatalogEntry, default_directory, load_knowledge

KB = load_knowledge()


def test_loaded_once_and_versioned() -> None:
    assert load_knowledge() is KB
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", KB.version)


@pytest.mark.parametrize(
    ("maker", "covered", "paragraph"),
    [
        ("Hikvision", True, "(f)(3)(B)"),
        ("Dahua", True, "(f)(3)(B)"),
        ("Hytera", True, "(f)(3)(B)"),
        ("Huawei", True, "(f)(3)(A)"),
        ("ZTE", True, "(f)(3)(A)"),
        ("Uniview", False, None),
        ("Tiandy", False, None),
        ("Axis", False, None),
        ("HiSilicon", False, None),
        ("Honor", False, None),
    ],
)
def test_makers_coverage(maker: str, covered: bool, paragraph: str | None) -> None:
    found = KB.maker(maker)
    assert found is not None
    assert found.covered is covered
    assert found.ndaa_889 == paragraph
    if covered:
        assert found.fcc_covered_list
        assert "§889" in (found.covered_basis or "") and "FCC Covered List" in (found.covered_basis or "")


def test_flag_worthy_makers_carry_notes() -> None:
    assert KB.makers["HiSilicon"].review  # a person decides, never auto-fail
    assert KB.makers["Uniview"].note and KB.makers["Tiandy"].note


def test_every_entry_has_a_source() -> None:
    assert all(m.sources and all(s.startswith("http") for s in m.sources) for m in KB.makers.values())
    assert all(b.source.startswith("http") for b in KB.brands.values())
    assert all(s.source.startswith("http") for s in KB.signatures)
    assert all(r.source.startswith("http") for r in KB.oui_rules)
    assert all(k.source.startswith("http") for k in KB.kev)


@pytest.mark.parametrize(
    ("brand", "maker", "relation", "status"),
    [
        ("HiLook", "Hikvision", "own brand", "confirmed"),
        ("HiWatch", "Hikvision", "own brand", "confirmed"),
        ("EZVIZ", "Hikvision", "subsidiary", "confirmed"),
        ("Prama Hikvision India", "Hikvision", "subsidiary", "confirmed"),
        ("LTS", "Hikvision", "OEM relabel", "confirmed"),
        ("Annke", "Hikvision", "OEM relabel", "review"),
        ("Imou", "Dahua", "subsidiary", "confirmed"),
        ("Amcrest", "Dahua", "OEM relabel", "confirmed"),
        ("Lorex", "Dahua", "subsidiary", "review"),
        ("IndigoVision", "Dahua", "OEM relabel", "review"),
    ],
)
def test_brand_relations(brand: str, maker: str, relation: str, status: str) -> None:
    found = KB.brand(brand)
    assert found is not None
    assert (found.maker, found.relation, found.status) == (maker, relation, status)


def test_uncertain_relations_are_marked() -> None:
    assert KB.brands["Swann"].confidence == "low"
    assert KB.brands["Hikrobot"].confidence == "low"
    assert KB.brands["LTS"].confidence == "medium-low"


def test_review_brand_is_not_automatically_covered() -> None:
    lorex = KB.coverage("Dahua", "Lorex")
    assert lorex.covered is False and lorex.review and "Lorex" in lorex.review
    assert KB.coverage("Dahua", "Amcrest").covered is True
    assert KB.coverage("Dahua").covered is True
    assert KB.coverage(None).covered is False
    assert KB.coverage("Axis").covered is False


@pytest.mark.parametrize(
    ("text", "maker", "brand", "relation"),
    [
        ("HIKVISION", "Hikvision", "Hikvision", "maker"),
        ("Hikvision", "Hikvision", "Hikvision", "maker"),
        ("HIKVISION DS-2CD2143G2-I", "Hikvision", "Hikvision", "maker"),
        ("Dahua", "Dahua", "Dahua", "maker"),
        ("LTS", "Hikvision", "LTS", "OEM relabel"),
        ("Prama Hikvision India", "Hikvision", "Prama Hikvision India", "subsidiary"),
        ("PRAMA", "Hikvision", "Prama Hikvision India", "subsidiary"),
        ("EZVIZ", "Hikvision", "EZVIZ", "subsidiary"),
        ("Amcrest", "Dahua", "Amcrest", "OEM relabel"),
        ("Lorex", "Dahua", "Lorex", "subsidiary"),
        ("AXIS M2036-LE", "Axis", "Axis", "maker"),
        ("Hanwha Vision", "Hanwha", "Hanwha", "maker"),
    ],
)
def test_match_name(text: str, maker: str, brand: str, relation: str) -> None:
    found = KB.match_name(text)
    assert found is not None
    assert (found.maker, found.brand, found.relation) == (maker, brand, relation)


@pytest.mark.parametrize(
    "text",
    ["General", "Shanghai Dahua Scale Factory", "<script>alert(1)</script>", "Axisware", "Hiltons", "", None,
     "Lorexa", "ltsx", "Prama India Private Limited"],
)
def test_match_name_refuses_traps(text: str | None) -> None:
    assert KB.match_name(text) is None


def test_signatures_match_by_kind() -> None:
    assert [s.maker for s in KB.match_signatures("http_server", "App-webs/")] == ["Hikvision"]
    assert [s.strength for s in KB.match_signatures("http_server", "Webs")] == ["weak"]
    assert KB.match_signatures("http_server", "Webserver") == []
    hilook = KB.match_signatures("model", "IPC-B140H")
    dahua = KB.match_signatures("model", "IPC-HFW2431S-S-S2")
    assert [(s.maker, s.brand) for s in hilook] == [("Hikvision", None)]  # HiLook and HiWatch share it
    assert [s.maker for s in dahua] == ["Dahua"]
    nvr = KB.match_signatures("model", "DS-7608NI-K2")
    assert [(s.maker, s.device_class) for s in nvr] == [("Hikvision", "recorder")]


# ---- KEV


def test_kev_hikvision_36260() -> None:
    (old,) = [m for m in KB.kev_for("Hikvision", "DS-2CD2143G2-I", "V5.5.82 build 190220") if m.cve == "CVE-2021-36260"]
    assert old.status == "vulnerable" and old.kev_status == "listed" and old.kev_date == "2022-01-10"
    current = KB.kev_for("Hikvision", "DS-2CD2143G2-I", "V5.5.800 build 210628")
    (new,) = [m for m in current if m.cve == "CVE-2021-36260"]
    assert new.status == "fixed"
    (unknown,) = [m for m in KB.kev_for("Hikvision", "DS-2CD2143G2-I", None) if m.cve == "CVE-2021-36260"]
    assert unknown.status == "unknown"


def test_kev_2017_7921_not_in_the_catalogue_gives_nothing() -> None:
    """CVE-2017-7921 is not in CISA's catalogue (checked against 2025.08.25): no KEV answer at all, unless an
    imported catalogue lists it; then its version range (ICSA-17-124-01) decides."""
    assert [m for m in KB.kev_for("Hikvision", "DS-2CD2032-I", "V5.3.0 build 150513") if m.cve == "CVE-2017-7921"] == []
    entry = KevCatalogEntry("CVE-2017-7921", "Hikvision", "IP cameras", "Hikvision Improper Authentication",
                            "2030-01-02", "2030-01-23")
    listed = KB.with_catalog(KevCatalog("2030.01.02", "2030-01-02T00:00:00Z", {entry.cve: entry}))
    (match,) = [m for m in listed.kev_for("Hikvision", "DS-2CD2032-I", "V5.3.0 build 150513")
                if m.cve == "CVE-2017-7921"]
    assert match.status == "vulnerable" and (match.kev_date, match.due_date) == ("2030-01-02", "2030-01-23")
    (fixed,) = [m for m in listed.kev_for("Hikvision", "DS-2CD2032-I", "V5.4.41 build 170312")
                if m.cve == "CVE-2017-7921"]
    assert fixed.status == "fixed"


def test_kev_dahua_by_build_date() -> None:
    old = KB.kev_for("Dahua", "IPC-HFW2431S", "2.800.0000000.16.R, Build Date 2021-03-01")
    assert {m.cve: m.status for m in old} == {"CVE-2021-33044": "vulnerable", "CVE-2021-33045": "vulnerable"}
    new = KB.kev_for("Dahua", "IPC-HFW2431S", "2.800.0000000.16.R, Build Date 2022-01-10")
    assert {m.status for m in new} == {"fixed"}
    assert all(m.kev_date == "2024-08-21" for m in new)


def test_kev_amcrest_only_for_amcrest() -> None:
    amcrest = KB.kev_for("Dahua", "IP4M-1041B", "V2.420.AC00.18.R", brand="Amcrest")
    assert {m.cve: m.status for m in amcrest}["CVE-2020-5735"] == "vulnerable"
    plain = KB.kev_for("Dahua", "IPC-HFW2431S", "2.800.0000000.16.R")
    assert "CVE-2020-5735" not in {m.cve for m in plain}
    assert KB.kev_for("Axis", "M2036-LE", "11.8.61") == []
    assert KB.kev_for(None, None, None) == []


# ---- schema errors name file and line


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy(default_directory() / name, tmp_path / name)
    return tmp_path


def _replace(path: Path, old: str, new: str) -> int:
    text = path.read_text()
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


def test_copy_loads(seed_copy: Path) -> None:
    kb = load_knowledge(seed_copy)
    assert kb is not KB and kb.makers.keys() == KB.makers.keys()


def test_unknown_strength_names_file_and_line(seed_copy: Path) -> None:
    line = _replace(seed_copy / "signatures.yaml", "strength: weak", "strength: feeble")
    with pytest.raises(OperatorError) as err:
        load_knowledge(seed_copy)
    assert err.value.path and err.value.path.endswith("signatures.yaml")
    assert err.value.line is not None and abs(err.value.line - line) <= 12
    assert "feeble" in str(err.value)


def test_unknown_maker_in_brand(seed_copy: Path) -> None:
    brands = seed_copy / "brands.yaml"
    _replace(brands, "maker: Hikvision\n    relation: own brand", "maker: Hikvisoin\n    relation: own brand")
    with pytest.raises(OperatorError, match=r"brands\.yaml:\d+: .*Hikvisoin"):
        load_knowledge(seed_copy)


def test_bad_regex(seed_copy: Path) -> None:
    _replace(seed_copy / "oui-patterns.yaml", "patterns: ['zte corporation']", "patterns: ['zte (corporation']")
    with pytest.raises(OperatorError, match=r"oui-patterns\.yaml:\d+: 'patterns' is not a valid regex"):
        load_knowledge(seed_copy)


def test_invalid_yaml(seed_copy: Path) -> None:
    (seed_copy / "firmware-kev.yaml").write_text("kev:\n  - cve: [unclosed\n")
    with pytest.raises(OperatorError, match=r"firmware-kev\.yaml:\d+: invalid YAML"):
        load_knowledge(seed_copy)


def test_missing_file(seed_copy: Path) -> None:
    (seed_copy / "signatures.yaml").unlink()
    with pytest.raises(OperatorError, match="missing signatures.yaml"):
        load_knowledge(seed_copy)


def test_review_brand_needs_review_text(seed_copy: Path) -> None:
    _replace(seed_copy / "brands.yaml", "    review: \"Lorex was", "    # review: \"Lorex was")
    with pytest.raises(OperatorError, match=r"brands\.yaml:\d+: missing 'review'"):
        load_knowledge(seed_copy)


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("brands.yaml", "    review: \"Lorex was", "    reviewx: \"Lorex was"),
        ("makers.yaml", "    legal_name: Hangzhou Hikvision", "    legal_nam: Hangzhou Hikvision"),
        ("signatures.yaml", "    strength: medium", "    strenght: medium"),
        ("oui-patterns.yaml", "    expected_orgs: ['Axis", "    expected_org: ['Axis"),
        ("firmware-kev.yaml", "    advisory: HSRC-202109-01", "    advisroy: HSRC-202109-01"),
    ],
)
def test_unknown_key_names_file_and_line(seed_copy: Path, name: str, old: str, new: str) -> None:
    """A misspelt key is refused at its own line, never silently ignored."""
    line = _replace(seed_copy / name, old, new)
    with pytest.raises(OperatorError) as err:
        load_knowledge(seed_copy)
    assert err.value.path and err.value.path.endswith(name)
    assert err.value.line == line
    assert "unknown key" in str(err.value) and repr(new.split(":")[0].strip()) in str(err.value)


def test_an_open_port_is_never_a_maker_hint() -> None:
    # The web probe asks a maker's identity API without waiting for the port probe (they run side by side):
    # that is only sound while no port signature is strong enough to be a maker hint (medium or more).
    from auditor.identify import maker_hints
    from auditor.models import Observation

    ports = [s for s in KB.signatures if s.kind == "port"]
    assert ports and all(s.maker is None or s.strength == "weak" for s in ports)
    every_port = Observation(ip="198.18.0.9", probe="ports", fields={"open": list(range(1, 65536)), "banners": {}})
    assert maker_hints([every_port], KB) == set()
