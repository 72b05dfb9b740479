"""ARP sweep of the targets on the interface's attached subnet, plus the kernel's fresh neighbour entries.

ARP is the one probe every IPv4 host must answer, and it yields the MAC (hence the
OUI) of on-link devices. Requests (frames built here) go out through a raw AF_PACKET
socket on ``ctx.interface``, paced by the shared rate limit, with one retry round for hosts
that stayed silent (a software bridge or a real switch drops frames when hundreds of
hosts answer at once). Replies are read from a non-blocking AF_PACKET socket in the
event loop (no extra thread: the scan may run with its thread inside a lab namespace,
and a socket opened by another thread would live in the wrong one).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import socket
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Protocol

from ..mac import normalise_mac
from ..models import Observation
from .base import ProbeContext
from .contract import Field, ProbeFields
from .udp import RCVBUF_BYTES, SO_RCVBUFFORCE, Sweep

FIELDS = ProbeFields("arp", (
    Field("mac", "str", "source MAC of the ARP reply (or of the kernel's neighbour entry)", "c0:56:e3:12:34:56"),
    Field("source", "str", "`sweep` (our ARP request was answered) or `neighbour` (a REACHABLE entry of the "
          "kernel's table, confirmed within about 30 s; stale entries are not sightings): only a sweep answer "
          "counts as the device answering this scan (the end-of-scan re-check can ask it again)", "sweep"),
))

ETH_P_ARP = 0x0806
SIOCGIFHWADDR = 0x8927
BROADCAST_MAC = b"\xff" * 6
_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
NEIGH_MAX_BYTES = 4 * 1024 * 1024
SETTLE_MIN = 0.5
"""Seconds a sweep listens after a round's last request, at the least (see ``settle_time``)."""
SETTLE_FACTOR = 4

FRESH_NEIGH_STATES = {"REACHABLE"}
"""Neighbour states that prove the device answered recently: the kernel confirmed REACHABLE entries
within base_reachable_time (about 30 s). STALE, DELAY and PROBE entries may name a device unplugged
hours ago, PERMANENT ones are configuration: none of them says the device is on the network now."""


def settle_time(timeout: float, slowest: float | None) -> float:
    """Seconds to listen after a round's last request before retrying, or giving up on, the silent addresses.

    The probe timeout until an answer has shown how fast this segment answers; then four times the
    slowest answer seen (never under ``SETTLE_MIN``, never over the timeout). ARP is answered by the
    device's kernel within milliseconds on any LAN: the addresses still silent after that are empty,
    and waiting out the whole timeout for them held every scan's discovery phase open for seconds
    (about 2 s of each 290-device scan, against the ARP sweep's own 1.3 s). The slowest answer is
    timed from the send on this host's busy event loop, so a loaded scanner waits longer, not less.
    """
    if slowest is None:
        return timeout
    return min(timeout, max(SETTLE_MIN, SETTLE_FACTOR * slowest))


class L2Sender(Protocol):
    def send(self, x: Any) -> Any: ...
    def close(self) -> None: ...


def build_arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    """Broadcast Ethernet frame carrying an ARP who-has ``target_ip`` from ``src_mac``/``src_ip``."""
    smac = bytes.fromhex(src_mac.replace(":", ""))
    eth = _ETH.pack(BROADCAST_MAC, smac, ETH_P_ARP)
    arp = _ARP.pack(
        1, 0x0800, 6, 4, 1, smac, socket.inet_aton(src_ip), b"\x00" * 6, socket.inet_aton(target_ip)
    )
    return eth + arp


def parse_arp_reply(frame: bytes | Any) -> tuple[str, dict[str, Any]] | None:
    """An Ethernet frame (bytes or a scapy packet) → ``(sender ip, {"mac", "source"})`` for an ARP reply.

    Returns None for anything else (requests, other protocols, truncated or garbage
    frames). ``mac`` is the ARP sender hardware address, normalised.
    """
    data = bytes(frame)
    if len(data) < _ETH.size + _ARP.size:
        return None
    _dst, _src, ethertype = _ETH.unpack_from(data)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, _tpa = _ARP.unpack_from(data, _ETH.size)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 2):
        return None
    mac = normalise_mac(sha.hex())
    ip = socket.inet_ntoa(spa)
    if mac is None or ip == "0.0.0.0":  # no MAC: all-zero, broadcast
        return None
    return ip, {"mac": mac, "source": "sweep"}


