"""``camaudit scan``: probe the targets the operator names, store and optionally report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..config import LIMITS, rules_path
from ..credentials import load_credentials
from ..pipeline import AuditRequest, run_audit
from ..probes.engine import DEFAULT_DEADLINE, DEFAULT_RATE, DEFAULT_TIMEOUT, ScanOptions, parse_probe_list
from ..scope import build_scope
from .options import TEXT, FiniteRange, db_option
from .progress import TerminalProgress
from .summary import exit_code, summary_line


@click.command()
@click.argument("targets", nargs=-1, metavar="TARGET...")
@click.option("-i", "--interface", required=True, help="Interface to scan from (ARP and multicast go out on it only).")
@click.option("--exclude", "excludes", multiple=True, metavar="TARGET", help="Never touch these (repeatable).")
@click.option("--credentials", type=click.Path(path_type=Path), help="YAML/TOML credentials file (mode 600).")
@click.option("--probes", metavar="LIST",
              help="Comma-separated subset of: arp,wsdiscovery,sadp,dhip,ports,http,rtsp,onvif.")
@click.option("--rate", type=FiniteRange(*LIMITS["rate"]), default=DEFAULT_RATE, show_default=True,
              help="Packets/connections per second, all probes together.")
@click.option("--timeout", type=FiniteRange(*LIMITS["timeout"]), default=DEFAULT_TIMEOUT, show_default=True,
              help="Per-request timeout (s).")
@click.option("--deadline", type=FiniteRange(*LIMITS["deadline"]), default=DEFAULT_DEADLINE, show_default=True,
              help="The whole audit (probes, identification, policy, store, reports) ends within this many "
                   "seconds; the probes get 90% of it.")
@click.option("--rules", "rules", multiple=True, metavar="FILE|builtin:NAME",
              help="Policy rules file(s) to evaluate (repeatable; builtin:ndaa-889 names a shipped one; "
                   "default: the shipped ndaa-889 and hardening).")
@click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low", "info"]),
              help="Exit 1 if an unwaived finding is at or above this severity.")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the scan's JSON document (schema v1).")
@click.option("--report", "report_out", type=click.Path(path_type=Path), help="Write the HTML report here.")
@click.option("--site", type=TEXT, help="Site name for the report.")
@click.option("--allow-public", is_flag=True, help="Allow globally routable targets (only if authorised).")
@click.option("--allow-large", is_flag=True, help="Allow more than 65,536 addresses.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line or summary.")
@db_option
def scan(targets: tuple[str, ...], interface: str, excludes: tuple[str, ...], credentials: Path | None,
         probes: str | None, rate: float, timeout: float, deadline: float, rules: tuple[str, ...],
         fail_on: str | None, json_out: str | None, report_out: Path | None, site: str | None,
         allow_public: bool, allow_large: bool, quiet: bool, db: Path) -> None:
    """Discover and identify the cameras and recorders in TARGET... (CIDR, range, host, @file).

    \b
    Examples:
      camaudit scan 10.20.0.0/24 -i eth1 --rules builtin:ndaa-889 --rules site.yaml
      camaudit scan @cameras.txt -i eth1 --exclude 10.20.0.1 --json scan.json
    """
    scope = build_scope(targets, excludes, allow_public=allow_public, allow_large=allow_large)
    creds = load_credentials(credentials) if credentials else None
    options = ScanOptions(scope=scope, interface=interface, probes=parse_probe_list(probes), rate=rate,
                          timeout=timeout, deadline=deadline, credentials=creds)
    reports = [("html", report_out)] if report_out else []
    if json_out and json_out != "-":
        reports.append(("json", Path(json_out)))
    progress = TerminalProgress(enabled=False if quiet else None)
    try:
        result = run_audit(AuditRequest(options=options, db_path=db, rules=[rules_path(r) for r in rules], site=site,
                                        reports=reports, fail_on=fail_on), progress)
    finally:
        progress.close()
    if json_out == "-":
        json.dump(result.document, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    elif not quiet:
        click.echo(summary_line(result.document))
        for path in result.written:
            click.echo(f"  wrote {path}")
        click.echo(f"  inventory: camaudit devices --db {db} --scan {result.scan_id}; "
                   f"report: camaudit report --db {db} --scan {result.scan_id} -o report.html")
    sys.exit(exit_code(result))
