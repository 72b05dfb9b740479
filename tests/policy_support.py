"""Build Devices for policy tests from small dicts (the per-rule case files use the same shape)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from auditor.models import Device, Evidence, Host, Identity, Observation


def make_device(ip: str = "198.18.0.11", mac: str | None = "c0:56:e3:1a:2b:3c",
                identity: dict[str, Any] | None = None,
                observations: list[dict[str, Any]] | None = None, key: str | None = None,
                behind: dict[str, Any] | None = None) -> Device:
    """``behind``: a camera behind a recorder, ``{recorder: key, recorder_ip: ip, channels: [n]}``."""
    ident = dict(identity or {})
    evidence = tuple(Evidence(**e) for e in ident.pop("evidence", []))
    obs = tuple(Observation(ip=o.get("ip", ip), probe=o["probe"], fields=o.get("fields", {}),
                            warning=o.get("warning"), seen_at=0.0) for o in observations or [])
    ident.setdefault("maker", None)
    link = behind or {}
    host = Host(key=key or (f"mac:{mac}" if mac else f"ip:{ip}"), ip=ip, mac=mac, ips=(ip,), observations=obs,
                behind=link.get("recorder"), recorder_ip=link.get("recorder_ip"),
                channels=tuple(link.get("channels") or ()))
    return Device(host=host, identity=Identity(evidence=evidence, **ident))


class KevStub:
    """A knowledge base that answers only KEV questions, from ``lookup(maker, model, firmware)``."""

    def __init__(self, lookup: Callable[[str | None, str | None, str | None], Iterable[Any]]) -> None:
        self.lookup = lookup

    def kev_for(self, maker: str | None, model: str | None, firmware: str | None,
                brand: str | None = None, relation: str | None = None) -> Iterable[Any]:
        return self.lookup(maker, model, firmware)


def no_kev(maker: str | None, model: str | None, firmware: str | None) -> list[str]:
    return []


NO_KEV = KevStub(no_kev)
"""A knowledge base that knows no KEV entry."""
