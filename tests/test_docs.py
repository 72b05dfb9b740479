"""The docs that the code already says are generated from it (scripts/gendocs.py) and never stale.

* docs/observations.md: the probes' ``FIELDS`` declarations.

A failure here means: run ``python scripts/gendocs.py`` and commit the result.
"""

from __future__ import annotations

import importlib.util
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


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "docs" / "observations.md"
    page.parent.mkdir()
    page.write_text("x\n<!-- generated: observations (python scripts/gendocs.py) -->\nold\n"
                    "<!-- end generated: observations -->\n")
    monkeypatch.setattr(gendocs, "ROOT", tmp_path)
    assert gendocs.main(["--check"]) == 1 and "old" in page.read_text()
    assert gendocs.main([]) == 0 and "| onvif | `calls` |" in page.read_text()
    assert gendocs.main(["--check"]) == 0
