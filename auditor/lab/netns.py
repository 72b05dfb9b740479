"""Create and destroy the lab's network namespaces (see ``auditor.lab.topology``).

Everything is done with a handful of ``ip -batch`` runs so that 1000 devices come
up in seconds: one batch in the root namespace creates every namespace and every
veth pair (each end created directly inside its namespace, so nothing ever
appears in the root namespace), one batch configures the switch, and one thread
walks the device namespaces setting address and route over rtnetlink (no
process per device). IPv6 is
disabled in every lab namespace (no DAD/RA/MLD chatter, less memory per link).

Teardown finds namespaces by name prefix, so it works after a crash without any
state file, and kills every process still living in one of them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import LabError
from ..netns import NETNS_RUN_DIR, NetnsError, enter_netns
from . import topology
from .fleet import gateway, prefixlen
from .rtnl import configure_device, veth_own_queue
from .spec import DeviceSpec, Fleet

TAG_RE = re.compile(r"^[a-z0-9]{1,12}$")
LAN_BRIDGE = "br-lan"
ROUTED_BRIDGE = "br-rtd"
SPARSE_BRIDGE = "br-spr"
ROUTER_LAN_IFACE = "lan0"
ROUTER_ROUTED_IFACE = "rtd0"
ROUTER_SPARSE_IFACE = "spr0"
_BRIDGES = {"lan": LAN_BRIDGE, "routed": ROUTED_BRIDGE, "sparse": SPARSE_BRIDGE}
_IP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Topology:
    """Namespace names of one lab."""

    tag: str
    switch: str
    router: str
    scanner: str
    devices: dict[str, str]
    """Device name → namespace name."""


def check_tag(tag: str) -> str:
    """Return ``tag`` if usable in namespace names; a dash would let one lab's prefix match another's."""
    if not TAG_RE.match(tag):
        raise LabError(f"lab tag must be 1-12 lower-case letters/digits, got {tag!r}")
    return tag


def check_privileges() -> None:
    """Raise :class:`LabError` unless this process can manage network namespaces."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it creates Linux network namespaces); run with sudo")
    if shutil.which("ip") is None:
        raise LabError("the lab needs iproute2's 'ip' command (apt-get install iproute2)")
    if not os.path.exists("/proc/self/ns/net"):
        raise LabError("this kernel has no network namespaces (/proc/self/ns/net missing)")


def ns_prefix(tag: str) -> str:
    return f"{topology.NS_PREFIX}{check_tag(tag)}-"


def lab_namespaces(tag: str) -> list[str]:
    """Names of the existing namespaces that belong to lab ``tag``."""
    prefix = ns_prefix(tag)
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def all_lab_tags() -> list[str]:
    """Tags of every lab that has namespaces on this machine."""
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    tags = {n[len(topology.NS_PREFIX):].split("-", 1)[0] for n in names
            if n.startswith(topology.NS_PREFIX) and "-" in n}
    return sorted(t for t in tags if TAG_RE.match(t))


def plan(tag: str, fleet: Fleet) -> Topology:
    """Namespace names for ``fleet`` in lab ``tag`` (devices by index: names stay short)."""
    return Topology(
        tag=tag,
        switch=topology.ns_name(check_tag(tag), "sw"),
        router=topology.ns_name(tag, "rt"),
        scanner=topology.ns_name(tag, "scan"),
        devices={d.name: topology.ns_name(tag, f"d{i}") for i, d in enumerate(fleet.devices)},
    )


def _ip_batch(commands: Sequence[str], netns: str | None = None) -> None:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    try:
        r = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True,
                           timeout=_IP_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)} timed out") from exc
    if r.returncode != 0:
        where = f" in {netns}" if netns else ""
        raise LabError(f"ip -batch failed{where}: {r.stderr.strip()[-500:]}")


def _on_thread(name: str, what: str, work: Callable[[], None]) -> None:
    """Run ``work`` (which setns's into lab namespaces) on a thread of its own, so the
    caller's thread never changes namespace; its OSError/NetnsError/LabError becomes
    ``LabError("cannot {what}: ...")``."""
    errors: list[Exception] = []

    def run() -> None:
        try:
            work()
        except (OSError, NetnsError, LabError) as exc:
            errors.append(exc)

    t = threading.Thread(target=run, name=name)
    t.start()
    t.join()
    if errors:
        raise LabError(f"cannot {what}: {errors[0]}")


def _sysctls(namespaces: Iterable[str], settings: dict[str, str]) -> None:
    """Write /proc/sys/net settings inside each namespace."""

    def work() -> None:
        for ns in namespaces:
            try:
                with enter_netns(ns):
                    for key, value in settings.items():
                        with open(f"/proc/sys/net/{key}", "w") as fh:
                            fh.write(value)
            except OSError as exc:
                raise LabError(f"{ns}: {exc}") from exc

    _on_thread("lab-sysctl", "set sysctls", work)


_NO_IPV6 = {"ipv6/conf/all/disable_ipv6": "1", "ipv6/conf/default/disable_ipv6": "1"}