def parse_neighbours(data: bytes | str) -> list[tuple[str, dict[str, Any]]]:
    """``ip -j neigh show`` output → ``[(ip, {"mac", "source": "neighbour"})]`` for fresh IPv4 entries.

    Only REACHABLE entries count (see ``FRESH_NEIGH_STATES``): a stale entry is a memory of a device,
    not a sighting, and would keep a removed camera in the inventory. IPv6 entries and entries without
    a link-layer address are skipped. Raises ``ValueError`` on output that is not the expected JSON.
    """
    if len(data) > NEIGH_MAX_BYTES:
        raise ValueError("neighbour table output too large")
    doc = json.loads(data)
    if not isinstance(doc, list):
        raise ValueError("neighbour table JSON is not a list")
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in doc:
        if not isinstance(entry, dict):
            continue
        states = entry.get("state") or []
        if isinstance(states, str):
            states = [states]
        if not any(str(s).upper() in FRESH_NEIGH_STATES for s in states):
            continue
        ip, mac = _neigh_pair(entry.get("dst"), entry.get("lladdr"))
        if ip and mac:
            out.append((ip, {"mac": mac, "source": "neighbour"}))
    return out


def _neigh_pair(dst: object, lladdr: object) -> tuple[str | None, str | None]:
    try:
        ip = str(ipaddress.IPv4Address(str(dst)))
    except ValueError:
        return None, None
    mac = normalise_mac(lladdr)
    if mac is None:
        return None, None
    return ip, mac


def interface_mac(interface: str) -> str:
    """MAC of ``interface`` via SIOCGIFHWADDR on a socket of the calling thread's namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        info = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("256s", interface.encode()[:15]))
    # Raw bytes formatted, not normalised: loopback's all-zero address is a valid source here.
    return ":".join(f"{b:02x}" for b in info[18:24])


def _send_frames(sender: L2Sender, frames: list[bytes]) -> None:
    for frame in frames:
        with contextlib.suppress(OSError):
            sender.send(frame)


def _packet_sender(interface: str) -> L2Sender:
    """A blocking raw AF_PACKET socket on ``interface`` for the ready-made request frames.

    That is what scapy's ``conf.L2socket`` is on Linux; the frames are built here (and checked byte for
    byte against scapy's rendering in the tests), so importing scapy's network stack for it only cost
    every scan 0.08 s before its first ARP request. (scapy still supplies the IEEE registry: auditor/oui.py.)
    Blocking, unlike the receiver: a full send buffer waits on the sender's thread instead of losing frames.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((interface, ETH_P_ARP))
    except BaseException:
        sock.close()
        raise
    return sock


