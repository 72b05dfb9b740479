"""Bring the simulated facility up and down: namespaces first, then the emulator process.

State lives in ``/run/camaudit-lab/<tag>/``:

- ``state.json``: the emulator's input (``{"tag", "devices": [{"ns", "spec"}]}``, see
  ``auditor.lab.emulator``) plus a ``"lab"`` object the runner reads back for
  ``status``: scanner/switch/router namespace names, emulator pid, scale, timings.
- ``emulator.out`` / ``emulator.log``: the emulator's stdout (``READY n m``) and stderr.

The emulator runs in its own session so it survives the ``camaudit lab up`` command
that started it; ``lab down`` (also after a crash, without any state) finds it by
its argv and by the namespaces it lives in, and removes every ``caml<tag>-`` namespace.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError
from . import netns
from .emulator import state_data
from .fleet import fleet_from_data, fleet_to_data, load_fleet, scaled_fleet
from .kernel import ensure_neighbour_capacity
from .netns import Topology
from .spec import Fleet

STATE_ROOT = Path("/run/camaudit-lab")
STATE_FILE = "state.json"
EMULATOR_OUT = "emulator.out"
EMULATOR_LOG = "emulator.log"
Progress = Callable[[str], None]
_CHILDREN: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
"""Emulators this process started (kept so they are reaped, not left as zombies)."""


@dataclass(frozen=True)
class LabState:
    """A running lab, as ``lab_up`` built it or ``load_state`` read it back."""

    tag: str
    fleet: Fleet
    topology: Topology
    state_dir: Path
    emulator_pid: int
    scale: int = 0
    network_s: float = 0.0
    """Seconds to build the namespaces."""
    emulator_s: float = 0.0
    """Seconds from starting the emulator to its READY line."""

    @property
    def scanner_ns(self) -> str:
        return self.topology.scanner

    def device_ns(self, name: str) -> str:
        return self.topology.devices[name]


@dataclass(frozen=True)
class LabStatus:
    tag: str
    namespaces: int
    devices: int | None
    """From the state file; None when it is missing (e.g. after a crash)."""
    emulator_pid: int | None
    emulator_alive: bool
    emulator_rss_kb: int | None
    scanner_ns: str
    state_dir: Path

    @property
    def up(self) -> bool:
        return self.namespaces > 0 and self.emulator_alive


def state_dir_for(tag: str, root: Path | None = None) -> Path:
    return (root or STATE_ROOT) / netns.check_tag(tag)


def _raise_nofile(wanted: int) -> None:
    """Raise this process's (and so the emulator's) open-file limits; root may raise the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), wanted))
            return
        except (ValueError, OSError):
            pass
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def default_timeout(n_devices: int) -> float:
    """Emulator readiness deadline: generous, grows with the fleet (2-core machines)."""
    return 30.0 + 0.06 * n_devices


