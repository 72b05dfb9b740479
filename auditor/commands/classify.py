"""``camaudit classify``: identify and check an inventory a site already has, without scanning."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import rules_path
from ..pipeline import ImportRequest, run_import
from ..report import render_json
from .options import TEXT, db_option
from .summary import exit_code, summary_line


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--rules", "rules", multiple=True, metavar="FILE|builtin:NAME",
              help="Policy rules file(s) to evaluate (repeatable; default: the shipped ndaa-889 and hardening).")
@click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low", "info"]),
              help="Exit 1 if an unwaived finding is at or above this severity.")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the import's JSON document (schema v1).")
@click.option("--report", "report_out", type=click.Path(path_type=Path), help="Write the HTML report here.")
@click.option("--site", type=TEXT, help="Site name for the report.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@db_option
def classify(file: Path, rules: tuple[str, ...], fail_on: str | None, json_out: str | None,
             report_out: Path | None, site: str | None, quiet: bool, db: Path) -> None:
    """Identify the devices of an inventory FILE a site already has, and check them against policy.

    FILE is a CSV or JSON export of a video management system, an asset register or a
    switch's MAC table joined with its ARP table: one row per device with its IP address
    and what is known of it (MAC, manufacturer, model, firmware, serial; header names are
    matched leniently: 'IP Address', 'MAC', 'Make', 'Vendor', 'Model Number', 'Firmware
    Version', 'Serial No.'; docs/inventory-import.md). No packet is sent. The result is
    stored as a scan of kind "import": report, export and diff work on it; exit codes as
    for scan. (Not 'camaudit import', which loads camaudit's own JSON documents into a
    central database.)

    \b
    Examples:
      camaudit classify examples/vms-export.csv --fail-on high
      camaudit classify assets.json --rules builtin:ndaa-889 --report inventory.html
    """
    reports = [("html", report_out)] if report_out else []
    if json_out and json_out != "-":
        reports.append(("json", Path(json_out)))
    result = run_import(ImportRequest(path=file, db_path=db, rules=[rules_path(r) for r in rules], site=site,
                                      reports=reports, fail_on=fail_on))
    if json_out == "-":
        sys.stdout.write(render_json(result.document))  # the one JSON renderer, as scan --json -
    elif not quiet:
        source = result.document["scan"].get("source") or {}
        click.echo(summary_line(result.document).replace("scan ", "import ", 1) + f" ({source.get('rows', 0)} rows "
                   f"of {file})")
        ignored = source.get("ignored") or []
        if ignored:
            click.echo(f"  columns not used: {', '.join(ignored)}")
        for path in result.written:
            click.echo(f"  wrote {path}")
        click.echo(f"  inventory: camaudit devices --db {db} --scan {result.scan_id}; "
                   f"report: camaudit report --db {db} --scan {result.scan_id} -o report.html")
    sys.exit(exit_code(result))
