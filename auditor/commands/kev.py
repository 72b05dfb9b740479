"""``camaudit kev update FILE``: import CISA's Known Exploited Vulnerabilities catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..kev import concerns, read_catalog
from ..knowledge import load_knowledge
from .options import db_option, open_store


@click.group()
def kev() -> None:
    """CISA's Known Exploited Vulnerabilities catalogue (which CVEs are listed, their dates)."""


@kev.command("update")
@click.argument("file", type=click.Path(path_type=Path), metavar="FILE")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@db_option
def update(file: Path, quiet: bool, db: Path) -> None:
    """Import FILE (known_exploited_vulnerabilities.json, downloaded from cisa.gov) into the database.

    \b
    Every later audit, report and 'camaudit identify' of this database takes from it which
    CVEs are listed, when each was added and its due date (shown in the findings); the firmware
    version ranges stay reviewed data in the knowledge base (seeds/vendors/firmware-kev.yaml).
    Prints the entries that concern covered makers' products (Hikvision, Dahua, Huawei, ZTE,
    Hytera, under any of their brands) and which of them the knowledge base has no version
    range for yet: those need a reviewed entry before a scan can place a firmware against them.
    A file that is not the catalogue is one line naming it, exit 2; nothing is stored.

    \b
    Example:
      curl -sO https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
      camaudit kev update known_exploited_vulnerabilities.json
    """
    catalog, digest = read_catalog(file)
    kb = load_knowledge()
    with open_store(db, must_exist=False) as store:
        stored = store.save_kev_catalog(catalog, digest, str(file.resolve()))
    found = concerns(catalog, kb)
    if quiet:
        sys.exit(0)
    what = "imported" if stored else "already the newest catalogue here"
    click.echo(f"{file}: CISA KEV catalogue {catalog.version} (released {catalog.released or 'date not given'}), "
               f"{len(catalog.entries)} entries: {what}")
    missing = [c for c in found if not c.in_knowledge_base]
    click.echo(f"{len(found)} concern covered makers' products; {len(found) - len(missing)} have a version range in "
               f"the knowledge base, {len(missing)} have none yet")
    for c in found:
        mark = "range known " if c.in_knowledge_base else "NO RANGE YET"
        click.echo(f"  {mark}  {c.entry.cve:<16} {c.maker:<10} {c.entry.vendor} {c.entry.product} "
                   f"(added {c.entry.date_added}, due {c.entry.due_date})")
    if missing:
        click.echo("add a reviewed entry with the vendor's advisory to seeds/vendors/firmware-kev.yaml for each "
                   "'NO RANGE YET' line; until then scans cannot place a firmware against it")
    sys.exit(0)