def lab_up(
    tag: str = "demo",
    fleet: Fleet | None = None,
    scale: int = 0,
    state_dir: Path | None = None,
    timeout_s: float | None = None,
    progress: Progress | None = None,
    *,
    sparse: int = 0,
    fragile_every: int = 0,
) -> LabState:
    """Create lab ``tag`` for ``fleet`` (default: the demo fleet) plus ``scale`` generic cameras on
    the LAN and ``sparse`` spread over the routed /16 (every ``fragile_every``-th one fragile).

    Returns once the emulator reports READY. On any failure (or Ctrl-C) the lab is
    torn down before the error propagates.
    """
    netns.check_privileges()
    netns.check_tag(tag)
    say = progress or (lambda _m: None)
    fleet = scaled_fleet(fleet if fleet is not None else load_fleet(), scale, sparse=sparse,
                         fragile_every=fragile_every)
    sdir = state_dir or state_dir_for(tag)
    if netns.lab_namespaces(tag):
        raise LabError(f"lab {tag!r} is already up; run 'camaudit lab down --tag {tag}' first")
    try:
        if raised := ensure_neighbour_capacity():  # the namespaces share the machine's one ARP table
            say("raised the kernel's ARP table bounds: " + ", ".join(f"{k}={v}" for k, v in raised.items()))
        t0 = time.monotonic()
        topo = netns.create_topology(tag, fleet, progress=say)
        network_s = time.monotonic() - t0
        sdir.mkdir(parents=True, exist_ok=True)
        say(f"starting the emulator for {len(fleet.devices)} devices")
        t1 = time.monotonic()
        pid = _start_emulator(tag, fleet, topo, sdir, scale, network_s)
        _wait_ready(pid, sdir, timeout_s if timeout_s is not None else default_timeout(len(fleet.devices)))
        emulator_s = time.monotonic() - t1
        state = LabState(tag=tag, fleet=fleet, topology=topo, state_dir=sdir, emulator_pid=pid,
                         scale=scale, network_s=network_s, emulator_s=emulator_s)
        _write_state(state)
        return state
    except BaseException:
        _teardown(tag, sdir)
        raise


def _lab_meta(state: LabState) -> dict[str, Any]:
    t = state.topology
    return {
        "switch_ns": t.switch, "router_ns": t.router, "scanner_ns": t.scanner,
        "emulator_pid": state.emulator_pid, "scale": state.scale, "site": state.fleet.site,
        "network_s": round(state.network_s, 3), "emulator_s": round(state.emulator_s, 3),
    }


def _write_state(state: LabState) -> None:
    data = state_data(state.tag, [(state.topology.devices[d.name], d) for d in state.fleet.devices])
    data["lab"] = _lab_meta(state)
    path = state.state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _start_emulator(tag: str, fleet: Fleet, topo: Topology, sdir: Path, scale: int, network_s: float) -> int:
    provisional = LabState(tag=tag, fleet=fleet, topology=topo, state_dir=sdir, emulator_pid=0,
                           scale=scale, network_s=network_s)
    _write_state(provisional)
    _raise_nofile(16 * len(fleet.devices) + 1024)
    out = (sdir / EMULATOR_OUT).open("wb")
    err = (sdir / EMULATOR_LOG).open("wb")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditor.lab.emulator", "--tag", tag, "--state", str(sdir / STATE_FILE)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True, close_fds=True,
        )
    finally:
        out.close()
        err.close()
    _CHILDREN[proc.pid] = (tag, proc)
    return proc.pid


