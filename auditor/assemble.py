"""Merge observations per address, then fold addresses that are one device.

Two addresses are one device when they share a MAC (the ARP-seen MAC is
authoritative for on-link hosts; for routed hosts the MAC a device reports about
itself is the only one there is) or a serial number. Every observation is kept as
evidence on the folded device.

Where a host's MAC comes from, in order: ARP; the MAC the device reports about itself
(SADP, DHIP, ONVIF GetNetworkInterfaces, WS-Discovery's MAC scope, a vendor identity
API's ``device_info.mac``, an imported inventory row's MAC); its serial number, for
makers whose serials are their units' MACs (Axis; ``serial_mac``, from the knowledge
base). Serials come from SADP, DHIP, ONVIF, the vendor identity APIs and inventory rows.

The result depends on the observations, never on the order they arrived in
(``ordering.sort_observations``): the same answers fold into the same devices with the
same keys on every scan.

Cameras behind a recorder (``channel`` observations, one per camera a recorder lists, made
at the recorder's address) are never grouped by address: each becomes a device of its own
with ``behind`` set to the recorder's key, keyed by the MAC or serial the recorder reports,
else by the recorder's slot (``auditor/probes/channels.py``). The one exception: a camera
whose reported MAC or serial is that of a device the scan reached itself (a LAN camera the
recorder records over the network) is that device, and its channel entry becomes more of
its evidence; it is not also counted behind the recorder.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .mac import normalise_mac
from .models import Host, Observation
from .ordering import ip_sort_key, sort_observations
from .probes.channels import camera_key, camera_mac, camera_serial

SerialMac = Callable[[str], "tuple[str, str] | None"]
"""serial → (MAC, maker) for makers whose serials are MACs (``KnowledgeBase.mac_from_serial``)."""

_SELF_REPORTED_MAC = ("sadp", "dhip", "onvif", "wsdiscovery", "login", "http", "inventory")
_SERIAL_SOURCES = ("sadp", "dhip", "onvif", "login", "http", "inventory")
_DEVICE_INFO_PROBES = ("http", "login")
CHANNEL = "channel"
"""The observations of a recorder's channel list: cameras behind it (``auditor/probes/channels.py``)."""


def device_info(obs: Observation) -> dict[str, Any]:
    """The vendor identity record of an http or login observation (``{}`` for other probes or none)."""
    info = obs.fields.get("device_info") if obs.probe in _DEVICE_INFO_PROBES else None
    return info if isinstance(info, dict) else {}


def reported_macs(obs: Observation) -> list[Any]:
    """The MACs an observation says the device has (raw values, not normalised)."""
    if obs.probe == "onvif":
        return list(obs.fields.get("macs") or [])[:8]
    if obs.probe in _DEVICE_INFO_PROBES:
        return [device_info(obs).get("mac")]
    return [obs.fields.get("mac")]


def reported_serial(obs: Observation) -> str | None:
    """The serial number an observation reports for the device itself, if any."""
    value = device_info(obs).get("serial") if obs.probe in _DEVICE_INFO_PROBES else obs.fields.get("serial")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _arp_mac(observations: list[Observation]) -> str | None:
    for obs in observations:
        if obs.probe == "arp" and (mac := normalise_mac(obs.fields.get("mac"))):
            return mac
    return None


def _mac_of(observations: list[Observation], serial_mac: SerialMac | None = None) -> str | None:
    if mac := _arp_mac(observations):
        return mac
    for probe in _SELF_REPORTED_MAC:
        for obs in observations:
            if obs.probe != probe:
                continue
            for cand in reported_macs(obs):
                if mac := normalise_mac(cand):
                    return mac
    if serial_mac is not None:
        for obs in observations:
            if (serial := reported_serial(obs)) and (found := serial_mac(serial)):
                return found[0]
    return None


def _serial_of(observations: list[Observation]) -> str | None:
    for probe in _SERIAL_SOURCES:
        for obs in observations:
            if obs.probe == probe and (serial := reported_serial(obs)):
                return serial
    return None


