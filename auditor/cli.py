"""The ``camaudit`` command line: click commands only; the work happens in the library.

Exit codes (PyCQA/bandit style): 0 nothing at or above ``--fail-on``; 1 findings at
or above it; 2 operator error (bad rules/config/targets/credentials), scan failure,
a lab that could not be built, or the database locked by another run.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Any

import click

from . import __version__
from .errors import Interrupted, LabError, OperatorError, ScanError, StoreLockedError, one_line
from .interrupt import raise_on_signals

# Every command lives in auditor/commands/<module>.py as a click command object.
# The registry is closed: tests/test_cli.py asserts each entry imports and is listed in --help.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("demo", "auditor.commands.demo:demo"),
    ("scan", "auditor.commands.scan:scan"),
    ("audit", "auditor.commands.audit:audit"),
    ("classify", "auditor.commands.classify:classify"),
    ("schedule", "auditor.commands.audit:schedule"),
    ("identify", "auditor.commands.identify:identify"),
    ("oui", "auditor.commands.identify:oui"),
    ("rules", "auditor.commands.rules:rules"),
    ("scans", "auditor.commands.history:scans"),
    ("devices", "auditor.commands.history:devices"),
    ("diff", "auditor.commands.history:diff"),
    ("export", "auditor.commands.history:export"),
    ("report", "auditor.commands.report:report"),
    ("import", "auditor.commands.importing:import_"),
    ("kev", "auditor.commands.kev:kev"),
    ("serve", "auditor.commands.serve:serve"),
    ("lab", "auditor.commands.lab:lab"),
)


class OperatorFailure(click.ClickException):
    """A ClickException that exits 2, so an error never looks like 'findings' (exit 1)."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


def _notes(exc: BaseException) -> str:
    """What the library added on the way up (e.g. 'scan 7 recorded as failed')."""
    notes = getattr(exc, "__notes__", None) or []
    return "".join(f"; {note}" for note in notes)


class CamauditGroup(click.Group):
    """Every way a command can end becomes an exit code cron and systemd can tell apart:
    0 compliant, 1 findings, 2 anything else — operator errors, interruptions (SIGINT,
    SIGTERM, the deadline) and bugs alike, each as one line on stderr. A bug's traceback
    is printed only with ``-v``; it never exits 1, which a systemd unit counts as success."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, _ in COMMANDS)

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        """A command's module is imported when that command runs (or ``--help`` lists it), not at start:
        every run of ``camaudit scan`` paid about 0.07 s importing the other sixteen."""
        if cmd_name not in self.commands:
            target = dict(COMMANDS).get(cmd_name)
            if target is None:
                return None
            module_name, attr = target.split(":")
            self.add_command(getattr(importlib.import_module(module_name), attr), cmd_name)
        return self.commands[cmd_name]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with raise_on_signals():
                return super().invoke(ctx)
        except (OperatorError, ScanError, LabError, StoreLockedError) as exc:
            raise OperatorFailure(one_line(f"{exc}{_notes(exc)}")) from exc
        except click.UsageError as exc:  # one line too, not click's usage block (exit 2 either way)
            where = exc.ctx.command_path if exc.ctx is not None else "camaudit"
            raise OperatorFailure(one_line(f"{exc.format_message()} (see '{where} --help')")) from exc
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: --help and ctx.exit keep their codes
        except Interrupted as exc:
            raise OperatorFailure(one_line(f"interrupted: {exc.reason}{_notes(exc)}")) from exc
        except KeyboardInterrupt as exc:
            raise OperatorFailure(one_line(f"interrupted: stopped by SIGINT (Ctrl-C){_notes(exc)}")) from exc
        except BrokenPipeError as exc:  # `camaudit devices | head`: the reader went away
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            raise click.exceptions.Exit(2) from exc
        except Exception as exc:
            if (ctx.params.get("verbose") or 0) > 0:
                traceback.print_exc()
            raise OperatorFailure(one_line(
                f"internal error: {type(exc).__name__}: {exc}{_notes(exc)} (a camaudit bug; "
                "run with -v for the traceback)")) from exc


@click.group(cls=CamauditGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camaudit")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """camaudit — find the IP cameras and recorders on a network you name, unmask who
    really made them, and check them against NDAA §889 and your site policy.

    \b
    Exit codes: 0 compliant (nothing at or above --fail-on), 1 findings,
                2 operator error, scan failed or interrupted, database locked.
    """
    level = max(logging.WARNING - 10 * verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="camaudit: %(levelname)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # a log file added later may lower the root level; stderr stays as asked


def main() -> None:
    cli(prog_name="camaudit")


if __name__ == "__main__":
    main()
