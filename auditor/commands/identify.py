"""``camaudit oui`` (who registered this MAC block?) and ``camaudit identify`` (re-run
identification on a stored scan, e.g. after the knowledge base changed)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import OperatorError
from ..knowledge import KnowledgeBase, OuiMatch, load_knowledge
from ..oui import is_locally_administered, is_multicast, normalise_mac
from .options import db_option, open_store


def oui_answer(kb: KnowledgeBase, text: str) -> dict[str, Any]:
    """One MAC's registry answer as plain data (what ``camaudit oui --json`` prints)."""
    mac = normalise_mac(text)
    if mac is None:
        raise OperatorError(f"{text!r} is not a MAC address (expected e.g. c0:56:e3:12:34:56)")
    answer: dict[str, Any] = {"mac": mac, "prefix": None, "prefix_len": None, "org": None, "maker": None,
                              "brand": None, "relation": None, "covered": False, "covered_basis": None,
                              "review": None, "note": None}
    if is_locally_administered(mac):
        answer["note"] = "locally administered (randomised or assigned by software): no registered maker"
        return answer
    if is_multicast(mac):
        answer["note"] = "multicast/group address: not a device"
        return answer
    match: OuiMatch | None = kb.lookup_oui(mac)
    if match is None:
        answer["note"] = "not in the IEEE registry copy scapy ships"
        return answer
    answer.update({k: v for k, v in asdict(match).items() if k in answer and k != "mac"})
    if match.maker is None:
        answer["note"] = "organisation not mapped to a maker in the knowledge base"
    return answer


def _line(answer: dict[str, Any]) -> str:
    if answer["org"] is None:
        return f"{answer['mac']}  {answer['note']}"
    parts = [answer["mac"], f"{answer['prefix']}/{answer['prefix_len']}", answer["org"]]
    if answer["maker"]:
        maker = answer["maker"]
        if answer["brand"]:
            maker += f" (brand {answer['brand']}, {answer['relation']})"
        parts.append(f"maker: {maker}")
        covered = f"covered: yes — {answer['covered_basis']}" if answer["covered"] else "covered: no"
        parts.append(covered)
        if answer["review"]:
            parts.append(f"review: {answer['review']}")
    else:
        parts.append(f"maker: unknown ({answer['note']})")
    return "  ".join(parts)


@click.command()
@click.argument("macs", nargs=-1, required=True, metavar="MAC...")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of one line per MAC.")
def oui(macs: tuple[str, ...], as_json: bool) -> None:
    """Registered organisation, matched prefix (/24, /28 or /36), maker and covered status of each MAC."""
    kb = load_knowledge()
    answers = [oui_answer(kb, text) for text in macs]
    if as_json:
        click.echo(json.dumps(answers, indent=2, ensure_ascii=False))
        return
    for answer in answers:
        click.echo(_line(answer))


@click.command()
@click.option("--scan", "scan_id", type=int, required=True, help="Stored scan to re-identify.")
@db_option
@click.option("--dry-run", is_flag=True, help="Show what would change; do not write.")
def identify(scan_id: int, db: Path, dry_run: bool) -> None:
    """Re-run identification on a stored scan with the current knowledge base.

    Stored observations are kept; each device's identity (maker, brand, class, covered,
    evidence, conflicts) is recomputed and replaced. Policy findings are not re-evaluated:
    run `camaudit audit`/`report` afterwards if you need them refreshed.
    """
    from ..facts import device_facts
    from ..identify import identify as identify_host
    from ..models import Device

    kb = load_knowledge()
    store = open_store(db)
    try:
        before = {d.key: d.identity for d in store.load_devices(scan_id)}  # OperatorError if no such scan
        devices = [Device(host=h, identity=identify_host(h, kb)) for h in store.hosts(scan_id)]
        changed = 0
        for device in devices:
            old, new = before.get(device.key), device.identity
            old_view = (old.maker, old.device_class, old.covered) if old else None
            new_view = (new.maker, new.device_class, new.covered)
            if old_view != new_view:
                changed += 1
                click.echo(f"{device.ip}  {old_view} -> {new_view}")
        if not dry_run:
            facts = {d.key: device_facts(d, kb=kb) for d in devices}
            store.replace_identities(scan_id, devices, facts)
        verb = "would change" if dry_run else "changed"
        click.echo(f"scan {scan_id}: {len(devices)} devices re-identified with knowledge base {kb.version}; "
                   f"{changed} {verb}")
    finally:
        store.close()
