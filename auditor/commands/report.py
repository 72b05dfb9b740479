"""``camaudit report``: render any stored scan as HTML, JSON or CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import OperatorError
from ..report import CSV_ROWS, FORMATS, CsvRows, format_for_path, render, write_report
from .options import SCAN_ID, TEXT, db_option, open_store


@click.command()
@click.option("--scan", "scan_id", type=SCAN_ID, metavar="N",
              help="Scan id (default: the latest complete scan, else the latest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: standard output).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)),
              help="Output format (default: from the -o suffix, else html).")
@click.option("--site", type=TEXT, help="Site name to show instead of the one stored with the scan.")
@click.option("--table", type=click.Choice(list(CSV_ROWS)), default="devices", show_default=True,
              help="For CSV: one row per device or one row per finding.")
@click.option("--template-dir", "template_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A directory of templates that override the shipped ones by name (repeatable).")
@db_option
def report(scan_id: int | None, output: Path | None, fmt: str | None, site: str | None, table: str,
           template_dirs: tuple[Path, ...], db: Path) -> None:
    """Render a stored scan: one self-contained HTML file, the JSON document, or CSV.

    \b
    Examples:
      camaudit report -o report.html
      camaudit report --scan 3 --format csv --table findings -o findings.csv
    """
    fmt = fmt or (format_for_path(output) if output else "html")
    with open_store(db) as store:
        if scan_id is None:
            scan_id = store.latest_scan(complete_only=True) or store.latest_scan()
            if scan_id is None:
                raise OperatorError("no scans recorded yet (run 'camaudit scan' first)", path=str(db))
        document = store.scan_document(scan_id)
    rows: CsvRows = "findings" if table == "findings" else "devices"
    if output is None:
        sys.stdout.write(render(document, fmt, site=site, template_dirs=template_dirs, rows=rows))
        return
    try:
        write_report(document, output, fmt, site=site, template_dirs=template_dirs, rows=rows)
    except OSError as exc:
        raise OperatorError(f"cannot write the report: {exc.strerror or exc}", path=str(output)) from exc
    click.echo(f"wrote {output} ({fmt}, scan {scan_id})", err=True)
