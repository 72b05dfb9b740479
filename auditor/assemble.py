"""Merge observations per address, then fold addresses that are one device.

Two addresses are one device when they share a MAC (the ARP-seen MAC is
authoritative for on-link hosts; for routed hosts the MAC a device reports about
itself via SADP, DHIP or ONVIF is the only one there is) or a serial number.
Every observation is kept as evidence on the folded device.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterable

from .mac import normalise_mac
from .models import Host, Observation

_SELF_REPORTED_MAC = ("sadp", "dhip", "onvif", "wsdiscovery")


def _arp_mac(observations: list[Observation]) -> str | None:
    for obs in observations:
        if obs.probe == "arp" and (mac := normalise_mac(obs.fields.get("mac"))):
            return mac
    return None


def _mac_of(observations: list[Observation]) -> str | None:
    if mac := _arp_mac(observations):
        return mac
    for probe in _SELF_REPORTED_MAC:
        for obs in observations:
            if obs.probe != probe:
                continue
            candidates = obs.fields.get("macs") if probe == "onvif" else [obs.fields.get("mac")]
            for cand in candidates or []:
                if mac := normalise_mac(cand):
                    return mac
    return None


def _first(observations: list[Observation], probes: tuple[str, ...], name: str) -> str | None:
    for probe in probes:
        for obs in observations:
            value = obs.fields.get(name)
            if obs.probe == probe and isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _serial_of(observations: list[Observation]) -> str | None:
    return _first(observations, ("sadp", "dhip", "onvif"), "serial")


def _endpoint_of(observations: list[Observation]) -> str | None:
    return _first(observations, ("wsdiscovery",), "endpoint")


def assemble(observations: Iterable[Observation]) -> list[Host]:
    """Group ``observations`` into Hosts, sorted by primary IP."""
    by_ip: dict[str, list[Observation]] = defaultdict(list)
    for obs in observations:
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
    for ip, obs_list in by_ip.items():
        mac, serial = _mac_of(obs_list), _serial_of(obs_list)
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
        merged = [obs for ip in ips for obs in sorted(by_ip[ip], key=lambda o: (o.probe, o.seen_at))]
        folded.append((ips, merged, _primary_ip(ips, by_ip), _mac_of(merged)))
    # An endpoint reference announced by several devices (cheap firmware ships one UUID on every
    # unit; a hostile device can copy one) identifies none of them.
    endpoint_count = Counter(_endpoint_of(merged) for _, merged, _, _ in folded)
    hosts: list[Host] = []
    for ips, merged, primary, mac in folded:
        unique_endpoint = endpoint_count[_endpoint_of(merged)] == 1
        hosts.append(Host(key=_key(mac, merged, primary, unique_endpoint), ip=primary, mac=mac, ips=tuple(ips),
                          observations=tuple(merged)))
    hosts.sort(key=lambda h: ipaddress.IPv4Address(h.ip))
    return hosts


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
