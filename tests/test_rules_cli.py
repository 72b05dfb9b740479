"""camaudit rules check / list (the click group itself: the rest of the CLI is not needed)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from auditor.commands.rules import rules

SHIPPED = sorted(str(p) for p in (Path(__file__).parent.parent / "rules").glob("*.yaml"))


def test_check_shipped_files_ok() -> None:
    result = CliRunner().invoke(rules, ["check", *SHIPPED])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 4 file(s), 20 rules (20 enabled), 2 zones, 9 inventory entries, 3 waivers")


def test_check_reports_each_bad_file_on_one_line_and_exits_2(tmp_path: Path) -> None:
    bad1 = tmp_path / "a.yaml"
    bad1.write_text("rules:\n  - id: a\n    title: t\n    severity: urgent\n    match: {covered: is_true}\n"
                    "    message: m\n")
    bad2 = tmp_path / "b.yaml"
    bad2.write_text("rules:\n  - id: b\n    title: t\n    severity: low\n    match: {maker: {regex: '['}}\n"
                    "    message: m\n")
    result = CliRunner().invoke(rules, ["check", str(bad1), SHIPPED[0], str(bad2)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: {bad1}:4: rule a: severity 'urgent' is not one of critical, high, medium, low, info",
                     f"Error: {bad2}:5: rule b: match maker regex: not a valid RE2 regular expression '[': "
                     "missing ]: ["]


def test_check_cross_file_error(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("waivers:\n  - {device: SN1, rule: ndaa-889.covered-makr, reason: r, owner: o, ticket: T,"
                    " expires: 2027-01-01}\n")
    result = CliRunner().invoke(rules, ["check", SHIPPED[-1], str(site)])
    assert result.exit_code == 2
    assert f"{site}:2: waiver names unknown rule 'ndaa-889.covered-makr'" in result.output


def test_list_shipped_rules_and_waivers() -> None:
    result = CliRunner().invoke(rules, ["list", "--today", "2026-11-28"])
    assert result.exit_code == 0, result.output
    for rule_id in ("ndaa-889.covered-maker", "hardening.kev", "site.not-in-inventory"):
        assert rule_id in result.output
    assert result.output.index("ndaa-889.covered-maker") < result.output.index("hardening.telnet-open")
    assert "cameras: 198.18.0.0/24, 198.18.32.0/24 minus 198.18.0.48/28" in result.output
    states = [line.split()[3] for line in result.output.splitlines() if line.startswith(("20:bb", "44:19", "e8:ab"))]
    assert states == ["active", "expiring", "expired"]


def test_list_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("rules: 3\n")
    result = CliRunner().invoke(rules, ["list", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: rules must be a list" in result.output
