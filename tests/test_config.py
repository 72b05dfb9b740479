from datetime import datetime
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.errors import OperatorError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "audit.yaml"


def test_example_config_loads():
    cfg = load_config(EXAMPLE)
    assert cfg.site == "HQ building A" and cfg.interface == "eth1"
    assert cfg.targets == ("10.20.0.0/24", "10.20.5.10-60") and cfg.excludes == ("10.20.0.1",)
    assert [p.name for p in cfg.rules] == ["ndaa-889.yaml", "hardening.yaml"]
    assert cfg.keep_reports == 30 and cfg.keep_scans == 90 and cfg.fail_on == "high"
    assert cfg.keep_observations == 3
    assert cfg.report_stem(datetime(2026, 11, 28, 3, 15)) == "camaudit-HQ-building-A-20261128-0315"


def write(tmp_path, text, name="site.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


BASE = "site: S\ntargets: [198.18.0.0/24]\ninterface: lan0\n"


@pytest.mark.parametrize("extra, line, needle", [
    ("colour: blue\n", 4, "unknown key 'colour'"),
    ("rate: fast\n", 4, "'rate' must be a number"),
    ("fail_on: severe\n", 4, "fail_on must be one of"),
    ("formats: [html, pdf]\n", 4, "unknown report format(s) pdf"),
    ("rules: [builtin:nope]\n", 4, "no shipped rules file"),
    ("retention: {scans: 0}\n", 4, "retention.scans"),
    ("report_name: '{sight}'\n", 4, "report_name unknown field {sight}"),
    ("exclude: [198.18.0.1, 198.18.0.x]\n", 4, "invalid target '198.18.0.x'"),
    ("profile: turbo\n", 4, "profile must be one of ot, default, fast"),
    ("host_connections: 0\n", 4, "host_connections must be between 1 and 256"),
    ("host_rate: 1.5.0\n", 4, "'host_rate' must be a number"),
])
def test_bad_config_one_line_with_file_and_line(tmp_path, extra, line, needle):
    p = write(tmp_path, BASE + extra)
    with pytest.raises(OperatorError) as err:
        load_config(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}:{line}: ") and needle in msg and "\n" not in msg


def test_pacing_keys_profile_and_explicit_values(tmp_path):
    cfg = load_config(EXAMPLE)
    assert cfg.limits.profile == "default" and (cfg.limits.rate, cfg.limits.host_rate,
                                                cfg.limits.host_connections) == (1000, 20, 2)
    assert cfg.deadline is None  # the default for the scope (it grows with it)
    cfg = load_config(write(tmp_path, BASE + "profile: ot\nhost_rate: 2\ndeadline: 600\n"))
    assert (cfg.limits.profile, cfg.limits.rate, cfg.limits.host_rate, cfg.limits.host_connections) == (
        "ot", 200, 2, 1)
    assert cfg.limits.overrides == ("host_rate",) and cfg.deadline == 600


def test_yaml_syntax_error_has_line(tmp_path):
    p = write(tmp_path, BASE + "targets: [unclosed\n")
    with pytest.raises(OperatorError, match=rf"^{p}:\d+: invalid YAML"):
        load_config(p)


def test_missing_required_and_unreadable(tmp_path):
    with pytest.raises(OperatorError, match="missing required key 'interface'"):
        load_config(write(tmp_path, "site: S\ntargets: [198.18.0.1]\n"))
    with pytest.raises(OperatorError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_toml_config_and_relative_paths(tmp_path):
    p = write(tmp_path, 'site = "T"\ntargets = ["198.18.0.0/24"]\ninterface = "lan0"\n'
                        'database = "db/c.db"\nreport_dir = "out"\nbogus = 1\n', "site.toml")
    with pytest.raises(OperatorError, match=rf"^{p}:6: unknown key 'bogus'"):
        load_config(p)
    p.write_text('site = "T"\ntargets = ["198.18.0.0/24"]\ninterface = "lan0"\ndatabase = "db/c.db"\n')
    cfg = load_config(p)
    assert cfg.database == tmp_path / "db" / "c.db" and cfg.report_dir == tmp_path


def test_bad_target_names_the_targets_line(tmp_path):
    p = write(tmp_path, "site: S\ninterface: lan0\ntargets: [198.18.0.0/24, 198.18.0.999]\n")
    with pytest.raises(OperatorError, match=rf"^{p}:3: invalid target '198.18.0.999'"):
        load_config(p)


def test_at_file_targets_are_read_relative_to_the_config(tmp_path, monkeypatch):
    from auditor.scope import build_scope

    site = tmp_path / "site"
    site.mkdir()
    (site / "cams.txt").write_text("198.18.0.10\n198.18.0.20-21 # lobby\n")
    (site / "skip.txt").write_text("198.18.0.21\n")
    p = write(site, "site: S\ninterface: lan0\ntargets: ['@cams.txt']\nexclude: ['@skip.txt']\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # cron's working directory is not the config's
    cfg = load_config(p)
    assert cfg.targets == (f"@{site / 'cams.txt'}",) and cfg.excludes == (f"@{site / 'skip.txt'}",)
    scope = build_scope(cfg.targets, cfg.excludes)
    assert [str(a) for a in scope.addresses()] == ["198.18.0.10", "198.18.0.20"]


def test_report_name_takes_only_site_and_date(tmp_path):
    for bad, needle in [("../x", "a path"), ("/abs/x", "a path"), ("{date.__class__}", "unknown field"),
                        ("{site!r}", "no conversion"), ("{date:{site}}", "nested field"), ("{site:.0}", "empty"),
                        ("{0}", "unknown field"), ("r-{date:%Y/%m}", "a path"), ("{}", "unknown field")]:
        with pytest.raises(OperatorError, match=needle):
            load_config(write(tmp_path, BASE + f"report_name: '{bad}'\n"))
    cfg = load_config(write(tmp_path, BASE + "report_name: 'audit-{site}-{date:%Y%m%d}'\n"))
    assert cfg.report_stem(datetime(2026, 1, 2)) == "audit-S-20260102"