def _open_receiver(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
        sock.bind((interface, ETH_P_ARP))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class ArpProbe:
    """ARP sweep of in-scope on-link targets + in-scope kernel neighbour entries.

    ``sender_factory(iface)`` builds the L2 sender (default: a raw AF_PACKET socket) and
    ``receiver_factory(iface)`` the non-blocking socket replies are read from (default: an
    AF_PACKET socket for ARP); both are injectable so the engine is testable offline.
    ``read_neighbours`` can be turned off for tests.
    """

    name: ClassVar[str] = "arp"

    def __init__(
        self,
        retries: int = 1,
        read_neighbours: bool = True,
        sender_factory: Callable[[str], L2Sender] | None = None,
        receiver_factory: Callable[[str], socket.socket] | None = None,
    ) -> None:
        self.retries = retries
        self.read_neighbours = read_neighbours
        self.sender_factory = sender_factory or _packet_sender
        self.receiver_factory = receiver_factory or _open_receiver

    async def run(self, ctx: ProbeContext) -> None:
        own_ip = str(ctx.iface_addr.ip)
        neighbours = await self._neighbours(ctx) if self.read_neighbours else []
        targets = [str(a) for a in ctx.scope.addresses() if ctx.on_link(a) and str(a) != own_ip]
        found: set[str] = set()
        if targets:
            await self._sweep(ctx, targets, found)
        for ip, fields in neighbours:
            if ip in found or ip == own_ip or not ctx.on_link(ip) or ipaddress.IPv4Address(ip) not in ctx.scope:
                continue
            found.add(ip)
            ctx.live.add(ip)
            ctx.emit(Observation(ip=ip, probe=self.name, fields=fields, raw=f"neighbour {ip} lladdr {fields['mac']}"))

    async def sweep(self, ctx: ProbeContext, targets: list[str]) -> set[str]:
        """ARP ``targets`` (attempt + retry) without reporting them: the addresses that answered.

        For the end-of-scan re-check of devices only ARP had found.
        """
        quiet = dataclasses.replace(ctx, emit=lambda obs: None, live=set())
        found: set[str] = set()
        await self._sweep(quiet, targets, found)
        return found

    async def _sweep(self, ctx: ProbeContext, targets: list[str], found: set[str]) -> None:
        own_ip = str(ctx.iface_addr.ip)
        own_mac = interface_mac(ctx.interface)
        wanted = set(targets)
        recv = self.receiver_factory(ctx.interface)
        try:
            sender = self.sender_factory(ctx.interface)
        except BaseException:
            recv.close()
            raise
        state: dict[str, float] = {"last_send": time.monotonic()}
        sent: dict[str, int] = {}
        sent_at: dict[str, float] = {}
        reader = asyncio.ensure_future(self._read(ctx, recv, wanted, found, sent, sent_at, state))

        def settle() -> float:
            return settle_time(ctx.timeout, state.get("slowest"))

        try:
            pending = targets
            for attempt in range(1 + max(0, self.retries)):
                if attempt:
                    # Let the first round's late answers land before asking again.
                    await asyncio.sleep(min(max(ctx.timeout / 2, 0.1), 1.0, settle(), ctx.remaining()))
                    pending = [ip for ip in pending if ip not in found]
                if not pending or not await self._send_round(ctx, sender, own_mac, own_ip, pending, found, state,
                                                             sent, sent_at):
                    break
            end = min(state["last_send"] + settle(), ctx.deadline)
            while time.monotonic() < end and len(found) < len(wanted) and not reader.done():
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            with contextlib.suppress(Exception):
                sender.close()
            recv.close()

    async def _send_round(
        self,
        ctx: ProbeContext,
        sender: L2Sender,
        own_mac: str,
        own_ip: str,
        pending: list[str],
        found: set[str],
        state: dict[str, float],
        sent: dict[str, int],
        sent_at: dict[str, float],
    ) -> bool:
        tokens = Sweep(ctx, sum(1 for ip in pending if ip not in found))
        batch: list[bytes] = []
        asked: list[str] = []
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1, thread_name_prefix="camaudit-arp") as pool:

            async def flush() -> None:
                # A broadcast is copied to every port of the segment; on a software bridge the
                # kernel does that inside send(). On a worker thread it does not hold the scan's loop.
                if batch:
                    now = time.monotonic()
                    sent_at.update(dict.fromkeys(asked, now))
                    await loop.run_in_executor(pool, _send_frames, sender, list(batch))
                    batch.clear()
                    asked.clear()
                    state["last_send"] = time.monotonic()

            for ip in [ip for ip in pending if ip not in found]:
                if not await tokens.next():
                    await flush()
                    return False
                sent[ip] = sent.get(ip, 0) + 1
                batch.append(build_arp_request(own_mac, own_ip, ip))
                asked.append(ip)
                if len(batch) >= tokens.batch:
                    await flush()
            await flush()
        return True

    async def _read(self, ctx: ProbeContext, recv: socket.socket, wanted: set[str], found: set[str],
                    sent: dict[str, int], sent_at: dict[str, float], state: dict[str, float]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frame = await loop.sock_recv(recv, 2048)
            parsed = parse_arp_reply(frame)
            if parsed is None:
                continue
            ip, fields = parsed
            if ip in found or ip not in wanted:
                continue
            found.add(ip)
            if ip in sent_at:  # how long this answer took: the sweep's listening windows follow it
                state["slowest"] = max(state.get("slowest", 0.0), time.monotonic() - sent_at[ip])
            ctx.live.add(ip)
            ctx.host(ip).count(ctx.probe or self.name, "datagrams", sent.get(ip, 1))
            ctx.emit(
                Observation(ip=ip, probe=self.name, fields=fields, raw=f"ARP reply {ip} is-at {fields['mac']}")
            )

    async def _neighbours(self, ctx: ProbeContext) -> list[tuple[str, dict[str, Any]]]:
        """Fresh entries of the kernel's neighbour table for ``ctx.interface`` (``ip -j neigh``); [] on failure.

        There is no ``/proc/net/arp`` fallback: it does not say whether an entry is fresh or stale.
        """
        timeout = max(0.1, min(ctx.timeout, 2.0, ctx.remaining()))
        try:
            proc = await asyncio.create_subprocess_exec(
                "ip", "-j", "neigh", "show", "dev", ctx.interface,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return []
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), timeout=1.0)
            return []
        if proc.returncode != 0:
            return []
        try:
            return parse_neighbours(out or b"[]")
        except ValueError:
            return []
