"""``camaudit oui`` (who registered this MAC block?) and ``camaudit identify`` (re-run
identification on a stored scan, e.g. after the knowledge base changed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import OperatorError
from ..knowledge import KnowledgeBase, OuiMatch, load_knowledge
from ..oui import is_locally_administered, is_multicast, normalise_mac
from ..policy import device_facts
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
    if match.maker is None and match.brand is None:
        answer["note"] = "organisation not mapped to a maker in the knowledge base"
    elif match.maker is None:
        answer["note"] = "a brand that has sold several makers' equipment: the OUI alone does not settle which"
    return answer


def _line(answer: dict[str, Any]) -> str:
    if answer["org"] is None:
        return f"{answer['mac']}  {answer['note']}"
    parts = [answer["mac"], f"{answer['prefix']}/{answer['prefix_len']}", answer["org"]]
    if answer["maker"] or answer["brand"]:
        maker = answer["maker"] or "not settled"
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


def _scan_rules(recorded: list[dict[str, Any]], given: tuple[Path, ...]) -> tuple[list[Path], list[str]]:
    """The rules files to re-evaluate with: ``--rules`` if given, else those the scan recorded.

    Returns (paths, notes); a recorded file that is gone is an operator error, one that
    changed since the scan is a note (findings then follow the current file).
    """
    if given:
        return list(given), []
    paths, notes = [], []
    for entry in recorded:
        path = Path(entry["path"])
        if path.suffix not in (".yaml", ".yml"):
            continue  # inventory CSVs are read through their rules file
        if not path.is_file():
            raise OperatorError(f"the scan was checked with {path}, which no longer exists; pass --rules FILE")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            notes.append(f"note: {path} changed since the scan; findings follow the current file")
        paths.append(path)
    return paths, notes


def _scan_day(scan: dict[str, Any]) -> dt.date | None:
    """The local date the scan ran: waivers are judged as of then, as the scan itself did
    (the scan's stored waivers keep their states; findings must agree with them)."""
    started = scan.get("started_at")
    if not started:
        return None
    return dt.datetime.fromisoformat(str(started).replace("Z", "+00:00")).astimezone().date()


@click.command()
@click.option("--scan", "scan_id", type=int, required=True, help="Stored scan to re-identify.")
@db_option
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Re-evaluate with these rules files (default: the ones the scan recorded).")
@click.option("--dry-run", is_flag=True, help="Show what would change; do not write.")
def identify(scan_id: int, db: Path, rules: tuple[Path, ...], dry_run: bool) -> None:
    """Re-run identification on a stored scan with the current knowledge base.

    Stored observations are kept; each device's identity (maker, brand, class, covered,
    evidence, conflicts) is recomputed and replaced, and the scan's findings are
    re-evaluated with the rules files it recorded (or --rules), so `camaudit report`
    shows the new answer.
    """
    from ..identify import identify as identify_host
    from ..models import Device
    from ..policy import evaluate, load_policy

    kb = load_knowledge()
    store = open_store(db)
    try:
        before = {d.key: d.identity for d in store.load_devices(scan_id)}  # OperatorError if no such scan
        scan = store.scan(scan_id)
        paths, notes = _scan_rules(scan.get("rules") or [], rules)
        policy = load_policy(paths) if paths else None
        devices = [Device(host=h, identity=identify_host(h, kb)) for h in store.hosts(scan_id)]
        changed = 0
        for device in devices:
            old, new = before.get(device.key), device.identity
            old_view = (old.maker, old.device_class, old.covered) if old else None
            new_view = (new.maker, new.device_class, new.covered)
            if old_view != new_view:
                changed += 1
                click.echo(f"{device.ip}  {old_view} -> {new_view}")
        for note in notes:
            click.echo(note, err=True)
        if not dry_run:
            facts = {d.key: device_facts(d, kb, policy) for d in devices}
            store.replace_identities(scan_id, devices, facts)
            if policy is not None:
                store.replace_findings(scan_id, evaluate(policy, devices, today=_scan_day(scan), kb=kb))
        verb = "would change" if dry_run else "changed"
        findings = "" if policy is None else f"; findings {'would be ' if dry_run else ''}re-evaluated"
        click.echo(f"scan {scan_id}: {len(devices)} devices re-identified with knowledge base {kb.version}; "
                   f"{changed} {verb}{findings}")
    finally:
        store.close()
