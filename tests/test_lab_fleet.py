"""The demo fleet is valid data with ground truth; loading is strict; scaling is sane."""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from scapy.config import conf

from auditor.errors import OperatorError
from auditor.lab import topology
from auditor.lab.fleet import (
    BRIDGE_MAX_PORTS,
    DEMO_SCALE_LIMIT,
    MAX_SCALE,
    fleet_from_data,
    fleet_to_data,
    load_fleet,
    scale_limit,
    scaled_fleet,
)
from auditor.lab.spec import HOSTILE_BEHAVIOURS, Fleet


@pytest.fixture(scope="module")
def demo() -> Fleet:
    return load_fleet()


def _org(mac: str) -> str:
    return str(conf.manufdb._get_manuf(mac[:8]))


def test_demo_fleet_size_and_segments(demo: Fleet) -> None:
    assert 20 <= len(demo.devices) <= 40
    routed = [d for d in demo.devices if d.segment == "routed"]
    assert 2 <= len(routed) <= 4
    assert all(d.ip.startswith("198.18.32.") for d in routed)
    lan_ips = [d.ip for d in demo.devices if d.segment == "lan"]
    lo, hi = (int(x.rsplit(".", 1)[1]) for x in topology.DEMO_LAN_RANGE)
    assert all(ip.startswith("198.18.0.") and lo <= int(ip.rsplit(".", 1)[1]) <= hi for ip in lan_ips)


def test_macs_use_real_ouis_unless_locally_administered(demo: Fleet) -> None:
    local = [d for d in demo.devices if int(d.mac[:2], 16) & 2]
    assert any(d.truth.device_class == "camera" and d.truth.maker for d in local), "an LA-MAC camera"
    for d in demo.devices:
        if d in local:
            continue
        org = _org(d.mac)
        assert org != d.mac[:8], f"{d.name}: {d.mac} has no IEEE registration"


@pytest.mark.parametrize(("maker_word", "names"), [
    ("Hikvision", ["hik-cam-onvif", "hik-cam-noonvif", "hik-nvr", "hik-cam-inactive", "rtd-hik-cam"]),
    ("Dahua", ["dahua-cam", "rtd-dahua-cam"]),
    ("Amcrest", ["amcrest-cam"]),
    ("Lorex", ["lorex-cam"]),
    ("Axis", ["axis-cam", "rtd-axis-cam"]),
    ("Bosch", ["bosch-cam"]),
    ("Huawei", ["huawei-cam"]),
    ("Ezviz", ["ezviz-cam"]),
])
def test_oui_owner_matches_the_story(demo: Fleet, maker_word: str, names: list[str]) -> None:
    by_name = {d.name: d for d in demo.devices}
    for n in names:
        assert maker_word.lower() in _org(by_name[n].mac).lower(), (n, _org(by_name[n].mac))


def test_issue_scenarios_are_present(demo: Fleet) -> None:
    ds = demo.devices
    hik = [d for d in ds if d.truth.maker == "Hikvision"]
    assert any(d.services.onvif for d in hik) and any(d.services.sadp and not d.services.onvif for d in hik)
    assert any(d.truth.device_class == "recorder" for d in hik)
    assert any(d.services.sadp and not d.services.sadp.activated for d in hik)
    brands = {d.truth.brand for d in ds}
    assert {"HiLook", "EZVIZ", "LTS", "Amcrest", "Lorex"} <= brands
    oem = [d for d in hik if d.services.onvif and "hikvision" not in d.services.onvif.manufacturer.lower()]
    assert oem, "a Hikvision OEM whose ONVIF manufacturer is not Hikvision"
    assert any(d.services.dhip and d.services.dhip.vendor == "Amcrest" for d in ds)
    assert {"Huawei", "Axis", "Hanwha", "Bosch"} <= {d.truth.maker for d in ds}
    others = [d for d in ds if d.truth.device_class == "other"]
    assert len(others) >= 2 and all(not d.truth.covered for d in others)
    hostile = Counter(h for d in ds for h in d.services.hostile)
    assert {"script_names", "xxe_wsd", "xxe_soap", "tarpit", "garbage_udp", "malformed_soap"} <= set(hostile)
    assert all(d.truth.maker is None for d in ds if d.services.hostile)
    covered = {d.truth.maker for d in ds if d.truth.covered}
    assert covered <= {"Hikvision", "Dahua", "Huawei"}


