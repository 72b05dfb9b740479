"""``camaudit serve``: browse and query the database in Datasette, read-only (the ``web`` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from .options import db_option, open_store


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the inventory to the network: "
                   "put an authenticating proxy in front instead.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True,
              help="TCP port (0: any free one).")
@db_option
def serve(host: str, port: int, db: Path) -> None:
    """Browse the database in Datasette, read-only: tables and views with descriptions, facets
    (site, maker, covered, severity) and canned queries (covered devices by site, devices that
    appeared or disappeared since the previous audit, waivers expiring within 30 days, devices
    whose maker could not be established). Needs: pip install 'camaudit[web]'.

    \b
    Example:
      camaudit serve --db /var/lib/camaudit/estate.db      # then open http://127.0.0.1:8001/
    """
    from ..web.serve import serve as run

    with open_store(db) as store:  # a camaudit database at the current schema, or a clear error
        store.sites()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        click.echo(f"warning: serving on {host}: anyone who reaches it can read the whole inventory", err=True)
    run(db, host=host, port=port)
