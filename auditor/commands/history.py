"""History commands: ``scans``, ``devices``, ``diff``, ``export`` — read the store, never write a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..diff import is_empty
from ..document import SCHEMA_VERSION
from ..errors import OperatorError
from ..models import SEVERITIES
from ..report import CsvRows, render_csv, render_entries, render_json
from .options import SCAN_ID, TEXT, db_option, open_store, require_one_site, resolve_scan, site_option
from .tables import cell, render_table

DEAD_RUN = "the run recording it ended without finishing"
"""What the store records on a scan a dead run left 'running' (store/core.py)."""

_SEVERITY_HEADERS = tuple({"critical": "CRIT", "medium": "MED"}.get(s, s.upper()) for s in SEVERITIES)


def _when(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ")[:16] + "Z"


def _scope(scan: dict[str, Any]) -> str:
    """What a scan looked at: its targets, or the file an import read."""
    if scan.get("kind") == "import":
        return f"import: {(scan.get('source') or {}).get('path', '?')}"
    return " ".join(scan["targets"])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@site_option
@db_option
def scans(as_json: bool, site: str | None, db: Path) -> None:
    """List recorded scans: id, start (UTC), status, devices, unwaived findings by severity
    (with a SITE column when the database holds several sites), and targets ('import: FILE'
    for an inventory classified by 'camaudit classify')."""
    with open_store(db, read_only=True) as store:
        store.recover_interrupted()
        items = store.list_scans(site=site)
    if as_json:
        click.echo(render_json({"schema_version": SCHEMA_VERSION, "scans": items}), nl=False)
        return
    if not items:
        click.echo(f"no scans recorded in {db}" + (f" for site {site!r}" if site is not None else ""))
        return
    several = len({s["site"] for s in items}) > 1
    headers = ["ID", *(["SITE"] if several else []), "STARTED", "STATUS", "SECS", "DEVICES", *_SEVERITY_HEADERS,
               "WAIVED", "TARGETS"]
    click.echo(render_table(headers, [
        [s["id"], *([s["site"] or "-"] if several else []), _when(s["started_at"]), s["status"], s["duration_s"],
         s["devices"], *(s["findings"][sev] for sev in SEVERITIES), s["waived"], _scope(s)]
        for s in items]))
    notes = [f"  scan {s['id']} {s['status']}: {why}" for s in items if (why := _why(s))]
    if notes:
        click.echo("\n".join(["", "why scans did not complete:", *notes]))


def _why(scan: dict[str, Any]) -> str | None:
    """Why a scan is interrupted, failed or degraded, as recorded (None for a complete one)."""
    if scan["status"] not in ("interrupted", "failed", "degraded"):
        return None
    stats = scan.get("stats") or {}
    reason = stats.get(scan["status"])
    if scan["status"] == "interrupted" and reason == DEAD_RUN:
        return (f"{DEAD_RUN} (killed, or the machine stopped); camaudit marked it interrupted "
                "when it next opened the database")
    if not reason and stats.get("deadline_hit"):
        return "the deadline ran out while the probes ran"
    if not reason and stats.get("stopped_by_operator"):
        return "stopped by SIGINT/SIGTERM while the probes ran"
    return cell(reason, 400) if reason else None


@click.command()
@click.option("--scan", "scan_id", type=SCAN_ID, metavar="N", help="Scan id (default: the latest complete scan).")
@click.option("--covered", is_flag=True, help="Only devices from covered makers (NDAA §889).")
@click.option("--maker", metavar="NAME", type=TEXT, help="Only devices whose maker or brand contains NAME.")
@click.option("--json", "as_json", is_flag=True, help="JSON (the document's device entries).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@site_option
@db_option
def devices(scan_id: int | None, covered: bool, maker: str | None, as_json: bool, as_csv: bool, site: str | None,
            db: Path) -> None:
    """The inventory of one scan (default: the latest complete scan of the site) as a table, JSON or CSV."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    with open_store(db, read_only=True) as store:
        scan_id = resolve_scan(store, scan_id, site)
        found = store.devices(scan_id, covered=True if covered else None, maker=maker)
    if as_json:
        click.echo(render_json({"schema_version": SCHEMA_VERSION, "scan_id": scan_id, "devices": found}), nl=False)
    elif as_csv:
        click.echo(render_entries(scan_id, found), nl=False)
    elif not found:
        click.echo(f"scan {scan_id}: no devices match")
    else:
        headers = ["IP", "MAC", "MAKER", "BRAND", "CLASS", "MODEL", "FIRMWARE", "COVERED", "CONF", "FINDINGS"]
        click.echo(render_table(headers, [
            [d["ip"], d["mac"], d["maker"], d["brand"], d["device_class"], d["model"], d["firmware"],
             d["covered"], d["confidence"], d["finding_count"]] for d in found]))


