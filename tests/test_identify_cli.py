"""`camaudit oui` and `camaudit identify --scan N` through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import cli
from auditor.models import Device, Host, Identity, Observation
from auditor.resources import data_dir


def test_oui_lines_and_exit_codes() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["oui", "C0-56-E3-12-34-56", "40:2c:76:1a:bc:de", "02:11:22:33:44:55"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "C0:56:E3/24" in lines[0] and "Hikvision" in lines[0] and "covered: yes" in lines[0]
    assert "40:2C:76:1/28" in lines[1] and "Shanghai Dahua Scale Factory" in lines[1] and "maker: unknown" in lines[1]
    assert "locally administered" in lines[2]
    bad = runner.invoke(cli, ["oui", "not-a-mac"])
    assert bad.exit_code == 2 and "not a MAC" in bad.output


def test_oui_json() -> None:
    result = CliRunner().invoke(cli, ["oui", "--json", "00:1f:54:00:00:01"])
    assert result.exit_code == 0, result.output
    (answer,) = json.loads(result.output)
    assert answer["maker"] == "Dahua" and answer["brand"] == "Lorex"
    assert answer["covered"] is False and answer["review"]
    assert answer["prefix_len"] == 24


def test_oui_of_a_brand_with_several_makers() -> None:
    """Swann's own OUI names the brand; which maker built the unit stays open, with the candidates."""
    result = CliRunner().invoke(cli, ["oui", "bc:51:fe:00:00:01"])
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert "Swann communications" in line and "maker: not settled (brand Swann" in line and "covered: no" in line
    assert "Reolink" in line and "Hikvision" in line and "http" in line


def test_identify_rewrites_a_stored_scan(tmp_path: Path) -> None:
    from auditor.store import Store

    db = tmp_path / "scans.db"
    ip = "198.18.0.12"
    observations = (
        Observation(ip, "arp", {"mac": "44:19:b6:5e:71:02", "source": "sweep"}),
        Observation(ip, "sadp", {"model": "DS-2CD2047G2-LU", "serial": "DS-2CD2047G2-LU2022", "device_type": "139",
                                 "firmware": "V5.7.10build 220825", "mac": "44:19:b6:5e:71:02"}),
    )
    host = Host(key="mac:44:19:b6:5e:71:02", ip=ip, mac="44:19:b6:5e:71:02", ips=(ip,), observations=observations)
    stale = Device(host=host, identity=Identity(maker=None))  # as an older knowledge base left it
    store = Store(db)
    ndaa = data_dir("rules") / "ndaa-889.yaml"
    scan_id = store.begin_scan({"targets": ["198.18.0.0/24"], "probes": ["arp", "sadp"], "kb_version": "old",
                                "rules": [(str(ndaa), hashlib.sha256(ndaa.read_bytes()).hexdigest())]})
    store.add_observations(scan_id, list(observations))
    store.add_devices(scan_id, [stale], {})
    store.finish_scan(scan_id, "complete", {})
    store.close()

    runner = CliRunner()
    dry = runner.invoke(cli, ["identify", "--scan", str(scan_id), "--db", str(db), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would change" in dry.output and "'Hikvision'" in dry.output
    result = runner.invoke(cli, ["identify", "--scan", str(scan_id), "--db", str(db)])
    assert result.exit_code == 0, result.output
    store = Store(db)
    try:
        (device,) = store.load_devices(scan_id)
    finally:
        store.close()
    assert (device.identity.maker, device.identity.device_class, device.identity.covered) == (
        "Hikvision", "camera", True)
    findings = runner.invoke(cli, ["export", "--scan", str(scan_id), "--db", str(db), "--format", "json"])
    assert "ndaa-889.covered-maker" in findings.output  # findings follow the new identity
    missing = runner.invoke(cli, ["identify", "--scan", "99", "--db", str(db)])
    assert missing.exit_code == 2 and "no scan 99" in missing.output


def test_identify_judges_waivers_on_the_scan_date_not_today(tmp_path: Path) -> None:
    """Re-identifying last year's scan must not turn its then-active waivers into expired ones:
    the findings would disagree with the scan's stored waivers and flip its verdict."""
    import datetime as dt

    from auditor.store import Store

    db = tmp_path / "scans.db"
    ip, mac = "198.18.0.12", "44:19:b6:5e:71:02"
    observations = (
        Observation(ip, "arp", {"mac": mac, "source": "sweep"}, seen_at=1_577_880_000.0),
        Observation(ip, "sadp", {"model": "DS-2CD2047G2-LU", "serial": "DS-2CD2047G2-LU2022", "device_type": "139",
                                 "firmware": "V5.7.10build 220825", "mac": mac}, seen_at=1_577_880_000.0),
    )
    host = Host(key=f"mac:{mac}", ip=ip, mac=mac, ips=(ip,), observations=observations)
    ndaa = data_dir("rules") / "ndaa-889.yaml"
    site = tmp_path / "site.yaml"
    site.write_text(f'waivers:\n  - device: "{mac}"\n    rule: ndaa-889.covered-maker\n'
                    "    reason: replacement ordered\n    owner: ops\n    ticket: SEC-1\n    expires: 2020-01-20\n",
                    encoding="utf-8")
    rules = [(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in (ndaa, site)]
    scan_start = dt.datetime(2020, 1, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    with Store(db) as store:
        scan_id = store.begin_scan({"targets": ["198.18.0.0/24"], "rules": rules, "started_at": scan_start})
        store.add_observations(scan_id, list(observations))
        store.add_devices(scan_id, [Device(host=host, identity=Identity(maker=None))], {})
        store.finish_scan(scan_id, "complete", {})

    result = CliRunner().invoke(cli, ["identify", "--scan", str(scan_id), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        (finding,) = [f for f in store.findings(scan_id) if f["rule"] == "ndaa-889.covered-maker"]
    assert finding["waiver"]["state"] == "expiring" and finding["waived"] is True


def test_reidentify_is_a_library_function_and_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    from auditor.pipeline import reidentify
    from auditor.store import Store

    ip, mac = "198.18.0.12", "44:19:b6:5e:71:02"
    observations = (Observation(ip, "arp", {"mac": mac, "source": "sweep"}),
                    Observation(ip, "sadp", {"model": "DS-2CD2047G2-LU", "serial": "X1", "device_type": "139",
                                             "firmware": "V5.7.10build 220825", "mac": mac}))
    host = Host(key=f"mac:{mac}", ip=ip, mac=mac, ips=(ip,), observations=observations)
    with Store(tmp_path / "scans.db") as store:
        scan_id = store.begin_scan({"targets": ["198.18.0.0/24"]})
        store.add_observations(scan_id, list(observations))
        store.add_devices(scan_id, [Device(host=host, identity=Identity(maker=None))], {})
        store.finish_scan(scan_id, "complete", {})
        dry = reidentify(store, scan_id, dry_run=True)
        assert [(c.ip, c.before, c.after) for c in dry.changes] == [
            (ip, (None, "unknown", False), ("Hikvision", "camera", True))]
        assert not dry.written and not dry.findings_evaluated  # the scan recorded no rules files
        assert [d["maker"] for d in store.devices(scan_id)] == [None]
        done = reidentify(store, scan_id, [data_dir("rules") / "ndaa-889.yaml"])
        assert done.written and done.findings_evaluated and len(done.changes) == 1
        assert [d["maker"] for d in store.devices(scan_id)] == ["Hikvision"]
        assert "ndaa-889.covered-maker" in [f["rule"] for f in store.findings(scan_id)]
