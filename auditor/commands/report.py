"""``camaudit report``: render any stored scan as HTML, JSON or CSV, or the whole estate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import OperatorError
from ..report import CSV_ROWS, FORMATS, CsvRows, format_for_path, render, render_json, write_report, write_text
from .options import SCAN_ID, TEXT, db_option, open_store, resolve_scan


def _estate(db: Path, fmt: str, stale_days: float, template_dirs: tuple[Path, ...]) -> tuple[str, str]:
    from ..estate import build_estate
    from ..report.estate import render_estate_html

    if fmt not in ("html", "json"):
        raise click.UsageError("the estate report is html or json", ctx=None)
    with open_store(db, read_only=True) as store:
        if not store.sites():
            raise OperatorError("no scans recorded yet (run 'camaudit scan' or 'camaudit import' first)",
                                path=str(db))
        estate = build_estate(store, stale_days=stale_days)
    text = render_json(estate) if fmt == "json" else render_estate_html(estate, template_dirs=template_dirs)
    return text, f"estate of {len(estate['sites'])} site(s)"


@click.command()
@click.option("--scan", "scan_id", type=SCAN_ID, metavar="N",
              help="Scan id (default: the latest complete scan of the site, else its latest).")
@click.option("--site", metavar="NAME", type=TEXT,
              help="The site whose latest scan to render (needed when the database holds several sites).")
@click.option("--estate", is_flag=True,
              help="One report for every site of the database: per-site table, totals, trend, covered devices.")
@click.option("--stale-days", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="With --estate: flag a site whose last complete audit is older than this.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: standard output).")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)),
              help="Output format (default: from the -o suffix, else html).")
@click.option("--site-label", metavar="TEXT", type=TEXT,
              help="Site name to show instead of the one stored with the scan.")
@click.option("--table", type=click.Choice(list(CSV_ROWS)), default="devices", show_default=True,
              help="For CSV: one row per device or one row per finding.")
@click.option("--template-dir", "template_dirs", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A directory of templates that override the shipped ones by name (repeatable).")
@db_option
def report(scan_id: int | None, site: str | None, estate: bool, stale_days: float, output: Path | None,
           fmt: str | None, site_label: str | None, table: str, template_dirs: tuple[Path, ...], db: Path) -> None:
    """Render a stored scan: one self-contained HTML file, the JSON document, or CSV; or, with
    --estate, every site of the database in one HTML file (or JSON).

    \b
    Examples:
      camaudit report -o report.html
      camaudit report --site "HQ building A" -o hq.html
      camaudit report --scan 3 --format csv --table findings -o findings.csv
      camaudit report --estate --db estate.db -o estate.html
    """
    fmt = fmt or (format_for_path(output) if output else "html")
    if estate:
        if scan_id is not None or site is not None:
            raise click.UsageError("--estate covers every site: drop --scan and --site")
        text, what = _estate(db, fmt, stale_days, template_dirs)
        if output is None:
            sys.stdout.write(text)
            return
        _write(output, text)
        click.echo(f"wrote {output} ({fmt}, {what})", err=True)
        return
    with open_store(db, read_only=True) as store:
        if site is not None and site not in store.sites() and scan_id is None and len(store.sites()) == 1:
            # Before sites were a dimension, --site only relabelled the report: keep that working.
            click.echo(f"note: no scans of site {site!r} here; showing it as the site name "
                       "(use --site-label for that)", err=True)
            site_label, site = site, None
        scan_id = resolve_scan(store, scan_id, site)
        document = store.scan_document(scan_id)
    rows: CsvRows = "findings" if table == "findings" else "devices"
    if output is None:
        sys.stdout.write(render(document, fmt, site=site_label, template_dirs=template_dirs, rows=rows))
        return
    try:
        write_report(document, output, fmt, site=site_label, template_dirs=template_dirs, rows=rows)
    except OSError as exc:
        raise OperatorError(f"cannot write the report: {exc.strerror or exc}", path=str(output)) from exc
    click.echo(f"wrote {output} ({fmt}, scan {scan_id})", err=True)


def _write(output: Path, text: str) -> None:
    try:
        write_text(output, text)
    except OSError as exc:
        raise OperatorError(f"cannot write the report: {exc.strerror or exc}", path=str(output)) from exc
