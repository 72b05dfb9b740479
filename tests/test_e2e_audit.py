"""Scheduled audits end to end: two `camaudit audit` runs of the lab with a change between them.

Night 1 audits the demo fleet; before night 2 a new Hikvision camera joins and the Dahua
camera leaves. The second run must exit 1, and its report must list the new and the gone
device. Along the way: retention, overlapping runs, and the credentials' password
appearing nowhere (database, reports, JSON, log, process arguments).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from lab_fixture import process_cmdlines

from auditor.cli import cli
from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import LabState, lab_down, lab_up, scanner_argv
from auditor.lab.spec import Fleet

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
NEW_CAM_IP, NEW_CAM_MAC = "198.18.0.47", "c0:56:e3:40:40:47"
GONE = "dahua-cam"
PASSWORD = "Night-Audit-Secret-" + secrets.token_hex(4)


def night_two(fleet: Fleet) -> Fleet:
    """The fleet after a day of change: a new Hikvision camera, the Dahua camera removed."""
    template = next(d for d in fleet.devices if d.name == "hik-cam-onvif")
    s = template.services
    assert s.onvif and s.sadp and s.wsd
    new = dataclasses.replace(
        template, name="hik-cam-new", ip=NEW_CAM_IP, mac=NEW_CAM_MAC,
        services=dataclasses.replace(
            s,
            wsd=dataclasses.replace(s.wsd, endpoint="urn:uuid:3fa1fe68-b915-4053-a3e1-c056e3404040",
                                    scopes=tuple(x.replace("c0:56:e3:1a:2b:3c", NEW_CAM_MAC) for x in s.wsd.scopes)),
            onvif=dataclasses.replace(s.onvif, serial="DS-2CD2143G2-I20241101AAWRK00000040", password=PASSWORD),
            sadp=dataclasses.replace(s.sadp, serial="DS-2CD2143G2-I20241101AAWRK00000040")))
    return dataclasses.replace(fleet, devices=tuple(d for d in fleet.devices if d.name != GONE) + (new,))


def with_password(fleet: Fleet) -> Fleet:
    """Give every password-protected ONVIF device the test's unique password (to search for it later)."""
    devices = []
    for d in fleet.devices:
        if d.services.onvif and d.services.onvif.password:
            d = dataclasses.replace(d, services=dataclasses.replace(
                d.services, onvif=dataclasses.replace(d.services.onvif, password=PASSWORD)))
        api = d.services.vendor_api
        if api and "admin" in api.accounts and api.credentials_file == "right":  # the makers' APIs take it too
            d = dataclasses.replace(d, services=dataclasses.replace(
                d.services, vendor_api=dataclasses.replace(api, accounts={**api.accounts, "admin": PASSWORD})))
        devices.append(d)
    return dataclasses.replace(fleet, devices=tuple(devices))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import netns_available

    ok, reason = netns_available()
    if not ok:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("audit")
    creds = tmp / "credentials.yaml"
    creds.write_text(yaml.safe_dump({"subnets": {"198.18.0.0/16": {"username": "admin", "password": PASSWORD}}}))
    os.chmod(creds, 0o600)
    (tmp / "site.yaml").write_text(yaml.safe_dump({
        "site": "Lab HQ", "targets": list(topology.DEMO_TARGETS), "interface": topology.SCANNER_IFACE,
        "rules": ["builtin:ndaa-889", "builtin:hardening"], "credentials": "credentials.yaml",
        "database": "audit.db", "report_dir": "reports", "formats": ["html", "json"],
        "retention": {"reports": 1, "scans": 5}, "fail_on": "high", "rate": 800, "timeout": 1.5,
        "deadline": 60, "log_file": "audit.log",
    }))
    return tmp