def test_round_trip_through_json(demo: Fleet) -> None:
    assert fleet_from_data(json.loads(json.dumps(fleet_to_data(demo)))) == demo


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "fleet.yaml"
    p.write_text(text)
    return p


GOOD = """\
site: t
devices:
  - name: cam
    segment: lan
    ip: 198.18.0.40
    mac: "00:40:8c:00:00:01"
    truth: {maker: Axis, covered: false, device_class: camera}
    services:
      http: {port: 80}
"""


def test_minimal_file_loads(tmp_path: Path) -> None:
    f = load_fleet(_write(tmp_path, GOOD))
    assert f.devices[0].services.http is not None and f.devices[0].services.onvif is None


@pytest.mark.parametrize(("old", "new", "line", "fragment"), [
    ("      http: {port: 80}", "      http: {port: 80, colour: red}", 9, "unknown key 'colour'"),
    ("    segment: lan", "    segmnt: lan", 4, "unknown key 'segmnt'"),
    ("      http: {port: 80}", "      http: {port: eighty}", 9, "must be a whole number"),
    ("    segment: lan", "    segment: wan", 4, "not one of"),
    ("    ip: 198.18.0.40", "    ip: 10.0.0.5", 5, "not a free host address"),
    ("    ip: 198.18.0.40", "    ip: 198.18.0.2", 5, "not a free host address"),
    ('    mac: "00:40:8c:00:00:01"', '    mac: "00:40:8C:00:00:01"', 6, "lower-case"),
    ('    mac: "00:40:8c:00:00:01"', '    mac: "01:00:5e:00:00:01"', 6, "multicast"),
    ("      http: {port: 80}", "      hostile: [explode]", 9, "unknown hostile"),
    ("  - name: cam", "  - name: Cam_1", 3, "name must match"),
    ("    truth: {maker: Axis, covered: false, device_class: camera}", "    truth: {maker: Axis}", 7,
     "missing required key 'covered'"),
])
def test_strict_errors_carry_file_and_line(tmp_path: Path, old: str, new: str, line: int,
                                           fragment: str) -> None:
    assert old in GOOD
    p = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(OperatorError) as exc:
        load_fleet(p)
    assert fragment in str(exc.value)
    assert str(exc.value).startswith(f"{p}:{line}:"), str(exc.value)


def test_duplicates_rejected(tmp_path: Path) -> None:
    dup = GOOD + GOOD.split("devices:\n", 1)[1].replace("name: cam", "name: cam2")
    with pytest.raises(OperatorError, match="duplicate IP"):
        load_fleet(_write(tmp_path, dup))
    with pytest.raises(OperatorError, match=r":5: duplicate key 'segment'"):
        load_fleet(_write(tmp_path, GOOD.replace("    segment: lan\n", "    segment: lan\n    segment: lan\n")))


def test_unquoted_sexagesimal_mac_is_a_clear_error(tmp_path: Path) -> None:
    # YAML 1.1 reads 12:34:56 as a base-60 integer; the loader must say so, not crash.
    p = _write(tmp_path, GOOD.replace('"00:40:8c:00:00:01"', "10:20:30:40:50:11"))
    with pytest.raises(OperatorError, match="must be a string"):
        load_fleet(p)


def test_missing_file_is_operator_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="cannot read"):
        load_fleet(tmp_path / "nope.yaml")


def test_scaled_fleet(demo: Fleet) -> None:
    big = scaled_fleet(demo, 980)
    added = big.devices[len(demo.devices):]
    assert len(added) == 980
    assert added[0].ip == str(topology.SCALE_BASE) and added[-1].ip == str(topology.SCALE_BASE + 979)
    assert len({d.mac for d in big.devices}) == len(big.devices)
    assert len({d.name for d in big.devices}) == len(big.devices)
    serials = [d.services.onvif.serial for d in added if d.services.onvif]
    assert len(set(serials)) == len(serials) == 980
    makers = Counter(d.truth.maker for d in added)
    assert set(makers) == {"Hikvision", "Dahua", "Axis", "Hanwha"} and min(makers.values()) >= 240
    for d in added:
        assert d.truth.maker is not None and d.truth.maker.split()[0].lower() in _org(d.mac).lower() \
            or d.truth.maker == "Hanwha" and ("hanwha" in _org(d.mac).lower() or "samsung" in _org(d.mac).lower())
        assert (d.services.sadp is not None) == (d.truth.maker == "Hikvision")
        assert (d.services.dhip is not None) == (d.truth.maker == "Dahua")
    # The loader accepts what scaling produced.
    assert fleet_from_data(fleet_to_data(big)) == big


