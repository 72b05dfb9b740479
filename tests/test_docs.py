"""The docs that the code already says are generated from it (scripts/gendocs.py) and never stale.

* docs/observations.md: the probes' ``FIELDS`` declarations;
* docs/cli.md: every command's ``--help``;
* docs/json-schema.md: the field reference, from the document's JSON Schema.

A failure here means: run ``python scripts/gendocs.py`` and commit the result.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gendocs", ROOT / "scripts" / "gendocs.py")
assert _spec and _spec.loader
gendocs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gendocs)


@pytest.mark.parametrize("path", sorted(gendocs.GENERATED))
def test_generated_docs_are_current(path: str) -> None:
    current = (ROOT / path).read_text(encoding="utf-8")
    assert gendocs.render(path, current) == current, f"{path} is stale: run python scripts/gendocs.py"


def test_every_command_has_its_section_in_the_cli_reference() -> None:
    from auditor.cli import COMMANDS

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, _ in COMMANDS:
        assert f"\n## camaudit {name}\n" in text and f"Usage: camaudit {name} " in text, name


def test_the_reference_is_what_the_command_prints() -> None:
    out = subprocess.run([sys.executable, "-m", "auditor", "rules", "check", "--help"], capture_output=True,
                         text=True, check=True, env={"COLUMNS": str(gendocs.WIDTH), "PATH": "/usr/bin:/bin"},
                         cwd=ROOT).stdout
    assert out.replace("python -m auditor", "camaudit").strip() in (ROOT / "docs" / "cli.md").read_text()


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "docs" / "cli.md"
    page.parent.mkdir()
    page.write_text("x\n<!-- generated: cli (python scripts/gendocs.py) -->\nold\n<!-- end generated: cli -->\n")
    for name in ("observations.md", "json-schema.md"):
        (tmp_path / "docs" / name).write_text((ROOT / "docs" / name).read_text())
    monkeypatch.setattr(gendocs, "ROOT", tmp_path)
    assert gendocs.main(["--check"]) == 1 and "old" in page.read_text()
    assert gendocs.main([]) == 0 and "Usage: camaudit scan" in page.read_text()
    assert gendocs.main(["--check"]) == 0