def run_audit_in(lab: LabState, cfg: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(scanner_argv(lab.tag, [CAMAUDIT, "audit", "--config", str(cfg), *extra]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def watch_cmdlines(proc: subprocess.Popen[str]) -> tuple[int, str, str, set[str]]:
    """Wait for ``proc``; meanwhile collect every process command line on the machine."""
    seen: set[str] = set()
    while proc.poll() is None:
        seen |= process_cmdlines()
        time.sleep(0.2)
    out, err = proc.communicate()
    return proc.returncode, out, err, seen


@pytest.mark.netns
def test_two_nights_of_audits(site: Path) -> None:
    tag = "a" + secrets.token_hex(3)
    cfg = site / "site.yaml"
    fleet = with_password(load_fleet())
    cmdlines: set[str] = set()
    try:
        lab = lab_up(tag, fleet)
        rc, out, err, seen = watch_cmdlines(run_audit_in(lab, cfg))
        cmdlines |= seen
        assert rc == 1, err  # covered devices are critical findings, at or above fail_on=high
        lab_down(tag)
        lab = lab_up(tag, night_two(fleet))
        rc, out2, err2, seen = watch_cmdlines(run_audit_in(lab, cfg))
        cmdlines |= seen
        assert rc == 1, err2
        assert out2.count("\n") == 1 and "findings" in out2  # one summary line
    finally:
        lab_down(tag)

    reports = site / "reports"
    htmls, jsons = sorted(reports.glob("*.html")), sorted(reports.glob("*.json"))
    assert len(htmls) == 1 and len(jsons) == 1, "retention keeps only the newest report per format"
    doc = json.loads(jsons[0].read_text())
    changes = doc["changes"]
    assert [d["ip"] for d in changes["new_devices"]] == [NEW_CAM_IP]
    assert [d["ip"] for d in changes["gone_devices"]] == ["198.18.0.20"]
    html = htmls[0].read_text()
    assert NEW_CAM_MAC in html and "198.18.0.20" in html

    db = sqlite3.connect(site / "audit.db")
    dump = "\n".join(db.iterdump())
    assert [r[0] for r in db.execute("select status from scans order by id")] == ["complete", "complete"]
    db.close()
    everything = dump + html + jsons[0].read_text() + (site / "audit.log").read_text() + out2 + err2
    assert PASSWORD not in everything
    assert not any(PASSWORD in c for c in cmdlines)
    assert "audit of Lab HQ started" in (site / "audit.log").read_text()


@pytest.mark.netns
def test_overlapping_runs(site: Path, tmp_path: Path) -> None:
    tag = "o" + secrets.token_hex(3)
    cfg = tmp_path / "site.yaml"
    data = yaml.safe_load((site / "site.yaml").read_text())
    data.update(database=str(tmp_path / "o.db"), report_dir=str(tmp_path / "r"),
                credentials=str(site / "credentials.yaml"), log_file=str(tmp_path / "o.log"))
    cfg.write_text(yaml.safe_dump(data))
    try:
        lab = lab_up(tag, load_fleet())
        first = run_audit_in(lab, cfg)
        lock = tmp_path / "o.db.lock"
        for _ in range(100):
            if lock.exists() and lock.read_text().strip():
                break
            time.sleep(0.05)
        second = run_audit_in(lab, cfg)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert "in use by another camaudit run" in err and len(err.strip().splitlines()) == 1
        waiting = run_audit_in(lab, cfg, "--wait", "120")
        assert first.wait(timeout=120) == 1
        assert waiting.wait(timeout=120) == 1
    finally:
        lab_down(tag)


@pytest.mark.usefixtures("no_scan")
def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("site: X\ntargets: [198.18.0.0/24]\ninterface: lan0\nfail_on: sometimes\n")
    result = CliRunner().invoke(cli, ["audit", "--config", str(cfg)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {cfg}:4: fail_on must be one of critical, high, medium, low, info"


@pytest.mark.usefixtures("no_scan")
def test_readable_credentials_refused_exit_2(tmp_path: Path) -> None:
    creds = tmp_path / "c.yaml"
    creds.write_text("default: {username: a, password: b}\n")
    os.chmod(creds, 0o644)
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"site: X\ntargets: [198.18.0.0/24]\ninterface: lan0\ncredentials: {creds}\n")
    result = CliRunner().invoke(cli, ["audit", "--config", str(cfg)])
    assert result.exit_code == 2 and "chmod 600" in result.output


def test_schedule_prints_cron_and_systemd(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: X\ntargets: [198.18.0.0/24]\ninterface: lan0\n")
    result = CliRunner().invoke(cli, ["schedule", "--config", str(cfg), "--at", "02:30"])
    assert result.exit_code == 0
    assert "30 2 * * * " in result.output and f"audit --config {cfg.resolve()} --quiet" in result.output
    assert "OnCalendar=*-*-* 02:30:00" in result.output and "SuccessExitStatus=1" in result.output
    bad = CliRunner().invoke(cli, ["schedule", "--config", str(cfg), "--at", "25:00"])
    assert bad.exit_code == 2


def test_schedule_writes_the_units_where_told(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: X\ntargets: [198.18.0.0/24]\ninterface: lan0\n")
    units = tmp_path / "systemd"
    result = CliRunner().invoke(cli, ["schedule", "--config", str(cfg), "--at", "04:05", "--systemd-dir", str(units)])
    assert result.exit_code == 0, result.output
    service, timer = (units / "camaudit.service").read_text(), (units / "camaudit.timer").read_text()
    assert f"audit --config {cfg.resolve()} --quiet" in service and "SuccessExitStatus=1" in service
    assert "OnCalendar=*-*-* 04:05:00" in timer and "WantedBy=timers.target" in timer
    assert oct((units / "camaudit.timer").stat().st_mode & 0o777) == "0o644"
    (tmp_path / "file").write_text("")
    blocked = CliRunner().invoke(cli, ["schedule", "--config", str(cfg), "--systemd-dir", str(tmp_path / "file")])
    assert blocked.exit_code == 2 and "is a file" in blocked.output
    (units / "camaudit.timer").unlink()
    (units / "camaudit.timer").mkdir()  # a directory where the unit goes
    clash = CliRunner().invoke(cli, ["schedule", "--config", str(cfg), "--systemd-dir", str(units)])
    assert clash.exit_code == 2 and "cannot write the unit" in clash.output
