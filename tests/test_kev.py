"""Known-exploited vulnerabilities, exact: real firmware strings from the corpus against the reviewed ranges,
relabels judged on their maker's advisory, no word about a CVE the build is fixed for, and CISA's
catalogue imported with `camaudit kev update` (tests/assets/kev: an excerpt of CISA's own file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from real_corpus import load_manifest, message

from auditor.cli import cli
from auditor.kev import concerns, gaps, parse_catalog, read_catalog
from auditor.knowledge import default_directory, load_knowledge
from auditor.models import Device, Host, Identity
from auditor.policy import device_facts
from auditor.probes import vendorapi
from auditor.store import Store

KB = load_knowledge()
CATALOG = Path(__file__).parent / "assets" / "kev" / "kev-2025.08.25-excerpt.json"


def _real_firmware() -> dict[str, str]:
    """Model → firmware (with build date) as real Hikvision recorders and cameras reported them."""
    out: dict[str, str] = {}
    for item in load_manifest():
        if item.kind == "isapi_channels":
            for c in vendorapi.parse_isapi_channels(message(item)):
                if c.model and c.firmware:
                    out.setdefault(c.model, c.firmware)
        elif item.kind == "isapi_device_info":
            info = vendorapi.parse_isapi_device_info(message(item))
            if info.model and info.firmware:
                out.setdefault(info.model, f"{info.firmware} {info.firmware_date or ''}".strip())
    return out


REAL = _real_firmware()


def facts(maker: str, model: str | None, firmware: str | None, brand: str | None = None,
          relation: str | None = "maker", kb: Any = KB) -> dict[str, Any]:
    host = Host(key="mac:c0:56:e3:00:00:01", ip="198.18.0.99", mac="c0:56:e3:00:00:01")
    ident = Identity(maker=maker, brand=brand or maker, relation=relation, device_class="camera", model=model,
                     firmware=firmware, covered=True)
    return device_facts(Device(host, ident), kb)


@pytest.mark.parametrize(("model", "kev", "unverified"), [
    ("DS-2CD2342WD-I", ["CVE-2021-36260"], []),      # V5.5.82 build 190909: years before the fix
    ("DS-2CD2055FWD-I", ["CVE-2021-36260"], []),     # V5.6.6 build 210625: three days before the fixed builds
    ("DS-2CD2346G2-I", [], []),                      # V5.5.801 build 211105: after the fix, no word at all
    ("DS-2CD2046G2-IU", [], []),                     # V5.7.18 build 240826
    ("DS-2CD2386G2-IU", [], []),                     # V5.7.15 build 240201
])
def test_real_hikvision_firmware_against_cve_2021_36260(model: str, kev: list[str], unverified: list[str]) -> None:
    found = facts("Hikvision", model, REAL[model])
    assert (found["kev"], found["kev_unverified"]) == (kev, unverified), REAL[model]
    if kev:
        assert found["kev_listed"] == ["CVE-2021-36260 (added to KEV 2022-01-10, due 2022-01-24)"]


def test_isapi_firmware_is_placed_with_its_separate_build_date() -> None:
    """ISAPI deviceInfo gives firmwareVersion V5.7.14 and firmwareReleasedDate build 231028 apart: identification
    joins them, so the build is placed (fixed) instead of 'cannot be ruled out'."""
    from auditor.identify import identify
    from auditor.models import Observation

    info = vendorapi.parse_isapi_device_info((Path(__file__).parent / "real" / "data" / "isapi" /
                                              "hikvision_next-ipc.xml").read_bytes())
    host = Host(key="k", ip="198.18.0.9", mac=None,
                observations=(Observation("198.18.0.9", "login", {"device_info": info.fields()}),))
    ident = identify(host, KB)
    assert ident.firmware == "V5.7.14 build 231028"
    assert facts("Hikvision", ident.model, ident.firmware)["kev_unverified"] == []
    bare = facts("Hikvision", ident.model, "V5.7.14")
    assert bare["kev_unverified"] == ["CVE-2021-36260"] and "no build date" in bare["kev_notes"][0]


def test_a_relabel_is_judged_on_its_makers_advisory() -> None:
    lts = facts("Hikvision", "CMIP3C42W-28M", "V5.5.82 build 190220", brand="LTS", relation="OEM relabel")
    assert lts["kev"] == ["CVE-2021-36260"]
    hiwatch = facts("Hikvision", "HWI-T220H", REAL["HWI-T220H"], brand="HiWatch", relation="own brand")
    assert hiwatch["kev"] == ["CVE-2021-36260"]
    patched = facts("Hikvision", "CMIP3C42W-28M", "V5.7.3 build 220112", brand="LTS", relation="OEM relabel")
    assert patched["kev"] == [] and patched["kev_unverified"] == []
    # A subsidiary with its own product lines and advisories (EZVIZ) is not judged on Hikvision's.
    ezviz = facts("Hikvision", "CS-C6N-A0-1C2WFR", "V5.2.7build 200323", brand="EZVIZ", relation="subsidiary")
    assert ezviz["kev"] == [] and ezviz["kev_unverified"] == []


@pytest.mark.parametrize(("firmware", "why"), [
    (None, "reported no firmware"),
    ("unknown", "holds no version number"),
    ("V4.62.210 build 230612", "does not cover"),  # a recorder line (real: DS-7608NXI-I2) not in the excerpt
])
def test_only_an_unplaceable_firmware_gets_the_note_and_it_says_why(firmware: str | None, why: str) -> None:
    found = facts("Hikvision", "DS-7608NXI-I2/8P/S", firmware)
    assert found["kev"] == [] and found["kev_unverified"] == ["CVE-2021-36260"]
    assert why in found["kev_notes"][0], found["kev_notes"]


def test_real_dahua_firmware_by_build_date() -> None:
    built = "2.800.0000016.0.R,build:2020-06-05"  # tests/real/data/dahua/rroller-getSoftwareVersion.txt
    assert built == (Path(__file__).parent / "real" / "data" / "dahua" /
                     "rroller-getSoftwareVersion.txt").read_text().strip().removeprefix("version=")
    assert facts("Dahua", "IPC-HDW5831R-ZE", built)["kev"] == ["CVE-2021-33044", "CVE-2021-33045"]
    assert facts("Dahua", "IPC-HDW5831R-ZE", "2.800.0000016.0.R,build:2022-06-05")["kev_unverified"] == []


def test_a_cve_not_in_the_catalogue_gives_no_finding() -> None:
    old = facts("Hikvision", "DS-2CD2032-I", "V5.3.0 build 150513")  # CVE-2017-7921's range; not KEV-listed
    assert "CVE-2017-7921" not in old["kev"] + old["kev_unverified"]


# ------------------------------------------------------------------ the catalogue


def test_the_real_catalogue_excerpt_parses() -> None:
    catalog, digest = read_catalog(CATALOG)
    assert catalog.version == "2025.08.25" and catalog.released.startswith("2025-08-25")
    assert len(catalog.entries) == 7 and len(digest) == 64
    hik = catalog.entries["CVE-2021-36260"]
    assert (hik.vendor, hik.date_added, hik.due_date) == ("Hikvision", "2022-01-10", "2022-01-24")
    assert {c.entry.cve: c.maker for c in concerns(catalog, KB)} == {
        "CVE-2020-5735": "Dahua", "CVE-2021-33044": "Dahua", "CVE-2021-33045": "Dahua", "CVE-2021-36260": "Hikvision"}
    assert gaps(catalog, KB) == []  # the knowledge base has a reviewed range for each of them


def test_a_covered_makers_entry_without_a_range_is_reported(tmp_path: Path) -> None:
    seeds = tmp_path / "vendors"
    shutil.copytree(default_directory(), seeds)
    kev = yaml.safe_load((seeds / "firmware-kev.yaml").read_text())
    kev["kev"] = [e for e in kev["kev"] if e["cve"] != "CVE-2020-5735"]
    (seeds / "firmware-kev.yaml").write_text(yaml.safe_dump(kev))
    catalog, _ = read_catalog(CATALOG)
    assert [(g.entry.cve, g.maker) for g in gaps(catalog, load_knowledge(seeds))] == [("CVE-2020-5735", "Dahua")]


def test_kev_update_stores_the_catalogue_and_audits_take_its_dates(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    result = CliRunner().invoke(cli, ["kev", "update", str(CATALOG), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "catalogue 2025.08.25" in result.output and "7 entries: imported" in result.output
    assert "4 concern covered makers' products; 4 have a version range in the knowledge base, 0 have none yet" \
        in result.output
    assert "CVE-2021-36260   Hikvision" in result.output and "(added 2022-01-10, due 2022-01-24)" in result.output
    again = CliRunner().invoke(cli, ["kev", "update", str(CATALOG), "--db", str(db)])
    assert again.exit_code == 0 and "already the newest catalogue here" in again.output
    # A catalogue that moved a date: the imported one decides, the seed's range still places the build.
    doc = json.loads(CATALOG.read_text())
    for entry in doc["vulnerabilities"]:
        if entry["cveID"] == "CVE-2021-36260":
            entry["dueDate"] = "2030-01-01"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    assert CliRunner().invoke(cli, ["kev", "update", str(newer), "--db", str(db)]).exit_code == 0
    with Store(db) as store:
        catalog = store.kev_catalog()
        assert catalog is not None
        dated = facts("Hikvision", "DS-2CD2342WD-I", REAL["DS-2CD2342WD-I"], kb=KB.with_catalog(catalog))
        assert dated["kev_listed"] == ["CVE-2021-36260 (added to KEV 2022-01-10, due 2030-01-01)"]
        assert [r["version"] for r in store.db.query("SELECT version FROM kev_catalog")] == ["2025.08.25"] * 2


@pytest.mark.parametrize("content", [
    b"not json at all",
    b'{"catalogVersion": "1", "vulnerabilities": {}}',
    b'{"vulnerabilities": []}',
    b'{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-1"}]}',
    b'{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-2021-36260", "vendorProject": "H", "product": "p",'
    b' "vulnerabilityName": "n", "dateAdded": "yesterday", "dueDate": "2022-01-24"}]}',
    b'{"catalogVersion": "1", "catalogVersion": "2", "vulnerabilities": []}',
    b'{"catalogVersion": NaN, "vulnerabilities": []}',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    db = tmp_path / "k.db"
    result = CliRunner().invoke(cli, ["kev", "update", str(bad), "--db", str(db)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0], result.output
    if db.exists():
        with Store(db) as store:
            assert store.kev_catalog() is None


def test_parse_catalog_checks_every_entry() -> None:
    with pytest.raises(Exception, match="vulnerabilities\\[1\\].*not a CVE id"):
        parse_catalog(b'{"catalogVersion": "1", "vulnerabilities": [{"cveID": "CVE-x", "vendorProject": "H",'
                      b' "product": "p", "vulnerabilityName": "n", "dateAdded": "2022-01-10",'
                      b' "dueDate": "2022-01-24"}]}', "f.json")