def _scan_label(scan_id: int, scan: dict[str, Any]) -> str:
    """``scan N``, naming the file when it is an inventory import (``camaudit classify``)."""
    if scan.get("kind") == "import":
        return f"scan {scan_id} ({_scope(scan)})"
    return f"scan {scan_id}"


def _diff_text(result: dict[str, Any], scans: dict[int, dict[str, Any]]) -> str:
    a, b = result["from_scan"], result["to_scan"]
    lines = [f"{_scan_label(a, scans[a])} -> {_scan_label(b, scans[b])}"]
    if is_empty(result):
        return "\n".join([*lines, "no changes"])

    def device_line(mark: str, d: dict[str, Any]) -> str:
        what = " ".join(cell(d.get(k)) for k in ("maker", "model") if d.get(k)) or "unidentified"
        return f"  {mark} {cell(d['ip'])}  {cell(d['id'])}  {what}"

    def finding_line(mark: str, f: dict[str, Any]) -> str:
        return f"  {mark} {f['severity']:<8} {cell(f['rule'])}  {cell(f['ip'])}  {cell(f['device_id'])}"

    sections: list[tuple[str, list[str]]] = [
        ("new devices", [device_line("+", d) for d in result["new_devices"]]),
        ("gone devices", [device_line("-", d) for d in result["gone_devices"]]),
        ("changed devices", [
            f"  ~ {cell(d['ip'])}  {cell(d['id'])}  " + "; ".join(
                f"{name} {cell(old)} -> {cell(new)}" for name, (old, new) in d["changes"].items())
            for d in result["changed_devices"]]),
        ("new findings", [finding_line("+", f) for f in result["new_findings"]]),
        ("resolved findings", [finding_line("-", f) for f in result["resolved_findings"]]),
    ]
    for title, entries in sections:
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines.extend(entries)
    return "\n".join(lines)


@click.command()
@click.argument("a", type=SCAN_ID, required=False)
@click.argument("b", type=SCAN_ID, required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@site_option
@db_option
def diff(a: int | None, b: int | None, as_json: bool, site: str | None, db: Path) -> None:
    """What changed from scan A to scan B (default: the last two complete scans of the site;
    with only A, from A to the latest complete scan of its site): devices new, gone or changed
    (IP, firmware, maker, brand, ...), findings new or resolved. Both scans must be of one site:
    device identity is per site."""
    with open_store(db, read_only=True) as store:
        if a is None:
            if site is None:
                require_one_site(store)
            last = store.last_complete_scans(2, site=site)
            if len(last) < 2:
                raise OperatorError(f"need two complete scans to compare, found {len(last)}; name them: "
                                    "camaudit diff A B", path=store.label)
            a, b = last
        else:
            a = resolve_scan(store, a, site)
            if b is None:
                b = store.latest_scan(complete_only=True, site=store.site_of(a))
                if b is None:
                    raise OperatorError("no complete scan to compare with; name it: camaudit diff A B",
                                        path=store.label)
            b = resolve_scan(store, b, store.site_of(a))
        result = store.diff(a, b)
        scans = {n: store.scan(n) for n in (a, b)}
    if as_json:
        click.echo(render_json({"schema_version": SCHEMA_VERSION, **result}), nl=False)
    else:
        click.echo(_diff_text(result, scans))


@click.command()
@click.option("--scan", "scan_id", type=SCAN_ID, metavar="N", help="Scan id (default: the latest complete scan).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--table", type=click.Choice(["devices", "findings"]), default="devices", show_default=True,
              help="For CSV: which table to write.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@site_option
@db_option
def export(scan_id: int | None, fmt: str, table: str, output: Path | None, site: str | None, db: Path) -> None:
    """Export one scan (default: the latest complete scan of the site): the full JSON document
    (schema v1) or a CSV table."""
    with open_store(db, read_only=True) as store:
        scan_id = resolve_scan(store, scan_id, site)
        document = store.scan_document(scan_id)
    # the same writers as `report --format json|csv`: one JSON renderer, one CSV writer
    rows: CsvRows = "findings" if table == "findings" else "devices"
    text = render_json(document) if fmt == "json" else render_csv(document, rows)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OperatorError(f"cannot write: {exc.strerror}", path=str(output)) from exc
    click.echo(f"wrote {output}", err=True)