def _endpoint_of(observations: list[Observation]) -> str | None:
    for obs in observations:
        value = obs.fields.get("endpoint")
        if obs.probe == "wsdiscovery" and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def assemble(observations: Iterable[Observation], serial_mac: SerialMac | None = None) -> list[Host]:
    """Group ``observations`` into Hosts, sorted by primary IP.

    ``serial_mac`` (``KnowledgeBase.mac_from_serial``) reads a MAC out of the serial of makers
    whose serials are MACs, so a routed Axis camera that reports only its serial folds with the
    address that reported its MAC, and keeps one key across scans.
    """
    by_ip: dict[str, list[Observation]] = defaultdict(list)
    channels: list[Observation] = []
    for obs in sort_observations(observations):
        if obs.probe == CHANNEL:
            channels.append(obs)  # a camera behind the recorder at obs.ip, not the recorder itself
        else:
            by_ip[obs.ip].append(obs)

    parent = {ip: ip for ip in by_ip}

    def find(ip: str) -> str:
        while parent[ip] != ip:
            parent[ip] = parent[parent[ip]]
            ip = parent[ip]
        return ip

    # Two addresses that answered ARP from different MACs are two network cards on this link:
    # a shared serial (cloned firmware, a placeholder like "00000000") must not make them one device.
    arp_macs: dict[str, set[str]] = {ip: {m} if (m := _arp_mac(obs_list)) else set() for ip, obs_list in by_ip.items()}
    owners: dict[str, str] = {}
    for ip in sorted(by_ip, key=ip_sort_key):  # address order, not arrival order: the same folds every scan
        obs_list = by_ip[ip]
        mac, serial = _mac_of(obs_list, serial_mac), _serial_of(obs_list)
        for key in (f"mac:{mac}" if mac else None, f"serial:{serial}" if serial else None):
            if key is None:
                continue
            if key not in owners:
                owners[key] = ip
                continue
            a, b = find(ip), find(owners[key])
            if a == b or (key.startswith("serial:") and arp_macs[a] and arp_macs[b] and arp_macs[a] != arp_macs[b]):
                continue
            parent[a] = b
            arp_macs[b] |= arp_macs[a]

    groups: dict[str, list[str]] = defaultdict(list)
    for ip in by_ip:
        groups[find(ip)].append(ip)

    folded: list[tuple[list[str], list[Observation], str, str | None]] = []
    for ips in groups.values():
        ips.sort(key=ipaddress.IPv4Address)
        merged = list(sort_observations(obs for ip in ips for obs in by_ip[ip]))
        folded.append((ips, merged, _primary_ip(ips, by_ip), _mac_of(merged, serial_mac)))
    # An endpoint reference announced by several devices (cheap firmware ships one UUID on every
    # unit; a hostile device can copy one) identifies none of them.
    endpoint_count = Counter(_endpoint_of(merged) for _, merged, _, _ in folded)
    hosts: list[Host] = []
    for ips, merged, primary, mac in folded:
        unique_endpoint = endpoint_count[_endpoint_of(merged)] == 1
        hosts.append(Host(key=_key(mac, merged, primary, unique_endpoint), ip=primary, mac=mac, ips=tuple(ips),
                          observations=tuple(merged)))
    if channels:
        hosts = _with_cameras_behind(hosts, channels)
    hosts.sort(key=lambda h: (ipaddress.IPv4Address(h.recorder_ip or h.ip), h.behind is not None,
                              h.channels[:1], ipaddress.IPv4Address(h.ip)))
    return hosts


def _ipv4(text: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(str(text).strip()))
    except ValueError:
        return None


def _with_cameras_behind(hosts: list[Host], channels: list[Observation]) -> list[Host]:
    """The hosts plus one host per camera the recorders list (see the module docstring)."""
    at: dict[str, Host] = {ip: h for h in hosts for ip in h.ips}
    by_mac = {h.mac: h for h in hosts if h.mac}
    by_serial: dict[str, Host] = {}
    for h in hosts:
        for obs in h.observations:
            if (serial := reported_serial(obs)) is not None:
                by_serial.setdefault(serial, h)
    extra: dict[str, list[Observation]] = defaultdict(list)
    cameras: dict[str, tuple[Host, list[Observation]]] = {}
    for obs in sorted(channels, key=lambda o: (o.ip, o.fields.get("channel") or 0, o.seen_at)):
        recorder = at.get(obs.ip)
        if recorder is None:
            continue
        mac, serial = camera_mac(obs.fields.get("mac")), camera_serial(obs.fields.get("serial"))
        seen = (by_mac.get(mac) if mac else None) or (by_serial.get(serial) if serial else None)
        if seen is not None and seen is not recorder:
            extra[seen.key].append(obs)  # the scan reached this camera itself: it is that device
            continue
        key = camera_key(obs.fields, recorder.key)
        cameras.setdefault(key, (recorder, []))[1].append(obs)
    out = [Host(key=h.key, ip=h.ip, mac=h.mac, ips=h.ips, observations=(*h.observations, *extra[h.key]))
           if h.key in extra else h for h in hosts]
    for key, (recorder, found) in cameras.items():
        address = next((a for o in found if (a := _ipv4(o.fields.get("address")))), None)
        numbers = sorted({n for o in found if isinstance(n := o.fields.get("channel"), int)})
        out.append(Host(key=key, ip=address or recorder.ip, mac=next(
            (m for o in found if (m := camera_mac(o.fields.get("mac")))), None),
            ips=(address,) if address else (), observations=tuple(found), behind=recorder.key,
            recorder_ip=recorder.ip, channels=tuple(numbers)))
    return out


def _primary_ip(ips: list[str], by_ip: dict[str, list[Observation]]) -> str:
    """The address with the most evidence (ties: lowest)."""
    return max(ips, key=lambda ip: (len({o.probe for o in by_ip[ip]}), -int(ipaddress.IPv4Address(ip))))


def _key(mac: str | None, observations: list[Observation], ip: str, unique_endpoint: bool) -> str:
    if mac:
        return f"mac:{mac}"
    if serial := _serial_of(observations):
        return f"serial:{serial}"
    if unique_endpoint and (endpoint := _endpoint_of(observations)):
        return f"epr:{endpoint}"
    return f"ip:{ip}"
