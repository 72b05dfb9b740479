"""``camaudit rules check FILE...`` and ``camaudit rules list [FILE...]``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from ..errors import OperatorError
from ..policy import Policy, RulesFile, combine_files, load_policy, parse_rules_file, shipped_rule_files
from .tables import render_table

_FILES = click.Path(dir_okay=False, path_type=Path)


@click.group()
def rules() -> None:
    """Check and list policy rules files (schema: rules/README.md)."""


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=_FILES)
@click.pass_context
def check(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check rules FILEs as they would be loaded together (later files override rules by id).

    Prints one line per error (file:line: what) and exits 2 if there is any.
    """
    parsed: list[RulesFile] = []
    errors: list[str] = []
    for path in files:
        try:
            parsed.append(parse_rules_file(path))
        except OperatorError as exc:
            errors.append(str(exc))
    policy: Policy | None = None
    if not errors:
        try:
            policy = combine_files(parsed)
        except OperatorError as exc:
            errors.append(str(exc))
    if errors or policy is None:
        for line in errors:
            click.echo(f"Error: {line}", err=True)
        ctx.exit(2)
        return
    enabled = len(policy.active_rules)
    inventory = "no inventory" if policy.inventory is None else f"{len(policy.inventory)} inventory entries"
    click.echo(f"ok: {len(files)} file(s), {len(policy.rules)} rules ({enabled} enabled), "
               f"{len(policy.zones)} zones, {inventory}, {len(policy.waivers)} waivers")


@rules.command("list")
@click.argument("files", nargs=-1, type=_FILES)
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date that decides waiver states (default: today).")
@click.pass_context
def list_rules(ctx: click.Context, files: tuple[Path, ...], today: dt.datetime | None) -> None:
    """List the rules of FILEs (default: every shipped rules file), then zones and waivers."""
    paths = list(files) or shipped_rule_files()
    try:
        policy = load_policy(paths)
    except OperatorError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(2)
        return
    rows = [(r.id, r.severity, r.enabled, r.title, r.source) for r in policy.rules]
    click.echo(render_table(("RULE", "SEVERITY", "ENABLED", "TITLE", "DEFINED AT"), rows, limit=None))
    if policy.zones:
        click.echo("\nzones:")
        for z in policy.zones:
            subnets = ", ".join(str(n) for n in z.subnets)
            exclude = f" minus {', '.join(str(n) for n in z.exclude)}" if z.exclude else ""
            click.echo(f"  {z.name}: {subnets}{exclude}")
    if policy.inventory is not None:
        click.echo(f"\ninventory: {len(policy.inventory)} entries")
    statuses = policy.waiver_status(today.date() if today else None)
    if statuses:
        click.echo("\nwaivers:")
        click.echo(render_table(("DEVICE", "RULE", "EXPIRES", "STATE", "TICKET", "OWNER"),
                          [(w.device, w.rule, w.expires, w.state, w.ticket, w.owner) for w in statuses], limit=None))
