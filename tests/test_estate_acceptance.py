"""Issue 15's acceptance test, through the shipped Ansible example (examples/ansible).

Two lab sites stand for two buildings: two lab namespaces with the SAME addresses. The
example's site.yml, run in local mode, installs camaudit from the wheel at each site (and on
the central host), deploys each site's audit config and 0600 credentials, writes the systemd
timer `camaudit schedule` makes (systemctl skipped: CI has no systemd as PID 1) and runs a
first audit inside the site's lab namespace. A covered camera is then unplugged at one site,
and each site's timer "fires" (its unit's ExecStart, run in the lab namespace). collect.yml
fetches the documents to the central host, imports them and writes the estate report, which
must list both sites with the right totals and show the removal in the trend and the diff; the
central database then answers the canned queries in Datasette, in a real browser.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.lab import topology
from auditor.lab.fleet import load_fleet
from auditor.lab.runner import lab_down, lab_up
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ansible"
ARTIFACTS = ROOT / "test-artifacts"
FLEET = ("hik-cam-onvif", "hik-cam-noonvif", "dahua-cam", "axis-cam")
"""A small building: three covered cameras (one answers ONVIF only with credentials) and an Axis."""
UNPLUGGED = "hik-cam-noonvif"
COVERED_IPS = {"198.18.0.11", "198.18.0.12", "198.18.0.20"}

pytestmark = pytest.mark.netns


def _ansible_playbook() -> str | None:
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.exists() else shutil.which("ansible-playbook")


def _deps_path() -> str:
    return next(p for p in sys.path if p.endswith("site-packages"))


def _playbook(inventory: Path, playbook: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
           "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"), "ANSIBLE_HOME": str(tmp / "ansible-home"),
           "ANSIBLE_FORKS": "3", "ANSIBLE_STDOUT_CALLBACK": "default"}
    playbook_bin = _ansible_playbook()
    assert playbook_bin, "ansible-playbook is not installed (pip install -e '.[test]')"
    return subprocess.run([playbook_bin, "-i", str(inventory), str(EXAMPLE / playbook)], capture_output=True,
                          text=True, timeout=400, env=env, cwd=EXAMPLE)


def _inventory(tmp: Path, wheel: Path, labs: dict[str, object]) -> Path:
    fleet_by_name = {d.name: d for d in load_fleet().devices}
    onvif = fleet_by_name["hik-cam-onvif"]
    assert onvif.services.onvif is not None
    creds = {"hosts": {onvif.ip: {"username": onvif.services.onvif.username,
                                  "password": onvif.services.onvif.password}}}
    common = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "camaudit_become": False,
        "camaudit_wheel": str(wheel), "camaudit_python": sys.executable,
        # offline install: the dependencies come from the test's own environment
        "camaudit_pip_args": "--no-deps --no-index", "camaudit_environment": {"PYTHONPATH": _deps_path()},
        "camaudit_systemctl": False, "camaudit_incoming": str(tmp / "central" / "incoming"),
    }
    hosts: dict[str, dict[str, object]] = {}
    for name, lab in labs.items():
        home = tmp / name
        hosts[name] = {
            "camaudit_home": str(home / "opt"), "camaudit_config_dir": str(home / "etc"),
            "camaudit_data_dir": str(home / "var"), "camaudit_systemd_dir": str(home / "systemd"),
            "camaudit_site": f"Building {name[-1].upper()}", "camaudit_targets": ["198.18.0.0/24"],
            "camaudit_interface": topology.SCANNER_IFACE, "camaudit_rate": 1000, "camaudit_timeout": 1.5,
            "camaudit_deadline": 60, "camaudit_credentials": creds, "camaudit_audit_now": True,
            "camaudit_exec_wrapper": f"ip netns exec {lab.scanner_ns}",  # type: ignore[attr-defined]
        }
    central = tmp / "central"
    inventory = {"all": {"vars": common, "children": {
        "scanners": {"hosts": hosts},
        "central": {"hosts": {"audit-central": {
            "camaudit_home": str(central / "opt"), "camaudit_config_dir": str(central / "etc"),
            "camaudit_data_dir": str(central / "var")}}}}}}
    path = tmp / "inventory.json"
    path.write_text(json.dumps(inventory, indent=1))
    return path


def _fire_timer(unit: Path, lab: object) -> subprocess.CompletedProcess[str]:
    """What systemd would run at the timer's hour, in the site's lab namespace."""
    exec_start = next(line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    argv = ["ip", "netns", "exec", lab.scanner_ns, *shlex.split(exec_start)]  # type: ignore[attr-defined]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": _deps_path()})


def test_two_sites_through_the_ansible_example_into_one_estate(tmp_path: Path) -> None:
    if _ansible_playbook() is None and not os.environ.get("CI"):
        pytest.skip("ansible-playbook is not installed (pip install -e '.[test]')")
    wheel_dir = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheel_dir), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(wheel_dir.glob("camaudit-*.whl"))

    full = load_fleet()
    fleet = dataclasses.replace(full, devices=tuple(d for d in full.devices if d.name in FLEET))
    assert {d.name for d in fleet.devices} == set(FLEET)
    labs: dict[str, object] = {}
    try:
        for name in ("site_a", "site_b"):
            labs[name] = lab_up(name[-1] + secrets.token_hex(4), fleet)
        inventory = _inventory(tmp_path, wheel, labs)

        # 1. Deploy: install everywhere, configure each site, write its timer, audit once.
        deploy = _playbook(inventory, "site.yml", tmp_path)
        assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-2000:]
        for name in labs:
            home = tmp_path / name
            creds = home / "etc" / "credentials.yaml"
            assert oct(creds.stat().st_mode & 0o777) == "0o600"
            assert "Lab-Hik-12345" not in deploy.stdout  # no_log keeps the password out of Ansible's output
            service = (home / "systemd" / "camaudit.service").read_text()
            assert f"audit --config {home / 'etc' / 'site.yaml'} --quiet" in service
            assert str(home / "opt" / "venv") in service  # the installed camaudit, not the test's
            assert "OnCalendar=*-*-* 03:15:00" in (home / "systemd" / "camaudit.timer").read_text()
            assert len(list((home / "var" / "reports").glob("*.json"))) == 1

        # 2. A covered camera leaves building A; the next night both sites audit again.
        lab_a = labs["site_a"]
        unplugged = lab_a.device_ns(UNPLUGGED)  # type: ignore[attr-defined]
        subprocess.run(["ip", "-n", unplugged, "link", "set", topology.DEVICE_IFACE, "down"], check=True)
        # A night passes: the scanner's neighbour cache no longer remembers the camera's MAC (seconds
        # after the first audit it would still list it, and the ARP probe reads that cache too).
        subprocess.run(["ip", "-n", lab_a.scanner_ns, "neigh", "flush", "all"], check=True)  # type: ignore[attr-defined]
        for name, lab in labs.items():
            night = _fire_timer(tmp_path / name / "systemd" / "camaudit.service", lab)
            assert night.returncode in (0, 1), night.stderr

        # 3. The central host collects, imports and reports.
        collect = _playbook(inventory, "collect.yml", tmp_path)
        assert collect.returncode == 0, collect.stdout[-4000:] + collect.stderr[-2000:]
        central = tmp_path / "central" / "var"
        estate_db, estate_html = central / "estate.db", central / "estate.html"
        page = estate_html.read_text()
        assert "Building A" in page and "Building B" in page
        assert 'data-removed="1"' in page  # one covered camera removed since the sites' first audits
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(estate_html, ARTIFACTS / "acceptance-estate.html")

        with Store(estate_db) as store:
            assert store.sites() == ["Building A", "Building B"]
            scans = store.list_scans()
            assert len(scans) == 4 and all(s["status"] == "complete" for s in scans)
            a_first, a_second = store.last_complete_scans(2, site="Building A")
            b_first, b_second = store.last_complete_scans(2, site="Building B")
            # overlapping addresses: the same IPs at both sites are different devices
            assert store.db.execute("SELECT COUNT(*) FROM devices").fetchone()[0] >= 2 * len(FLEET)
            gone = store.diff(a_first, a_second)["gone_devices"]
            assert [(g["ip"], g["maker"]) for g in gone] == [("198.18.0.12", "Hikvision")]
            assert store.diff(b_first, b_second)["gone_devices"] == []
            covered = {s["id"]: s for s in scans}
        from auditor.estate import build_estate

        with Store(estate_db) as store:
            estate = build_estate(store)
        by_site = {s["site"]: s for s in estate["sites"]}
        a, b = by_site["Building A"], by_site["Building B"]
        assert [v for _, v in a["trend"]] == [3, 2] and [v for _, v in b["trend"]] == [3, 3]
        assert estate["totals"]["covered"] == 5 and estate["totals"]["sites"] == 2
        assert estate["totals"]["stale_sites"] == 0
        assert a["covered"] == 2 and b["covered"] == 3 and a["covered_first"] == 3
        assert covered[a_first]["devices"] == covered[a_second]["devices"] + 1
        assert [v for _, v in estate["trend"]][-1] == 5
        assert sorted(d["ip"] for d in estate["covered_devices"] if d["site"] == "Building A") == \
            sorted(COVERED_IPS - {"198.18.0.12"})
        assert all(d["evidence"] for d in estate["covered_devices"])

        # 4. The same database in Datasette: the canned queries in a real browser.
        _datasette_in_a_browser(estate_db)
    finally:
        for lab in labs.values():
            lab_down(lab.tag)  # type: ignore[attr-defined]


def _datasette_in_a_browser(db: Path) -> None:
    from report_cdp import Chromium, chromium_skip_reason
    from serve_support import datasette_skip_reason, served

    reason = chromium_skip_reason() or datasette_skip_reason()
    if reason:
        pytest.skip(reason)
    name = db.stem
    with served(db) as base, Chromium(width=1300, height=900, loopback=True) as browser:
        browser.load_url(f"{base}/{name}/changes_since_previous_audit")
        rows = json.loads(browser.eval("""JSON.stringify(Array.from(document.querySelectorAll(
            'table.rows-and-columns tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent.trim())))"""))
        assert [(r[0], r[1], r[2]) for r in rows] == [("disappeared", "Building A", "198.18.0.12")]
        browser.screenshot(ARTIFACTS / "acceptance-datasette-changes.png")
        browser.load_url(f"{base}/{name}/covered_by_site")
        counts = json.loads(browser.eval("""JSON.stringify(Array.from(document.querySelectorAll(
            'table.rows-and-columns tbody tr')).map(r => [r.cells[0].textContent.trim(),
                                                          r.cells[1].textContent.trim()]))"""))
        assert sorted(counts) == [["Building A", "2"], ["Building B", "3"]]
        for query in ("waivers_expiring", "unknown_maker", "covered_devices"):
            browser.load_url(f"{base}/{name}/{query}")
            assert not browser.eval("document.querySelector('.message-error') !== null"), query
        assert [u for u in browser.requests() if not u.startswith(base)] == []
