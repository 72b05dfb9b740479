"""``camaudit import``: load site audits' JSON documents into a central database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..document_import import import_files
from .options import db_option, open_store


@click.command("import")
@click.argument("documents", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="DOC.json...")
@click.option("--site", metavar="NAME", help="The site these documents audited (default: the site each names).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@db_option
def import_(documents: tuple[Path, ...], site: str | None, quiet: bool, db: Path) -> None:
    """Load scan documents (written by scan --json, export, report --format json,
    classify --json or an audit's report_dir) into the database: one scan each, with its
    site, scope, times and kind (a classify run's document stays an inventory import). To
    identify the devices of an inventory file of your own, use 'camaudit classify'.

    \b
    Importing the same scan again changes nothing. Device identity is per site, so two
    sites' overlapping private address ranges never merge devices. A file that is not a
    valid document (truncated, failing the JSON Schema, from a newer camaudit, still
    running) gets one line naming it, and nothing of it is stored; the other files are
    still imported, and the command exits 2.

    \b
    Example (the central host, each night):
      camaudit import --db /var/lib/camaudit/estate.db /srv/camaudit/incoming/*/*.json
    """
    with open_store(db, must_exist=False) as store:
        done, errors = import_files(store, list(documents), site=site)
    if not quiet:
        for item in done:
            what = (f"imported as scan {item.scan_id}" if item.new else f"already imported (scan {item.scan_id})")
            click.echo(f"{item.path}: {what}; site {item.site}, {item.devices} devices, {item.status}")
    for error in errors:
        click.echo(f"camaudit import: {error}", err=True)
    sys.exit(2 if errors else 0)
