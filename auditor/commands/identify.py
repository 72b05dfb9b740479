"""``camaudit oui`` (who registered this MAC block?) and ``camaudit identify`` (re-run
identification on a stored scan, e.g. after the knowledge base changed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..knowledge import load_knowledge, oui_answer
from ..pipeline import reidentify
from ..report import render_json
from .options import SCAN_ID, db_option, open_store


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
        click.echo(render_json(answers), nl=False)
        return
    for answer in answers:
        click.echo(_line(answer))


@click.command()
@click.option("--scan", "scan_id", type=SCAN_ID, required=True, help="Stored scan to re-identify.")
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
    store = open_store(db)
    try:
        result = reidentify(store, scan_id, list(rules), dry_run=dry_run)
    finally:
        store.close()
    for change in result.changes:
        click.echo(f"{change.ip}  {change.before} -> {change.after}")
    for note in result.notes:
        click.echo(note, err=True)
    verb = "would change" if dry_run else "changed"
    findings = "" if not result.findings_evaluated else f"; findings {'would be ' if dry_run else ''}re-evaluated"
    click.echo(f"scan {scan_id}: {result.devices} devices re-identified with knowledge base {result.kb_version}; "
               f"{len(result.changes)} {verb}{findings}")