def create_topology(tag: str, fleet: Fleet, progress: Callable[[str], None] | None = None) -> Topology:
    """Create lab ``tag``'s namespaces, bridges, router and device links for ``fleet``.

    On any failure everything created so far is removed and :class:`LabError` raised.
    """
    check_privileges()
    topo = plan(tag, fleet)
    leftovers = lab_namespaces(tag)
    if leftovers:
        raise LabError(f"lab {tag!r} already exists ({len(leftovers)} namespaces); "
                       f"run 'camaudit lab down --tag {tag}' first")
    say = progress or (lambda _msg: None)
    try:
        _build(topo, fleet, say)
    except BaseException:
        destroy_topology(tag)
        raise
    return topo


def _build(topo: Topology, fleet: Fleet, say: Callable[[str], None]) -> None:
    dev_ns = [topo.devices[d.name] for d in fleet.devices]
    infra = [topo.switch, topo.router, topo.scanner]
    say(f"creating {len(infra) + len(dev_ns)} namespaces")
    _ip_batch([f"netns add {ns}" for ns in infra + dev_ns])
    _sysctls(infra + dev_ns, _NO_IPV6)
    _sysctls([topo.router], {"ipv4/ip_forward": "1"})

    say("creating links")
    sw = topo.switch
    links = [
        f"link add {topology.SCANNER_IFACE} address {topology.SCANNER_MAC} netns {topo.scanner} "
        f"type veth peer name scan netns {sw}",
        f"link add {ROUTER_LAN_IFACE} address {topology.ROUTER_LAN_MAC} netns {topo.router} "
        f"type veth peer name rt-lan netns {sw}",
        f"link add {ROUTER_ROUTED_IFACE} address {topology.ROUTER_ROUTED_MAC} netns {topo.router} "
        f"type veth peer name rt-rtd netns {sw}",
    ]
    sparse = [d for d in fleet.devices if d.segment == "sparse"]
    if sparse:
        links.append(f"link add {ROUTER_SPARSE_IFACE} address {topology.ROUTER_SPARSE_MAC} netns {topo.router} "
                     f"type veth peer name rt-spr netns {sw}")
    links += [
        f"link add {topology.DEVICE_IFACE} address {d.mac} netns {ns} type veth peer name d{i} netns {sw}"
        for i, (d, ns) in enumerate(zip(fleet.devices, dev_ns, strict=True))
    ]
    _ip_batch(links)

    say("configuring switch, router and scanner")
    bridge_opts = "type bridge stp_state 0 forward_delay 0 mcast_snooping 0"
    switch_cmds = [
        "link set lo up",
        f"link add {LAN_BRIDGE} {bridge_opts}",
        f"link add {ROUTED_BRIDGE} {bridge_opts}",
        f"link set scan master {LAN_BRIDGE} up",
        f"link set rt-lan master {LAN_BRIDGE} up",
        f"link set rt-rtd master {ROUTED_BRIDGE} up",
    ]
    if sparse:
        switch_cmds += [f"link add {SPARSE_BRIDGE} {bridge_opts}", f"link set rt-spr master {SPARSE_BRIDGE} up"]
    switch_cmds += [
        f"link set d{i} master {_BRIDGES[d.segment]} up"
        for i, d in enumerate(fleet.devices)
    ]
    switch_cmds += [f"link set {LAN_BRIDGE} up", f"link set {ROUTED_BRIDGE} up"]
    if sparse:
        switch_cmds.append(f"link set {SPARSE_BRIDGE} up")
    _ip_batch(switch_cmds, sw)
    _ip_batch([
        "link set lo up",
        f"link set {ROUTER_LAN_IFACE} up",
        f"link set {ROUTER_ROUTED_IFACE} up",
        f"addr add {topology.ROUTER_LAN_IP}/{topology.LAN.prefixlen} brd + dev {ROUTER_LAN_IFACE}",
        f"addr add {topology.ROUTER_ROUTED_IP}/{topology.ROUTED.prefixlen} brd + dev {ROUTER_ROUTED_IFACE}",
        *_sparse_router(sparse),
    ], topo.router)
    lan0 = topology.SCANNER_IFACE
    _ip_batch([
        "link set lo up",
        f"link set {lan0} up",
        f"addr add {topology.SCANNER_IP}/{topology.LAN.prefixlen} brd + dev {lan0}",
        f"route add {topology.ROUTED} via {topology.ROUTER_LAN_IP}",
        *([f"route add {topology.SPARSE} via {topology.ROUTER_LAN_IP}"] if sparse else []),
        # Multicast probes (WS-Discovery, SADP) leave through the LAN interface.
        f"route add 224.0.0.0/4 dev {lan0}",
        # Like a site host: a default gateway (the router has none, so nothing goes further).
        f"route add default via {topology.ROUTER_LAN_IP}",
    ], topo.scanner)

    say(f"configuring {len(dev_ns)} devices")
    _configure_devices(fleet, dev_ns)
    _own_queues(topo, len(dev_ns), bool(sparse))


