"""The emulator as a process: state file contract, READY line, serving, clean SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from emulator_specs import LineReader, dahua_camera, hik_camera

from auditor.lab.devices.server import close_all
from auditor.lab.devices.specdict import spec_from_dict, spec_to_dict
from auditor.lab.emulator import LabDevice, StateError, open_all, raise_nofile, read_state, state_data
from auditor.lab.spec import Services


def test_spec_round_trips_through_json() -> None:
    for spec in (hik_camera(), dahua_camera()):
        assert spec_from_dict(json.loads(json.dumps(spec_to_dict(spec)))) == spec


def test_spec_from_dict_names_unknown_keys() -> None:
    data = spec_to_dict(hik_camera())
    data["services"]["onvif"]["pasword"] = "x"
    with pytest.raises(ValueError, match=r"spec\.services\.onvif.*pasword"):
        spec_from_dict(data)


def test_state_must_name_this_labs_namespaces(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state_data("t1", [("camlt1-d0", hik_camera())])))
    (dev,) = read_state(path, "t1")
    assert dev.ns == "camlt1-d0" and dev.iface == "eth0" and dev.spec == hik_camera()
    with pytest.raises(StateError, match="not 't2'"):
        read_state(path, "t2")
    path.write_text(json.dumps(state_data("t1", [("somebody-else", hik_camera())])))
    with pytest.raises(StateError, match="not under 'camlt1-'"):
        read_state(path, "t1")
    path.write_text("{not json")
    with pytest.raises(StateError, match="cannot read state"):
        read_state(path, "t1")


@pytest.mark.netns
def test_a_lab_name_bound_to_the_machines_own_namespace_is_refused() -> None:
    # `ip netns attach caml<tag>-d0 <pid>` gives the machine's namespace a lab name; the
    # name check passes, so the emulator must compare the namespace itself, or the device
    # would bind (and join multicast groups) on the real network.
    ns = f"camlt{secrets.token_hex(4)}-d0"
    with socket.socket() as probe:  # a free port; TCP only, so nothing is sent even if bound
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = replace(hik_camera(), services=Services(tcp_ports=(port,)))
    subprocess.run(["ip", "netns", "attach", ns, str(os.getpid())], check=True, capture_output=True)
    try:
        with pytest.raises(StateError, match="own network namespace"):
            for _dev, bound in open_all([LabDevice(ns, spec)], loopback=False):
                close_all(bound)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_raise_nofile_never_lowers() -> None:
    import resource

    before = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert raise_nofile(16) >= before


def test_process_serves_loopback_devices_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state_data("t1", [("camlt1-d0", hik_camera()), ("camlt1-d1", dahua_camera())])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.lab.emulator", "--tag", "t1", "--state", str(path), "--loopback"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        reader = LineReader(proc)
        ports: dict[str, dict[str, int]] = {}
        while line := reader.next():
            if line.startswith("PORTS "):
                _, name, js = line.split(" ", 2)
                ports[name] = json.loads(js)
            if line.startswith("READY"):
                # hik: 3702 37020 80 443 554 8000 21 22 23; dahua: 37810 80 554 37777
                assert line.split() == ["READY", "2", str(9 + 4)]
                break
        assert set(ports) == {"hik", "dahua"}
        with socket.create_connection(("127.0.0.1", ports["hik"]["22"]), timeout=3) as s:
            assert s.recv(64).startswith(b"SSH-2.0-")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_process_reports_bad_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"tag": "t1", "devices": [{"ns": "camlt1-d0"}]}))
    r = subprocess.run([sys.executable, "-m", "auditor.lab.emulator", "--tag", "t1", "--state", str(path)],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 1 and r.stderr.startswith("ERROR ") and "needs 'spec'" in r.stderr
