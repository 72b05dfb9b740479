"""Records that flow between the stages: probes → assemble → identify → policy → store → report.

All are frozen dataclasses. ``fields`` dicts hold only JSON-serialisable values
(str, int, float, bool, None, lists and dicts of those) so the store can keep them
verbatim. The field names each probe emits are listed in ``docs/observations.md``;
identification and policy read only those names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
DeviceClass = Literal["camera", "recorder", "other", "unknown"]
DEVICE_CLASSES: tuple[str, ...] = ("camera", "recorder", "other", "unknown")
Confidence = Literal["high", "medium", "low"]
CONFIDENCES: tuple[str, ...] = ("high", "medium", "low")
ScanStatus = Literal["running", "complete", "interrupted", "failed"]

RAW_EXCERPT_MAX = 2048
"""Longest raw excerpt kept per observation (characters)."""


@dataclass(frozen=True)
class Observation:
    """One thing one probe saw at one address."""

    ip: str
    """The address the answer came from (or was about)."""
    probe: str
    """Registered probe name: arp, wsdiscovery, sadp, dhip, ports, http, rtsp, onvif."""
    fields: dict[str, Any]
    """Parsed values; names per probe in docs/observations.md."""
    raw: str = ""
    """Bounded excerpt of the reply, for a person to check (never credentials)."""
    seen_at: float = field(default_factory=time.time)
    """Unix time of the answer."""
    warning: str | None = None
    """Set when the answer was malformed or hostile; ``fields`` then holds what could be salvaged."""


@dataclass(frozen=True)
class Host:
    """Observations assembled into one device (hosts with the same MAC or serial are folded)."""

    key: str
    """Stable identity across scans: ``mac:<mac>``, else ``serial:<sn>``, else ``epr:<urn>``, else ``ip:<ip>``."""
    ip: str
    """Primary address."""
    mac: str | None
    """Lower-case colon-separated MAC, if any probe saw it."""
    ips: tuple[str, ...] = ()
    """Every address folded into this device."""
    observations: tuple[Observation, ...] = ()
    behind: str | None = None
    """For a camera behind a recorder (seen only through the recorder's channel list): the
    recorder's key. None for a device the scan reached itself."""
    recorder_ip: str | None = None
    """The address of the recorder a camera is behind (its zones are the recorder's)."""
    channels: tuple[int, ...] = ()
    """The recorder's channel numbers this camera fills (a multi-sensor camera fills several)."""


@dataclass(frozen=True)
class Evidence:
    """One checkable statement behind an identity."""

    probe: str
    field: str
    value: str
    supports: str | None
    """Canonical maker this points to, or None when it only informs class/model."""
    strength: Literal["strong", "medium", "weak"] = "medium"
    note: str = ""
    """Why it counts, e.g. 'OUI C0:56:E3 registered to Hangzhou Hikvision Digital Technology'."""


@dataclass(frozen=True)
class Identity:
    """Who made a device, what it is, and why we think so."""

    maker: str | None
    """Canonical maker from the knowledge base; None when it cannot be established."""
    brand: str | None = None
    """Brand as shown by the device (may equal the maker)."""
    relation: str | None = None
    """maker | own brand | subsidiary | OEM relabel (with ``relation_text`` for people)."""
    relation_text: str | None = None
    """e.g. 'Hikvision product sold as LTS'."""
    device_class: DeviceClass = "unknown"
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    confidence: Confidence = "low"
    covered: bool = False
    """Maker is covered by NDAA FY2019 §889 / FCC Covered List (knowledge base decides)."""
    covered_basis: str | None = None
    evidence: tuple[Evidence, ...] = ()
    conflicts: tuple[str, ...] = ()
    review: str | None = None
    """Set when a person must decide (e.g. a brand whose relation to a covered maker is under
    review, such as Lorex, or HiSilicon parts): the report shows it beside ``covered``."""
    possible_makers: tuple[str, ...] = ()
    """Makers the shown brand is documented to have sold, when the evidence does not settle
    that this device is their (covered) equipment: e.g. Swann → Reolink, Hikvision."""
    possible_covered: bool = False
    """One of ``possible_makers`` is covered: possible covered equipment under another brand."""


@dataclass(frozen=True)
class Device:
    """An assembled host with its identity: what policy evaluates and the store keeps."""

    host: Host
    identity: Identity

    @property
    def key(self) -> str:
        return self.host.key

    @property
    def ip(self) -> str:
        return self.host.ip

    @property
    def mac(self) -> str | None:
        return self.host.mac

    @property
    def behind(self) -> str | None:
        """The key of the recorder this camera is behind (None: reached by the scan itself)."""
        return self.host.behind


@dataclass(frozen=True)
class Waiver:
    device: str
    """MAC or serial the waiver names."""
    rule: str
    reason: str
    owner: str
    ticket: str
    expires: str
    """ISO date (YYYY-MM-DD); the waiver applies through that day."""


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    device_key: str
    ip: str
    mac: str | None
    message: str
    remediation: str = ""
    references: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    waiver: Waiver | None = None
    waiver_state: Literal["active", "expiring", "expired"] | None = None
    """active/expiring: the finding is waived; expired: the waiver no longer applies."""

    @property
    def waived(self) -> bool:
        return self.waiver_state in ("active", "expiring")
