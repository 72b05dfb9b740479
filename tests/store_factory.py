"""Builders of records for the store/diff/document/history tests (not a test module)."""

from __future__ import annotations

from typing import Any

from auditor.models import Device, Evidence, Finding, Host, Identity, Observation, Waiver

T0 = 1_790_000_000.0


def meta(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "targets": ["198.18.0.0/24"], "excludes": [], "interface": "lan0",
        "probes": ["arp", "sadp", "ports"], "rules": [("rules/ndaa-889.yaml", "ab" * 32)],
        "site": "Test site", "operator": "tester", "host": "auditbox", "tool_version": "0.1.0",
        "kb_version": "2026-11-28",
    }
    base.update(over)
    return base


def device(ip: str, mac: str | None = None, *, maker: str | None = "Hikvision", model: str | None = "DS-2CD2143G2-I",
           firmware: str | None = "V5.7.3 build 220112", serial: str | None = None, brand: str | None = None,
           covered: bool = True, key: str | None = None, warning: str | None = None,
           ports: tuple[int, ...] = (80, 554), device_class: str = "camera", seen_at: float = T0) -> Device:
    obs: list[Observation] = []
    if mac:
        obs.append(Observation(ip=ip, probe="arp", fields={"mac": mac, "source": "sweep"}, seen_at=seen_at))
    obs.append(Observation(ip=ip, probe="ports", fields={"open": list(ports), "banners": {}}, seen_at=seen_at))
    if serial or model:
        fields = {k: v for k, v in (("serial", serial), ("model", model), ("firmware", firmware)) if v}
        obs.append(Observation(ip=ip, probe="sadp", fields=fields, raw="<ProbeMatch/>", seen_at=seen_at,
                               warning=warning))
    if key is None:
        key = f"mac:{mac}" if mac else (f"serial:{serial}" if serial else f"ip:{ip}")
    host = Host(key=key, ip=ip, mac=mac, ips=(ip,), observations=tuple(obs))
    evidence = (Evidence(probe="sadp", field="model", value=model or "", supports=maker, strength="strong",
                         note="answers Hikvision SADP"),) if maker else ()
    ident = Identity(maker=maker, brand=brand or maker, relation="maker" if maker else None,
                     device_class=device_class,  # type: ignore[arg-type]
                     model=model, firmware=firmware, serial=serial,
                     confidence="high" if maker else "low", covered=covered,
                     covered_basis="NDAA FY2019 §889(f)(3)(B)" if covered else None, evidence=evidence)
    return Device(host=host, identity=ident)


def finding(dev: Device, rule: str = "ndaa-889.covered-maker", severity: str = "critical",
            waiver: Waiver | None = None, state: str | None = None) -> Finding:
    return Finding(rule_id=rule, title="Covered equipment (NDAA §889)", severity=severity,  # type: ignore[arg-type]
                   device_key=dev.key, ip=dev.ip, mac=dev.mac, message=f"{dev.identity.maker} device",
                   remediation="Replace it", references=("Pub. L. 115-232 §889(f)(3)",),
                   evidence=("maker Hikvision (high)",), waiver=waiver, waiver_state=state)  # type: ignore[arg-type]


def record_scan(store: Any, devices: list[Device], findings: list[Finding] | None = None,
                status: str = "complete", **meta_over: Any) -> int:
    """Write one whole scan the way the scan engine does."""
    scan_id = store.begin_scan(meta(**meta_over))
    store.add_observations(scan_id, [o for d in devices for o in d.host.observations])
    store.add_devices(scan_id, devices)
    store.add_findings(scan_id, findings or [])
    store.finish_scan(scan_id, status, {"devices": len(devices)})
    return scan_id