def _sparse_router(sparse: list[DeviceSpec]) -> list[str]:
    """The router's side of the sparse /16: a /32 route and a permanent neighbour per device, and
    an ``unreachable`` route for the rest.

    A router that ARPs for every silent address of a /16 sweep keeps thousands of incomplete
    neighbour entries, and the kernel's neighbour table (``gc_thresh3``, 1024 by default) is
    one for every namespace of the machine: it would overflow and break other namespaces'
    traffic. Seen from the scanner a silent address stays silent either way (a real router's
    late "host unreachable" is rate-limited to about one a second, like this one's).
    """
    if not sparse:
        return []
    iface = ROUTER_SPARSE_IFACE
    cmds = [f"link set {iface} up", f"addr add {topology.ROUTER_SPARSE_IP}/32 dev {iface}",
            f"route add unreachable {topology.SPARSE}"]
    for d in sparse:
        cmds += [f"route add {d.ip}/32 dev {iface}", f"neigh add {d.ip} lladdr {d.mac} dev {iface} nud permanent"]
    return cmds


def _own_queues(topo: Topology, n_devices: int, sparse: bool = False) -> None:
    """See ``rtnl.veth_own_queue``: bridge-side senders TSO off, infrastructure receivers GRO on."""

    def work() -> None:
        with enter_netns(topo.switch):
            infra = ["scan", "rt-lan", "rt-rtd"] + (["rt-spr"] if sparse else [])
            for port in infra + [f"d{i}" for i in range(n_devices)]:
                veth_own_queue(sender=port)
        with enter_netns(topo.scanner):
            veth_own_queue(receiver=topology.SCANNER_IFACE)
        with enter_netns(topo.router):
            veth_own_queue(receiver=ROUTER_LAN_IFACE)
            veth_own_queue(receiver=ROUTER_ROUTED_IFACE)
            if sparse:
                veth_own_queue(receiver=ROUTER_SPARSE_IFACE)

    _on_thread("lab-queues", "tune veth queues", work)


def _configure_devices(fleet: Fleet, dev_ns: list[str]) -> None:
    """Address, route and infrastructure neighbours of every device over rtnetlink, from one
    thread (no process per device). See ``topology.SCANNER_MAC`` for why the neighbours."""
    neighbours = {
        "lan": {topology.ROUTER_LAN_IP: topology.ROUTER_LAN_MAC, topology.SCANNER_IP: topology.SCANNER_MAC},
        "routed": {topology.ROUTER_ROUTED_IP: topology.ROUTER_ROUTED_MAC},
        "sparse": {topology.ROUTER_SPARSE_IP: topology.ROUTER_SPARSE_MAC},
    }

    def work() -> None:
        for d, ns in zip(fleet.devices, dev_ns, strict=True):
            try:
                with enter_netns(ns):
                    configure_device(topology.DEVICE_IFACE, d.ip, prefixlen(d), gateway(d), neighbours[d.segment])
            except (OSError, NetnsError, LabError) as exc:
                raise LabError(f"{d.name} ({ns}): {exc}") from exc

    _on_thread("lab-devices", "configure device", work)


def _ns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def processes_in(namespaces: Iterable[str]) -> list[int]:
    """PIDs (other than ours) whose network namespace is one of ``namespaces``."""
    inodes = {i for i in (_ns_inode(os.path.join(NETNS_RUN_DIR, n)) for n in namespaces) if i is not None}
    if not inodes:
        return []
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        if _ns_inode(f"/proc/{entry}/ns/net") in inodes:
            found.append(int(entry))
    return found


def emulator_pids(tag: str) -> list[int]:
    """PIDs of ``python -m auditor.lab.emulator --tag TAG`` processes (matched exactly by argv)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"auditor.lab.emulator" in argv and b"--tag" in argv:
            i = argv.index(b"--tag")
            if i + 1 < len(argv) and argv[i + 1].decode(errors="replace") == tag:
                found.append(int(entry))
    return found


def _wait_gone(pending: set[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            if not _alive(pid):
                pending.discard(pid)
        if pending:
            time.sleep(0.05)


def kill_pids(pids: Iterable[int], grace_s: float = 3.0) -> None:
    """SIGTERM each pid, then SIGKILL whatever is still alive after ``grace_s``; return once all are gone.

    SIGKILL is not instant either (a loaded machine may take a moment to tear a process
    down), so the callers' "nothing left" holds when this returns.
    """
    pending = set(pids)
    for pid in list(pending):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pending.discard(pid)
    _wait_gone(pending, grace_s)
    for pid in pending:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_gone(pending, 5.0)


def emulator_pids_alive(pids: Iterable[int]) -> list[int]:
    """The pids of ``pids`` that are still running (zombies count as gone)."""
    return [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    # A zombie is dead; its parent reaps it (we never steal another Popen's exit status).
    return state != "Z"


def destroy_topology(tag: str) -> list[str]:
    """Kill the lab's processes and delete every namespace of lab ``tag``; return the names removed."""
    check_privileges()
    names = lab_namespaces(tag)
    kill_pids(set(emulator_pids(tag)) | set(processes_in(names)))
    if names:
        subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in names),
                       capture_output=True, text=True, timeout=_IP_TIMEOUT_S)
    left = lab_namespaces(tag)
    if left:
        raise LabError(f"could not delete namespaces: {', '.join(left[:5])}")
    return names
