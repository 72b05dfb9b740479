"""``camaudit demo``: bring up the simulated facility, audit it end to end, tear it down.

Everything is real: Linux network namespaces, a bridge, veths with the vendors' MACs,
emulated device services; the scanner runs inside the lab's scanner namespace, so
no packet of the demo ever leaves the lab.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
import yaml

from ..credentials import Credentials, load_credentials
from ..lab import topology
from ..lab.fleet import DEMO_SCALE_LIMIT, lab_credentials
from ..lab.spec import Fleet
from ..pipeline import AuditRequest, run_audit
from ..probes.engine import ScanOptions
from ..resources import data_dir
from ..scope import build_scope
from .progress import TerminalProgress
from .summary import summary_line

DEMO_RULES = ("ndaa-889.yaml", "hardening.yaml", "example-site.yaml")


def demo_credentials(fleet: Fleet) -> Credentials:
    """The lab's passwords (ONVIF, the recorders' and cameras' own APIs; one deliberately unknown, one
    deliberately wrong), through the same mode-600 file path an operator uses."""
    hosts = lab_credentials(fleet)
    with tempfile.TemporaryDirectory(prefix="camaudit-demo-") as tmp:
        path = Path(tmp) / "credentials.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump({"hosts": hosts}, fh)
        return load_credentials(path)


@click.command()
@click.option("--tag", default="demo", show_default=True, help="Lab name (namespaces are caml<tag>-*).")
@click.option("--db", type=click.Path(path_type=Path), default=Path("camaudit.db"), show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("camaudit-report.html"),
              show_default=True, help="HTML report path.")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (camaudit lab down --tag TAG removes it).")
@click.option("--scale", type=click.IntRange(min=0, max=DEMO_SCALE_LIMIT), default=0,
              help=f"Add N generic cameras to the facility (up to {DEMO_SCALE_LIMIT}).")
@click.option("-q", "--quiet", is_flag=True)
def demo(tag: str, db: Path, output: Path, keep: bool, scale: int, quiet: bool) -> None:
    """Audit the simulated facility (needs root): writes camaudit.db and camaudit-report.html here."""
    from ..lab.fleet import load_fleet
    from ..lab.netns import check_privileges
    from ..lab.runner import lab_down, lab_up
    from ..netns import enter_netns

    check_privileges()
    fleet = load_fleet()
    progress = TerminalProgress(enabled=False if quiet else None)
    targets = list(topology.DEMO_TARGETS)
    if scale:
        targets.append(f"{topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}")
    rules = [data_dir("rules") / name for name in DEMO_RULES]
    scope = build_scope(targets)
    if not quiet:
        click.echo(f"bringing up the simulated facility '{tag}' ({len(fleet.devices) + scale} devices)…", err=True)
    lab_down(tag)  # leftovers of an earlier crash
    # SIGINT/SIGTERM raise Interrupted in every phase (the CLI installs the handlers): the lab
    # is torn down by the ``finally`` and the command exits 2.
    try:
        state = lab_up(tag, fleet, scale=scale)
        options = ScanOptions(scope=scope, interface=topology.SCANNER_IFACE,  # the default profile's pacing
                              timeout=1.5, deadline=120, credentials=demo_credentials(state.fleet),
                              check_default_credentials=True)  # opt-in; the lab shows what it finds
        request = AuditRequest(options=options, db_path=db, rules=rules, site=fleet.site,
                               reports=[("html", output), ("json", output.with_suffix(".json"))])
        with enter_netns(state.scanner_ns):
            result = run_audit(request, progress)  # handles SIGINT/SIGTERM itself while scanning
    finally:
        progress.close()
        if not keep:
            lab_down(tag)
    if not quiet:
        click.echo(summary_line(result.document))
        click.echo(f"database: {db.resolve()}")
        click.echo(f"report:   {output.resolve()}")
    sys.exit(0)