def test_scale_bounds(demo: Fleet) -> None:
    assert scaled_fleet(demo, 0) is demo
    lan_ports = sum(1 for d in demo.devices if d.segment == "lan") + 2
    limit = min(MAX_SCALE, BRIDGE_MAX_PORTS - lan_ports)
    assert scale_limit(demo) == limit == DEMO_SCALE_LIMIT  # what `lab up --help` and `demo --help` say
    with pytest.raises(OperatorError, match=f"{BRIDGE_MAX_PORTS} ports"):
        scaled_fleet(demo, limit + 1)
    assert len(scaled_fleet(demo, limit).devices) == len(demo.devices) + limit
    assert len(scaled_fleet(demo, 1000 - len(demo.devices)).devices) == 1000  # the benchmark's largest lab


def test_sparse_cameras_spread_over_the_routed_16_and_every_kth_is_fragile(demo: Fleet) -> None:
    big = scaled_fleet(demo, 100, sparse=300, fragile_every=50)
    sparse = [d for d in big.devices if d.segment == "sparse"]
    assert len(sparse) == 300
    ips = [ipaddress.IPv4Address(d.ip) for d in sparse]
    assert all(ip in topology.SPARSE for ip in ips) and len(set(ips)) == 300
    assert str(min(ips)) == "198.19.0.2" and max(ips) > ipaddress.IPv4Address("198.19.254.0")
    assert ipaddress.IPv4Address(topology.ROUTER_SPARSE_IP) not in ips
    assert topology.SPARSE.broadcast_address not in ips
    # MACs, serials and names never collide with the scaled LAN cameras
    assert len({d.mac for d in big.devices}) == len({d.name for d in big.devices}) == len(big.devices)
    serials = [d.services.onvif.serial for d in big.devices[len(demo.devices):] if d.services.onvif]
    assert len(set(serials)) == len(serials)
    fragile = [d.name for d in big.devices if d.fragile is not None]
    assert fragile == ["scale-0049", "scale-0099"] + [f"sparse-{i:04d}" for i in range(49, 300, 50)]
    old = next(d for d in big.devices if d.name == "scale-0049")
    assert old.services.http is not None and old.services.http.keep_alive is False
    assert fleet_from_data(fleet_to_data(big)) == big
    with pytest.raises(OperatorError, match="--sparse must be between"):
        scaled_fleet(demo, 0, sparse=BRIDGE_MAX_PORTS)


def test_fragile_limits_in_a_fleet_file_must_be_positive(tmp_path: Path) -> None:
    p = tmp_path / "f.yaml"
    p.write_text(
        "site: x\ndevices:\n  - name: old\n    segment: lan\n    ip: 198.18.0.50\n    mac: \"00:40:8c:00:00:01\"\n"
        "    truth: {maker: Axis, covered: false, device_class: camera}\n    services: {}\n"
        "    fragile: {max_connections: 0}\n")
    with pytest.raises(OperatorError, match=r"f.yaml:\d+: .*fragile limits must be positive"):
        load_fleet(p)


@pytest.mark.netns
def test_bridge_max_ports_is_the_kernels_limit() -> None:
    # scaled_fleet's bound must be what the kernel really takes, or `lab up --scale N`
    # passes validation and then fails half-way with "Exchange full".
    ns = f"camlt{secrets.token_hex(4)}-br"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        ports = [f"p{i}" for i in range(BRIDGE_MAX_PORTS + 1)]
        cmds = ["link add br0 type bridge"] + [f"link add {p} type veth peer name q{p}" for p in ports]
        cmds += [f"link set {p} master br0" for p in ports[:-1]]
        r = subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-300:]
        r = subprocess.run(["ip", "-n", ns, "link", "set", ports[-1], "master", "br0"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and "full" in r.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=60)


def test_hostile_names_are_known() -> None:
    assert "tarpit" in HOSTILE_BEHAVIOURS
