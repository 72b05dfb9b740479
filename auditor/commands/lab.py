"""``camaudit lab``: bring the simulated facility up and down, and run commands inside it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..lab import topology
from ..lab.fleet import BRIDGE_MAX_PORTS, DEMO_SCALE_LIMIT, load_fleet
from ..lab.runner import lab_down, lab_exec, lab_status, lab_up

_TAG_HELP = "Lab name (1-12 lower-case letters/digits); several labs can run side by side."


def _say(msg: str) -> None:
    click.echo(f"lab: {msg}", err=True)


@click.group()
def lab() -> None:
    """The simulated camera network (Linux network namespaces on 198.18.0.0/15, needs root).

    \b
    camaudit lab up                      # demo fleet, ~30 devices
    camaudit lab exec -- camaudit scan -i lan0 198.18.0.0/24 198.18.32.0/24
    camaudit lab down
    """


@lab.command()
@click.option("--tag", default="demo", show_default=True, help=_TAG_HELP)
@click.option("--scale", type=click.IntRange(min=0), default=0, show_default=True,
              help=f"Add N generic cameras (from {topology.SCALE_BASE}) for benchmarks: up to {DEMO_SCALE_LIMIT} "
                   f"with the demo fleet (one Linux bridge holds {BRIDGE_MAX_PORTS} ports; a larger --fleet "
                   "leaves fewer).")
@click.option("--sparse", type=click.IntRange(0, BRIDGE_MAX_PORTS - 1), default=0, show_default=True,
              help=f"Add N generic cameras spread over the routed {topology.SPARSE} (a sparse range for benchmarks).")
@click.option("--fragile-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Make every K-th added camera fragile: it stops answering for good when one source holds "
                   "more than 2 connections at once, or opens more than 50 in a second or 8 in a tenth of one "
                   "(0: none).")
@click.option("--fleet", "fleet_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Fleet YAML file (default: the shipped demo fleet).")
def up(tag: str, scale: int, sparse: int, fragile_every: int, fleet_file: Path | None) -> None:
    """Create the lab's namespaces and start the device emulator."""
    state = lab_up(tag, load_fleet(fleet_file), scale=scale, progress=_say, sparse=sparse,
                   fragile_every=fragile_every)
    n = len(state.fleet.devices)
    targets = " ".join(topology.DEMO_TARGETS)
    if scale:  # the generic cameras live outside the demo ranges
        targets += f" {topology.SCALE_BASE}-{topology.SCALE_BASE + scale - 1}"
    if sparse:
        targets += f" {topology.SPARSE}"
    click.echo(f"lab {tag} up: {n} devices, network {state.network_s:.2f}s, emulator {state.emulator_s:.2f}s")
    click.echo(f"scanner namespace: {state.scanner_ns} (interface {topology.SCANNER_IFACE}, "
               f"{topology.SCANNER_IP}); targets: {targets}")
    click.echo(f"try: camaudit lab exec --tag {tag} -- camaudit scan -i {topology.SCANNER_IFACE} {targets}")


@lab.command()
@click.option("--tag", default="demo", show_default=True, help=_TAG_HELP)
def down(tag: str) -> None:
    """Stop the emulator and delete every namespace of the lab (also after a crash)."""
    removed = lab_down(tag)
    click.echo(f"lab {tag} down: {len(removed)} namespaces removed" if removed else f"lab {tag} was not up")


@lab.command()
@click.option("--tag", default="demo", show_default=True, help=_TAG_HELP)
def status(tag: str) -> None:
    """Show whether the lab is up, its size and the emulator's memory."""
    st = lab_status(tag)
    state = "up" if st.up else ("broken (run lab down)" if st.namespaces else "down")
    click.echo(f"lab {tag}: {state}")
    click.echo(f"  namespaces: {st.namespaces}")
    if st.devices is not None:
        click.echo(f"  devices: {st.devices}")
    if st.emulator_pid is not None:
        rss = f", {st.emulator_rss_kb / 1024:.1f} MiB RSS" if st.emulator_rss_kb is not None else ""
        click.echo(f"  emulator: pid {st.emulator_pid}, {'running' if st.emulator_alive else 'gone'}{rss}")
    if st.namespaces:
        click.echo(f"  scanner namespace: {st.scanner_ns}")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.option("--tag", default="demo", show_default=True, help=_TAG_HELP)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(tag: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside the lab's scanner namespace (put it after --)."""
    sys.exit(lab_exec(tag, list(command)))
