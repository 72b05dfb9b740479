"""Lab lifecycle: up, status, down, failure paths and crash recovery leave nothing behind."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from auditor.cli import cli
from auditor.commands.lab import lab as lab_cli
from auditor.errors import LabError, ScanError
from auditor.lab import netns, runner
from auditor.lab.fleet import load_fleet
from auditor.lab.spec import Fleet


@pytest.fixture()
def tag() -> Iterator[str]:
    t = "u" + secrets.token_hex(4)
    try:
        yield t
    finally:
        if os.geteuid() == 0 and shutil.which("ip"):
            runner.lab_down(t)


@pytest.fixture(scope="module")
def small_fleet() -> Fleet:
    demo = load_fleet()
    keep = {"hik-cam-onvif", "dahua-cam", "rtd-axis-cam"}
    return Fleet(site="small", devices=tuple(d for d in demo.devices if d.name in keep))


def _nothing_left(tag: str) -> None:
    assert netns.lab_namespaces(tag) == []
    assert netns.emulator_pids(tag) == []
    assert not runner.state_dir_for(tag).exists()


@pytest.mark.netns
def test_up_status_down_leaves_nothing(tag: str, small_fleet: Fleet) -> None:
    state = runner.lab_up(tag, small_fleet)
    assert len(netns.lab_namespaces(tag)) == 3 + 3
    st = runner.lab_status(tag)
    assert st.up and st.devices == 3 and st.emulator_pid == state.emulator_pid
    assert st.emulator_rss_kb is not None and st.emulator_rss_kb > 1000
    assert runner.load_state(tag).fleet == small_fleet
    with pytest.raises(LabError, match="already up"):
        runner.lab_up(tag, small_fleet)
    removed = runner.lab_down(tag)
    assert len(removed) == 6
    _nothing_left(tag)
    assert not runner.lab_status(tag).up
    assert runner.lab_down(tag) == []  # idempotent


@pytest.mark.netns
def test_down_after_crash_without_state(tag: str, small_fleet: Fleet) -> None:
    runner.lab_up(tag, small_fleet)
    shutil.rmtree(runner.state_dir_for(tag))  # the runner "crashed" and lost its state
    st = runner.lab_status(tag)
    assert st.devices is None and st.emulator_alive and st.namespaces == 6
    runner.lab_down(tag)
    _nothing_left(tag)


@pytest.mark.netns
def test_processes_left_in_lab_namespaces_are_killed(tag: str, small_fleet: Fleet) -> None:
    state = runner.lab_up(tag, small_fleet)
    stray = subprocess.Popen(runner.scanner_argv(tag, ["sleep", "300"]))
    try:
        deadline = time.monotonic() + 10
        while stray.pid not in netns.processes_in([state.scanner_ns]):
            assert time.monotonic() < deadline and stray.poll() is None, "stray never entered the namespace"
            time.sleep(0.01)
        runner.lab_down(tag)
        assert stray.wait(timeout=10) == -signal.SIGTERM
    finally:
        if stray.poll() is None:
            stray.kill()
    _nothing_left(tag)


@pytest.mark.netns
def test_emulator_that_dies_tears_the_lab_down(tag: str, small_fleet: Fleet,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.sys, "executable", "/bin/false")
    with pytest.raises(LabError, match="exited"):
        runner.lab_up(tag, small_fleet)
    _nothing_left(tag)


@pytest.mark.netns
def test_emulator_not_ready_in_time_tears_the_lab_down(tag: str, small_fleet: Fleet) -> None:
    with pytest.raises(LabError, match="not ready"):
        runner.lab_up(tag, small_fleet, timeout_s=0.0)
    _nothing_left(tag)


@pytest.mark.netns
def test_cli_lab_commands(tag: str, small_fleet: Fleet, tmp_path: os.PathLike[str]) -> None:
    cr = CliRunner()
    r = cr.invoke(lab_cli, ["status", "--tag", tag])
    assert r.exit_code == 0 and f"lab {tag}: down" in r.output
    # Errors surface as LabError, which camaudit's group maps to exit 2.
    r = cr.invoke(lab_cli, ["exec", "--tag", tag, "--", "true"])
    assert isinstance(r.exception, LabError) and "not up" in str(r.exception)
    r = cr.invoke(lab_cli, ["up", "--tag", tag, "--scale", "2"])
    assert r.exit_code == 0, r.output
    assert f"lab {tag} up: {len(load_fleet().devices) + 2} devices" in r.output
    assert "scan -i lan0 198.18.0.0/24 198.18.32.0/24 198.18.4.1-198.18.4.2\n" in r.output  # scaled block too
    r = cr.invoke(lab_cli, ["exec", "--tag", tag, "--", "sh", "-c", "ip -br addr show lan0 | grep -q 198.18.0.2"])
    assert r.exit_code == 0
    r = cr.invoke(lab_cli, ["status", "--tag", tag])
    assert "up" in r.output and "MiB RSS" in r.output
    r = cr.invoke(lab_cli, ["down", "--tag", tag])
    assert r.exit_code == 0 and "namespaces removed" in r.output
    _nothing_left(tag)


def test_bad_tag_is_refused() -> None:
    for bad in ("", "Demo", "a-b", "x" * 13, "../x"):
        with pytest.raises(LabError, match="tag"):
            netns.check_tag(bad)
    r = CliRunner().invoke(lab_cli, ["down", "--tag", "a-b"])
    assert isinstance(r.exception, LabError) and not isinstance(r.exception, ScanError)
    r = CliRunner().invoke(cli, ["lab", "down", "--tag", "a-b"])
    assert r.exit_code == 2 and "tag" in r.output  # the camaudit group maps a lab error to exit 2


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        runner.lab_up("zz")
    with pytest.raises(LabError, match="needs root"):
        runner.lab_down("zz")


def test_missing_ip_command_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda _n: None)
    with pytest.raises(LabError, match="iproute2"):
        runner.lab_up("zz")
