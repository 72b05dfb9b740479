"""``camaudit scan``: probe the targets the operator names, store and optionally report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import LIMITS, rules_path
from ..credentials import load_credentials
from ..errors import OperatorError
from ..pipeline import AuditRequest, run_audit
from ..probes.engine import DEFAULT_TIMEOUT, ScanOptions, parse_probe_list
from ..probes.pacing import PROFILES, resolve_limits
from ..report import render_json
from ..scope import build_scope
from .options import TEXT, FiniteRange, db_option
from .progress import TerminalProgress
from .summary import exit_code, summary_line


@click.command()
@click.argument("targets", nargs=-1, metavar="TARGET...")
@click.option("-i", "--interface", required=True, help="Interface to scan from (ARP and multicast go out on it only).")
@click.option("--exclude", "excludes", multiple=True, metavar="TARGET", help="Never touch these (repeatable).")
@click.option("--credentials", type=click.Path(path_type=Path),
              help="YAML/TOML credentials file (mode 600): ONVIF, and the makers' own APIs (ISAPI, Dahua CGI, "
                   "VAPIX) where a device's answers point to its maker, one login per account; a recorder's "
                   "channel list gives the cameras behind it.")
@click.option("--check-default-credentials", is_flag=True,
              help="Also try each identified device's maker's documented factory-default account(s): one "
                   "attempt each, never after a failed login, never past the maker's lockout threshold "
                   "(README: what is sent and why it is safe). Off by default.")
@click.option("--probes", metavar="LIST",
              help="Comma-separated subset of: arp,ping,wsdiscovery,sadp,dhip,ports,http,rtsp,onvif,login "
                   "(without ping every routed address is probed fully, like nmap -Pn).")
@click.option("--profile", type=click.Choice(list(PROFILES)), default="default", show_default=True,
              help="Pacing: ot (plants, old recorders: 200/s, 1 connection and 5/s per device), default "
                   "(1000/s, 2 connections and 20/s per device), fast (labs, modern networks: 5000/s, 2 and 40/s).")
@click.option("--rate", type=FiniteRange(*LIMITS["rate"]), default=None,
              help="New connections and datagrams per second, all devices together (overrides the profile).")
@click.option("--host-rate", type=FiniteRange(*LIMITS["host_rate"]), default=None,
              help="New connections or requests per second to any one device, every probe counted "
                   "(overrides the profile).")
@click.option("--host-connections", type=click.IntRange(min=int(LIMITS["host_connections"][0]),
                                                         max=int(LIMITS["host_connections"][1])), default=None,
              help="Connections open at once to any one device (overrides the profile).")
@click.option("--timeout", type=FiniteRange(*LIMITS["timeout"]), default=DEFAULT_TIMEOUT, show_default=True,
              help="Per-request timeout (s).")
@click.option("--deadline", type=FiniteRange(*LIMITS["deadline"]), default=None,
              help="The whole audit (probes, identification, policy, store, reports) ends within this many "
                   "seconds; the probes get 90% of it. Default: 300 plus twice the time the scope's sweep "
                   "takes at the rate; a deadline too short for the sweep is refused before the first packet.")
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
         check_default_credentials: bool, probes: str | None, profile: str, rate: float | None, host_rate: float | None,
         host_connections: int | None, timeout: float, deadline: float | None, rules: tuple[str, ...],
         fail_on: str | None, json_out: str | None, report_out: Path | None, site: str | None,
         allow_public: bool, allow_large: bool, quiet: bool, db: Path) -> None:
    """Discover and identify the cameras and recorders in TARGET... (CIDR, range, host, @file).

    Pacing has two limits: a global rate (new connections and datagrams per second, the
    whole scan) and a per-device limit (connections at once, and new connections or
    requests per second, to any one device: what protects old cameras). --profile picks
    both; --rate, --host-rate and --host-connections override it. A device that stops
    answering mid-scan gets no further probes; at the end every device that answered is
    re-checked once, and one that went dark is a high finding (and exit 1) whatever the
    rules. On a terminal the scope's size and an estimate are shown before anything is sent.

    \b
    Examples:
      camaudit scan 10.20.0.0/24 -i eth1 --rules builtin:ndaa-889 --rules site.yaml
      camaudit scan @cameras.txt -i eth1 --exclude 10.20.0.1 --json scan.json
      camaudit scan 10.40.0.0/16 -i eth1 --profile ot          # a plant network, old recorders
    """
    scope = build_scope(targets, excludes, allow_public=allow_public, allow_large=allow_large)
    creds = load_credentials(credentials) if credentials else None
    try:
        limits = resolve_limits(profile, rate=rate, host_rate=host_rate, host_connections=host_connections)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    options = ScanOptions(scope=scope, interface=interface, probes=parse_probe_list(probes), limits=limits,
                          timeout=timeout, deadline=deadline, credentials=creds,
                          check_default_credentials=check_default_credentials)
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
        sys.stdout.write(render_json(result.document))  # the same renderer as export and report
    elif not quiet:
        click.echo(summary_line(result.document))
        for path in result.written:
            click.echo(f"  wrote {path}")
        click.echo(f"  inventory: camaudit devices --db {db} --scan {result.scan_id}; "
                   f"report: camaudit report --db {db} --scan {result.scan_id} -o report.html")
    sys.exit(exit_code(result))
