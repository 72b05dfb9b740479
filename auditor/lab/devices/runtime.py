"""Per-device state shared by the protocol handlers: the spec, bound ports, the device clock."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..spec import HOSTILE_BEHAVIOURS, DeviceSpec
from ..topology import SEGMENTS

log = logging.getLogger(__name__)

TARPIT_CAP = 16
"""Tarpit connections held open per device; more are closed at once (no fd leak)."""


@dataclass
class DeviceRuntime:
    """What a handler needs besides the request: kept small (1000 of these in one process)."""

    spec: DeviceSpec
    ports: dict[int, int] = field(default_factory=dict)
    """Spec port -> port actually bound (differs only in tests, which bind ephemeral ports)."""
    started: float = field(default_factory=time.time)
    tarpits: int = 0
    guard: Any = None
    """The ``FragileGuard`` of a fragile device (None for robust ones)."""
    sniffer: Any = None
    """A fragile device's packet socket counting the SYNs it receives (lab namespaces only)."""
    dead: str | None = None
    """Why a fragile device stopped answering; None while it works."""
    on_crash: Callable[[DeviceRuntime, str], None] | None = None
    """Called once when the device dies (the emulator silences its sockets and interface)."""
    failed_logins: dict[str, int] = field(default_factory=dict)
    """Failed logins per account on the device's own API (a vendor API's lockout counts these)."""
    locked: set[str] = field(default_factory=set)
    """Accounts the device locked (``VendorApiService.lockout_after`` failures)."""

    def __post_init__(self) -> None:
        unknown = set(self.spec.services.hostile) - set(HOSTILE_BEHAVIOURS)
        if unknown:
            raise ValueError(f"{self.spec.name}: unknown hostile behaviour(s) {sorted(unknown)}")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ip(self) -> str:
        return self.spec.ip

    def crash(self, reason: str) -> None:
        """Stop answering for good (a fragile device pushed past its limits)."""
        if self.dead is not None:
            return
        self.dead = reason
        log.warning("%s (%s) stopped answering: %s", self.name, self.ip, reason)
        if self.on_crash is not None:
            self.on_crash(self, reason)

    def lock(self, user: str) -> None:
        """Lock an account for good (the lab's lifetime) and say so on stdout: a test greps ``LOCKED``."""
        if user not in self.locked:
            self.locked.add(user)
            log.warning("%s (%s) locked account %r after %d failed logins", self.name, self.ip, user,
                        self.failed_logins.get(user, 0))
            print(f"LOCKED {self.name} {user}", flush=True)

    def hostile(self, behaviour: str) -> bool:
        return behaviour in self.spec.services.hostile

    def port(self, spec_port: int) -> int:
        """Port the service configured on ``spec_port`` really listens on."""
        return self.ports.get(spec_port, spec_port)

    def clock(self) -> float:
        """Device clock (epoch seconds): real time plus the ONVIF clock offset."""
        onvif = self.spec.services.onvif
        return time.time() + (onvif.clock_offset_s if onvif else 0.0)

    def network(self) -> ipaddress.IPv4Network:
        ip = ipaddress.IPv4Address(self.spec.ip)
        for net, _ in SEGMENTS.values():
            if ip in net:
                return net
        return ipaddress.IPv4Network(f"{ip}/24", strict=False)

    def gateway(self) -> str:
        ip = ipaddress.IPv4Address(self.spec.ip)
        for net, router in SEGMENTS.values():
            if ip in net:
                return router
        return str(next(self.network().hosts()))

    def mac_dashes(self) -> str:
        return self.spec.mac.lower().replace(":", "-")
