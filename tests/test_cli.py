"""The command registry is closed and wired; exit codes follow the documented contract."""

import importlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor import __version__
from auditor.cli import COMMANDS, cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


pytestmark = pytest.mark.usefixtures("no_scan")  # these run in the machine's own namespace


@pytest.mark.parametrize("name, target", COMMANDS)
def test_every_registered_command_imports_and_is_wired(name, target):
    module_name, attr = target.split(":")
    command = getattr(importlib.import_module(module_name), attr)
    assert cli.get_command(None, name) is command


def test_help_lists_every_command_and_version():
    runner = CliRunner()
    out = runner.invoke(cli, ["--help"]).output
    for name, _ in COMMANDS:
        assert re.search(rf"^\s+{name}\b", out, re.M), f"{name} missing from --help"
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_every_command_is_documented_in_readme(name):
    assert f"camaudit {name}" in README, f"README does not mention 'camaudit {name}'"


def test_usage_errors_exit_2():
    runner = CliRunner()
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    result = runner.invoke(cli, ["scan", "198.18.0.0/24"])  # --interface missing
    assert result.exit_code == 2


def test_operator_error_is_one_line_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", "198.18.0.0/33", "-i", "lo", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["Error: invalid target '198.18.0.0/33': " +
                                                  result.output.split("'198.18.0.0/33': ", 1)[1].strip()]


def test_public_scope_refused_before_any_packet(tmp_path):
    result = CliRunner().invoke(cli, ["scan", "8.8.8.8", "-i", "lo", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "--allow-public" in result.output
    assert not (tmp_path / "x.db").exists()


def test_unknown_interface_is_an_operator_error_and_records_no_scan(tmp_path):
    db = tmp_path / "x.db"
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "nosuch0", "--db", str(db)])
    assert result.exit_code == 2 and "interface 'nosuch0' does not exist" in result.output
    assert not db.exists()


def test_unknown_builtin_rules_is_an_operator_error(tmp_path):
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "lo", "--rules", "builtin:nope",
                                      "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "no shipped rules file 'builtin:nope'" in result.output
    assert "ndaa-889" in result.output  # says what is shipped


def test_audit_config_with_a_public_target_names_file_and_line(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: S\ninterface: lo\ntargets: [8.8.8.0/24]\ndatabase: x.db\n")
    result = CliRunner().invoke(cli, ["audit", "--config", str(cfg)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {cfg}:3: target 8.8.8.0/24 includes globally routable addresses; pass --allow-public "
        "if you really are authorised to scan them"]
    assert not (tmp_path / "x.db").exists()


def test_scan_help_documents_both_limits_and_the_profiles():
    out = CliRunner().invoke(cli, ["scan", "--help"], terminal_width=200).output
    for needle in ("--profile [ot|default|fast]", "--rate", "--host-rate", "--host-connections",
                   "global rate", "per-device limit", "re-checked once"):
        assert needle in out, needle


def test_a_deadline_too_short_for_the_scope_is_refused_in_one_line_before_any_packet(tmp_path):
    db = tmp_path / "x.db"
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/16", "-i", "lo", "--deadline", "20", "--db", str(db)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: a deadline of 20 s is too short for 65,534 addresses")
    assert "raise --deadline" in line and not db.exists()


def test_explicit_limits_override_the_profile(tmp_path, monkeypatch):
    seen = {}

    def capture(request, progress=None):
        seen["options"] = request.options
        raise SystemExit(0)

    monkeypatch.setattr("auditor.commands.scan.run_audit", capture)
    CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "lo", "--profile", "ot", "--host-connections", "2",
                             "--db", str(tmp_path / "x.db")])
    limits = seen["options"].limits
    assert (limits.profile, limits.rate, limits.host_rate, limits.host_connections) == ("ot", 200, 5, 2)
    assert seen["options"].deadline is None  # the scope's default


def test_the_estimate_is_shown_on_a_terminal_before_anything_is_sent(tmp_path, monkeypatch):
    import io

    from auditor.commands.progress import TerminalProgress

    stream = io.StringIO()
    monkeypatch.setattr("auditor.commands.scan.TerminalProgress",
                        lambda enabled=None: TerminalProgress(stream=stream, enabled=True))
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/22", "-i", "lo", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2  # no_scan stopped it at the first packet (an error, exit 2)
    text = stream.getvalue()
    assert "scope: 1,022 addresses (1,022 routed); profile default: 1000/s overall" in text
    assert "estimate: about" in text and "deadline 5 min 04 s (default for this scope)" in text
