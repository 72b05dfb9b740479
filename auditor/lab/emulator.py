"""The device emulator process: one process, one asyncio loop, every device of the lab.

Run by the lab runner as::

    python -m auditor.lab.emulator --tag TAG --state STATE.json

State file (JSON, written by the runner)::

    {"tag": "TAG",
     "devices": [{"ns": "caml<TAG>-d3", "spec": {...DeviceSpec as dataclasses.asdict...}},
                 ...]}

``spec`` is what :func:`auditor.lab.devices.specdict.spec_to_dict` (or
``auditor.lab.fleet.fleet_to_data`` per device) produces. Optional per-device
``"iface"`` (default ``eth0``) names the interface the multicast groups are joined on.
Every ``ns`` must be one of this lab's namespaces (``caml<TAG>-…``): the emulator never
opens a socket in the machine's own namespace.

For each device the process enters its namespace (``setns``, this thread only), binds
the device's sockets on 0.0.0.0 (one device per namespace) and joins the discovery
groups on its interface, then returns; after all devices it serves every socket from
one loop and prints ``READY <devices> <sockets>`` on stdout. SIGTERM/SIGINT close
everything and exit 0. A fragile device (``DeviceSpec.fragile``) pushed past its limits
goes dark (every socket closed, its interface down) and the emulator prints
``CRASHED <name> <why>`` on stdout. Setup errors print ``ERROR <device>: <why>`` on stderr, exit 1.

``--loopback`` (tests, no root needed): ignore namespaces, bind every device on
127.0.0.1 with ephemeral ports, no multicast; before READY print one line per device
``PORTS <name> <json {spec port: bound port}>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..netns import enter_fd, netns_fd
from .devices.fragile import open_syn_sniffer
from .devices.runtime import DeviceRuntime
from .devices.server import Bound, close_all, open_device, serve, shutdown
from .devices.specdict import spec_from_dict, spec_to_dict
from .devices.tls import CertStore
from .rtnl import link_down
from .spec import DeviceSpec
from .topology import DEVICE_IFACE, NS_PREFIX

__all__ = ["LabDevice", "main", "read_state", "spec_from_dict", "spec_to_dict", "state_data"]

log = logging.getLogger("auditor.lab.emulator")


class StateError(ValueError):
    """The state file is missing, malformed, or names a namespace outside the lab."""


@dataclass(frozen=True)
class LabDevice:
    ns: str | None
    spec: DeviceSpec
    iface: str = DEVICE_IFACE


def state_data(tag: str, devices: list[tuple[str, DeviceSpec]]) -> dict[str, Any]:
    """The JSON-ready state document for ``devices`` as (namespace, spec) pairs."""
    return {"tag": tag, "devices": [{"ns": ns, "spec": spec_to_dict(s)} for ns, s in devices]}


def read_state(path: str | Path, tag: str, loopback: bool = False) -> list[LabDevice]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: cannot read state: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        raise StateError(f"{path}: expected an object with a 'devices' list")
    if data.get("tag", tag) != tag:
        raise StateError(f"{path}: state is for lab {data.get('tag')!r}, not {tag!r}")
    prefix = f"{NS_PREFIX}{tag}-"
    out: list[LabDevice] = []
    for i, entry in enumerate(data["devices"]):
        if not isinstance(entry, dict) or "spec" not in entry:
            raise StateError(f"{path}: devices[{i}] needs 'spec'")
        try:
            spec = spec_from_dict(entry["spec"])
        except ValueError as exc:
            raise StateError(f"{path}: devices[{i}]: {exc}") from exc
        ns = entry.get("ns")
        if not loopback and (not isinstance(ns, str) or not ns.startswith(prefix)):
            raise StateError(f"{path}: devices[{i}] ({spec.name}): namespace {ns!r} is not under {prefix!r}")
        out.append(LabDevice(ns, spec, str(entry.get("iface") or DEVICE_IFACE)))
    return out


def raise_nofile(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (up to the hard limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _ns_id(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _open_in_netns(ns: str, own: tuple[int, int], device: LabDevice,
                   certs: CertStore) -> tuple[DeviceRuntime, list[Bound]]:
    """``open_device`` inside ``ns`` — refused when ``ns`` is really the emulator's own
    namespace (a ``caml…`` name bound to the machine's namespace, e.g. by ``ip netns
    attach``): the device would listen, and join multicast groups, on the real network."""
    fd = netns_fd(ns)
    try:
        if _ns_id(os.fstat(fd)) == own:
            raise StateError(f"namespace {ns!r} is the emulator's own network namespace, not a lab's")
        with enter_fd(fd):
            dev, bound = open_device(device.spec, iface=device.iface, certs=certs)
            if dev.guard is not None:
                try:
                    dev.sniffer = open_syn_sniffer(device.iface)
                except BaseException:
                    close_all(bound)
                    raise
            return dev, bound
    finally:
        os.close(fd)


def open_all(devices: list[LabDevice], loopback: bool) -> list[tuple[DeviceRuntime, list[Bound]]]:
    own = _ns_id(os.stat("/proc/thread-self/ns/net"))
    certs = CertStore()
    opened: list[tuple[DeviceRuntime, list[Bound]]] = []
    try:
        for d in devices:
            try:
                if loopback:
                    opened.append(open_device(d.spec, bind_ip="127.0.0.1", iface=None,
                                              port_map=lambda p: 0, certs=certs))  # fmt: skip
                else:
                    assert d.ns is not None
                    opened.append(_open_in_netns(d.ns, own, d, certs))
            except Exception as exc:
                raise StateError(f"{d.spec.name}: {exc}") from exc
    except BaseException:
        for _, bound in opened:
            close_all(bound)
        certs.close()
        raise
    # Contexts hold the cert and key in memory; the temporary files are no longer needed.
    certs.close()
    return opened


Handle = asyncio.AbstractServer | asyncio.BaseTransport


def _silencer(handles: list[Handle], device: LabDevice, loopback: bool) -> Any:
    """What a fragile device does when it dies: close every socket, take its interface down, say so.

    With the interface down the device answers nothing at all, not even a TCP reset or an
    ARP reply (``--loopback`` has no interface of its own: only the sockets close there).
    """

    def silence(dev: DeviceRuntime, reason: str) -> None:
        for h in handles:
            h.close()
        for writer in dev.guard.connections() if dev.guard is not None else ():
            writer.transport.abort()
        if not loopback and device.ns is not None:
            try:
                fd = netns_fd(device.ns)
                try:
                    with enter_fd(fd):
                        link_down(device.iface)
                finally:
                    os.close(fd)
            except Exception as exc:  # OSError, a netlink error: the sockets are closed all the same
                log.error("%s: could not take %s down: %s", dev.name, device.iface, exc)
        print(f"CRASHED {dev.name} {reason}", flush=True)

    return silence


async def run(devices: list[LabDevice], loopback: bool) -> int:
    t0 = time.monotonic()
    opened = open_all(devices, loopback)
    handles = []
    for device, (dev, bound) in zip(devices, opened, strict=True):
        mine = await serve(bound)
        handles.extend(mine)
        if dev.guard is not None:
            dev.on_crash = _silencer(mine, device, loopback)
            if dev.sniffer is not None:
                dev.guard.watch(dev.sniffer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if loopback:
        for dev, _ in opened:
            print(f"PORTS {dev.name} {json.dumps(dev.ports)}")
    n_sockets = sum(len(b) for _, b in opened)
    print(f"READY {len(opened)} {n_sockets}", flush=True)
    log.info("%d devices, %d sockets up in %.2fs", len(opened), n_sockets, time.monotonic() - t0)
    await stop.wait()
    await shutdown(handles)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m auditor.lab.emulator", description=__doc__.split("\n")[0])
    ap.add_argument("--tag", required=True, help="lab tag (namespace names are caml<TAG>-…)")
    ap.add_argument("--state", required=True, help="JSON state file written by the lab runner")
    ap.add_argument("--loopback", action="store_true", help="tests: serve on 127.0.0.1, no namespaces")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="emulator %(levelname)s %(message)s")  # fmt: skip
    try:
        devices = read_state(args.state, args.tag, loopback=args.loopback)
        raise_nofile(max(4096, 16 * len(devices) + 1024))
        return asyncio.run(run(devices, args.loopback))
    except StateError as exc:
        print(f"ERROR {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
