"""End to end, from the lab's scanner namespace: the cameras behind the demo's PoE recorders, the makers' APIs
with the site's credentials, ONVIF over HTTP Digest, exact KEV findings, and the factory-default check that
finds the factory-default devices and locks out none. One audited scan for the module (plus one without
credentials); every assertion is against the fleet file's ground truth."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab_fixture import process_cmdlines

from auditor.document import validate_document
from auditor.lab import topology
from auditor.lab.fleet import UNKNOWN_PASSWORD, WRONG_PASSWORD, lab_credentials
from auditor.lab.runner import LabState, scanner_argv
from auditor.report.format_csv import render_csv

pytestmark = pytest.mark.netns

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
DEADLINE = 60
FACTORY = {"hik-cam-factory": "admin", "dahua-cam-factory": "admin", "axis-cam-factory": "root"}


def _scan(lab: LabState, tmp: Path, name: str, targets: list[str], *extra: str) -> dict[str, Any]:
    db, out, html = tmp / f"{name}.db", tmp / f"{name}.json", tmp / f"{name}.html"
    argv = [CAMAUDIT, "scan", *targets, "-i", topology.SCANNER_IFACE, "--db", str(db), "--json", str(out),
            "--report", str(html), "--rate", "800", "--timeout", "1.5", "--deadline", str(DEADLINE), *extra]
    proc = subprocess.Popen(scanner_argv(lab.tag, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[str] = set()
    while proc.poll() is None:  # every process command line on the machine while the scan runs
        seen |= process_cmdlines()
        time.sleep(0.1)
    stdout, stderr = proc.communicate(timeout=DEADLINE + 30)
    assert proc.returncode in (0, 1), stderr
    doc = json.loads(out.read_text())
    return {"doc": doc, "db": db, "json": out, "html": html, "stdout": stdout, "stderr": stderr, "cmdlines": seen}


@pytest.fixture(scope="module")
def audited(demo_lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("recorders")
    creds = tmp / "credentials.yaml"
    creds.write_text(yaml.safe_dump({"hosts": lab_credentials(demo_lab.fleet)}))
    os.chmod(creds, 0o600)
    result = _scan(demo_lab, tmp, "with", list(topology.DEMO_TARGETS), "--credentials", str(creds),
                   "--check-default-credentials")
    result["emulator"] = (demo_lab.state_dir / "emulator.out").read_text(errors="replace")
    return result


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in doc["devices"]}


def test_every_camera_behind_every_recorder_is_reported_right(audited: dict[str, Any], demo_lab: LabState) -> None:
    doc = audited["doc"]
    assert doc["scan"]["status"] == "complete" and validate_document(doc) == []
    devices = by_id(doc)
    lan = {d["ip"]: d for d in doc["devices"] if not d["behind"]}
    found = expected = 0
    for spec in demo_lab.fleet.devices:
        api = spec.services.vendor_api
        if api is None or not api.channels:
            continue
        recorder = lan[spec.ip]
        assert recorder["device_class"] == "recorder" and recorder["facts"]["channels_enumerated"] is True
        behind = {d["channel"]: d for d in doc["devices"] if d["behind"] == recorder["id"]}
        for ch in api.channels:
            if ch.truth is None:
                assert ch.channel not in behind, f"{spec.name}: empty slot {ch.channel} reported"
                continue
            expected += 1
            cam = behind.get(ch.channel)
            assert cam is not None, f"{spec.name} channel {ch.channel} ({ch.model}) missing"
            found += 1
            assert cam["maker"] == ch.truth.maker, (spec.name, ch.channel, cam["maker"], ch.truth)
            assert cam["covered"] == ch.truth.covered, (spec.name, ch.channel)
            assert cam["device_class"] == ch.truth.device_class
            if ch.truth.brand:
                assert cam["brand"] == ch.truth.brand, (spec.name, ch.channel, cam["brand"])
            assert cam["ip"] == ch.address and cam["facts"]["recorder_ip"] == spec.ip
            assert cam["facts"]["channel_online"] is (ch.online if spec.services.vendor_api.style == "isapi" else None)
            assert devices[cam["behind"]] is recorder
            rules = {f["rule"] for f in doc["findings"] if f["device_id"] == cam["id"]}
            assert ("ndaa-889.covered-maker" in rules) == ch.truth.covered
            if ch.truth.maker is None:
                assert "ndaa-889.unknown-maker" in rules
        assert recorder["facts"]["cameras_behind"] == len(behind)
    assert (found, expected) == (10, 10)


def test_cameras_behind_recorders_in_csv_report_and_json(audited: dict[str, Any]) -> None:
    doc = audited["doc"]
    behind = {d["id"]: d["behind"] for d in doc["devices"] if d["behind"]}
    rows = list(csv.DictReader(io.StringIO(render_csv(doc))))
    assert {r["id"]: r["behind"] for r in rows if r["behind"]} == behind
    html = audited["html"].read_text()
    assert html.count('class="device is-covered is-behind"') + html.count('class="device is-behind"') == len(behind)
    assert "Cameras behind recorders" in html and 'data-kpi="behind">10<' in html


def test_makers_apis_give_exact_identity_and_onvif_takes_http_digest(audited: dict[str, Any],
                                                                     demo_lab: LabState) -> None:
    lan = {d["ip"]: d for d in audited["doc"]["devices"] if not d["behind"]}
    ip = {d.name: d.ip for d in demo_lab.fleet.devices}
    nvr = lan[ip["hik-nvr"]]
    assert any(e["probe"] == "login" and e["field"] == "device_info.api" for e in nvr["evidence"])
    assert nvr["facts"]["login"] == "accepted"
    for name in ("dahua-nvr", "lts-nvr", "dahua-cam", "amcrest-cam", "axis-cam", "hilook-cam"):
        assert lan[ip[name]]["facts"]["login"] == "accepted", name
    with audited_db(audited) as db:
        onvif = [json.loads(r[0]) for r in db.execute(
            "SELECT fields FROM observations WHERE probe = 'onvif' AND ip = ?", [ip["dahua-nvr"]])]
    assert onvif and onvif[0]["auth_method"] == "http-digest"
    assert onvif[0]["calls"]["GetDeviceInformation"] == "auth" and onvif[0]["model"] == "DHI-NVR4108HS-8P-4KS2"


def test_a_recorder_with_onvif_only_says_how_many_channels_and_why_not_which(audited: dict[str, Any],
                                                                           demo_lab: LabState) -> None:
    ip = {d.name: d.ip for d in demo_lab.fleet.devices}
    nvr = next(d for d in audited["doc"]["devices"] if d["ip"] == ip["hanwha-nvr"] and not d["behind"])
    assert nvr["device_class"] == "recorder" and nvr["maker"] == "Hanwha" and not nvr["covered"]
    assert nvr["facts"]["channels_enumerated"] is False and nvr["facts"]["cameras_behind"] == 8
    assert nvr["facts"]["channels_note"].startswith("its ONVIF media service lists 8 video inputs")
    rules = {(f["ip"], f["rule"]) for f in audited["doc"]["findings"]}
    assert (nvr["ip"], "ndaa-889.cameras-not-enumerated") in rules


def test_kev_findings_are_exact_on_relabelled_and_patched_devices(audited: dict[str, Any],
                                                                  demo_lab: LabState) -> None:
    doc = audited["doc"]
    findings: dict[str, set[str]] = {}
    messages: dict[str, list[str]] = {}
    for f in doc["findings"]:
        findings.setdefault(f["device_id"], set()).add(f["rule"])
        messages.setdefault(f["device_id"], []).append(f["message"])
    lan = {d["ip"]: d for d in doc["devices"] if not d["behind"]}
    ip = {d.name: d.ip for d in demo_lab.fleet.devices}
    relabel = lan[ip["lts-oem-cam"]]  # LTS label, Hikvision firmware V5.5.82 build 190220 (SADP, ONVIF)
    assert "hardening.kev" in findings[relabel["id"]]
    assert any("CVE-2021-36260 (added to KEV 2022-01-10, due 2022-01-24)" in m for m in messages[relabel["id"]])
    for name in ("hik-cam-onvif", "hik-cam-noonvif", "hik-cam-lockout"):  # V5.7.x builds of 2022: fixed
        assert not {"hardening.kev", "hardening.kev-unverified"} & findings.get(lan[ip[name]]["id"], set()), name
    cams = [d for d in doc["devices"] if d["behind"]]
    lts_behind = [d for d in cams if d["brand"] == "LTS"]
    assert lts_behind and all("hardening.kev" in findings[d["id"]] for d in lts_behind)
    patched = [d for d in cams if d["model"] == "DS-2CD2143G2-I"]
    assert patched and not {"hardening.kev", "hardening.kev-unverified"} & findings.get(patched[0]["id"], set())
    recorder = lan[ip["hik-nvr"]]  # V4.x recorder firmware: the excerpt does not cover it, and says so
    assert "hardening.kev-unverified" in findings[recorder["id"]]
    assert any("does not cover" in m for m in messages[recorder["id"]])


def test_the_default_check_finds_the_factory_default_devices_and_locks_out_none(audited: dict[str, Any],
                                                                                demo_lab: LabState) -> None:
    doc = audited["doc"]
    name_of = {d.ip: d.name for d in demo_lab.fleet.devices}
    hits = {name_of.get(f["ip"]): f for f in doc["findings"] if f["rule"] == "hardening.default-credentials"}
    assert set(hits) == set(FACTORY)
    for name, user in FACTORY.items():
        assert hits[name]["severity"] == "critical"
        assert hits[name]["message"].endswith(f"factory default credentials accepted for user {user}.")
    lan = {d["ip"]: d for d in doc["devices"] if not d["behind"]}
    ip = {d.name: d.ip for d in demo_lab.fleet.devices}
    assert lan[ip["hik-cam-lockout"]]["facts"]["login"] == "refused"
    assert lan[ip["hik-cam-lockout"]]["facts"]["default_check"].startswith("not checked: a login already failed")
    assert re.findall(r"^LOCKED .*$", audited["emulator"], re.M) == []  # lockouts: 0


def test_no_password_in_any_artefact_or_process(audited: dict[str, Any], demo_lab: LabState) -> None:
    secrets = {WRONG_PASSWORD, "Lab-Channel-Secret1"}  # the recorders' camera passwords come back in RemoteDevice
    for spec in demo_lab.fleet.devices:
        if spec.services.onvif and spec.services.onvif.password:
            secrets.add(spec.services.onvif.password)
        if spec.services.vendor_api:
            secrets |= {p for p in spec.services.vendor_api.accounts.values() if len(p) > 5}
    artefacts = {"db": audited["db"].read_bytes(), "json": audited["json"].read_bytes(),
                 "html": audited["html"].read_bytes(), "stdout": audited["stdout"].encode(),
                 "stderr": audited["stderr"].encode(), "csv": render_csv(audited["doc"]).encode()}
    wal = Path(f"{audited['db']}-wal")
    if wal.exists():
        artefacts["wal"] = wal.read_bytes()
    for where, data in artefacts.items():
        for secret in secrets:
            assert secret.encode() not in data, (where, secret)
        # the factory defaults, as a password value would appear (whole token; serials hold 12345 inside them)
        assert not re.search(rb"(?<![0-9A-Za-z-])12345(?![0-9A-Za-z])", data), where
    for line in audited["cmdlines"]:
        assert not any(s in line for s in secrets | {"12345"}), line


def test_without_credentials_the_recorders_say_their_cameras_were_not_listed(demo_lab: LabState,
                                                                            tmp_path: Path) -> None:
    ip = {d.name: d.ip for d in demo_lab.fleet.devices}
    result = _scan(demo_lab, tmp_path, "without", [ip["hik-nvr"], ip["dahua-nvr"], ip["lts-nvr"]])
    doc = result["doc"]
    assert not [d for d in doc["devices"] if d["behind"]]
    recorders = [d for d in doc["devices"] if d["device_class"] == "recorder"]
    assert len(recorders) == 3
    rules = {(f["ip"], f["rule"]) for f in doc["findings"]}
    for rec in recorders:
        assert rec["facts"]["channels_enumerated"] is False and "no login" in rec["facts"]["channels_note"]
        assert (rec["ip"], "ndaa-889.cameras-not-enumerated") in rules
    assert "whose cameras could not be listed" in result["html"].read_text()


class audited_db:  # noqa: N801 - a context manager used like a function
    def __init__(self, audited: dict[str, Any]) -> None:
        import sqlite3

        self.conn = sqlite3.connect(audited["db"])

    def __enter__(self) -> Any:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


assert UNKNOWN_PASSWORD  # the deliberately unknown one stays unknown (its ONVIF calls are denied)