def _wait_ready(pid: int, sdir: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    out = sdir / EMULATOR_OUT
    while True:
        try:
            text = out.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if any(line.startswith("READY") for line in text.splitlines()):
            return
        status = _CHILDREN[pid][1].poll() if pid in _CHILDREN else (None if netns.emulator_pids_alive([pid]) else 0)
        if status is not None:
            raise LabError(f"the device emulator exited (status {status}) before it was ready:\n"
                           f"{_log_tail(sdir)}")
        if time.monotonic() > deadline:
            raise LabError(f"the device emulator was not ready after {timeout_s:.0f}s:\n{_log_tail(sdir)}")
        time.sleep(0.05)


def _log_tail(sdir: Path, lines: int = 15) -> str:
    try:
        text = (sdir / EMULATOR_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no emulator log)"
    return "\n".join(text.splitlines()[-lines:]) or "(emulator log empty)"


def _stop_own_emulators(tag: str) -> None:
    """Stop and reap the emulators this process started for ``tag``.

    Finding them by their command line (as ``destroy_topology`` does for labs other
    processes started) can miss one that is only just starting; our own Popen cannot.
    """
    for pid, (child_tag, proc) in list(_CHILDREN.items()):
        if child_tag == tag and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _teardown(tag: str, sdir: Path) -> list[str]:
    _stop_own_emulators(tag)
    names = netns.destroy_topology(tag)
    shutil.rmtree(sdir, ignore_errors=True)
    return names


def lab_down(tag: str = "demo", state_dir: Path | None = None) -> list[str]:
    """Stop lab ``tag``'s emulator and delete all its namespaces; returns the namespaces removed.

    Needs no state: works after a crash. Removing a lab that is not up is not an error.
    """
    netns.check_privileges()
    return _teardown(tag, state_dir or state_dir_for(tag))


def load_state(tag: str = "demo", state_dir: Path | None = None) -> LabState:
    """Read a running lab's state back (raises :class:`LabError` if it has none)."""
    sdir = state_dir or state_dir_for(tag)
    path = sdir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data["lab"]
        devices = data["devices"]
        fleet = fleet_from_data({"site": meta.get("site", ""), "devices": [d["spec"] for d in devices]},
                                str(path))
        topo = Topology(tag=tag, switch=meta["switch_ns"], router=meta["router_ns"],
                        scanner=meta["scanner_ns"],
                        devices={d["spec"]["name"]: d["ns"] for d in devices})
        return LabState(tag=tag, fleet=fleet, topology=topo, state_dir=sdir,
                        emulator_pid=int(meta["emulator_pid"]), scale=int(meta.get("scale", 0)),
                        network_s=float(meta.get("network_s", 0.0)),
                        emulator_s=float(meta.get("emulator_s", 0.0)))
    except FileNotFoundError:
        raise LabError(f"lab {tag!r} is not up (no {path})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path}: unreadable lab state: {exc}") from exc


def crashed_devices(state: LabState) -> dict[str, str]:
    """Fragile devices of the running lab that have stopped answering: name → why (the emulator's
    ``CRASHED`` lines)."""
    try:
        text = (state.state_dir / EMULATOR_OUT).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CRASHED "):
            _, name, *why = line.split(" ", 2)
            out[name] = why[0] if why else ""
    return out


def rss_kb(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def lab_status(tag: str = "demo", state_dir: Path | None = None) -> LabStatus:
    """What is there of lab ``tag``: namespaces, state, emulator process and its memory."""
    netns.check_tag(tag)
    sdir = state_dir or state_dir_for(tag)
    names = netns.lab_namespaces(tag)
    devices: int | None = None
    pid: int | None = None
    try:
        st = load_state(tag, sdir)
        devices, pid = len(st.fleet.devices), st.emulator_pid
    except LabError:
        pids = netns.emulator_pids(tag)
        pid = pids[0] if pids else None
    alive = pid is not None and pid in netns.emulator_pids(tag)
    return LabStatus(tag=tag, namespaces=len(names), devices=devices, emulator_pid=pid, emulator_alive=alive,
                     emulator_rss_kb=rss_kb(pid) if alive and pid is not None else None,
                     scanner_ns=netns.plan(tag, Fleet(site="", devices=())).scanner, state_dir=sdir)


def scanner_argv(tag: str, argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run inside lab ``tag``'s scanner namespace."""
    return ["ip", "netns", "exec", netns.plan(tag, Fleet(site="", devices=())).scanner, *argv]


def lab_exec(tag: str, argv: Sequence[str]) -> int:
    """Run ``argv`` inside the scanner namespace of lab ``tag`` (stdio inherited); returns its exit code."""
    netns.check_privileges()
    if not argv:
        raise LabError("lab exec needs a command, e.g. camaudit lab exec -- camaudit scan 198.18.0.0/24")
    scan_ns = netns.plan(tag, Fleet(site="", devices=())).scanner
    if scan_ns not in netns.lab_namespaces(tag):
        raise LabError(f"lab {tag!r} is not up (no namespace {scan_ns}); run 'camaudit lab up --tag {tag}'")
    return subprocess.call(scanner_argv(tag, argv))


def lab_fleet_data(state: LabState) -> dict[str, Any]:
    """The running fleet as plain data (for callers that want to dump it)."""
    return fleet_to_data(state.fleet)
