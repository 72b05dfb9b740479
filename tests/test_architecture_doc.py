"""docs/architecture.md describes the code as it is.

Every path it names (``auditor/x.py``, ``auditor/pkg/``, ``auditor/probes/{a,b}.py``, and
the tests, scripts and data folders it cites) must exist, and every top-level module and
package of ``auditor/`` must appear in it: a module that moves, disappears or is added
without a place in the data flow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
_PATH = re.compile(r"(?<![\w/.])((?:auditor|tests|scripts|reports|rules|seeds|docs)/[\w./{},-]*[\w/}])")


def named_paths(text: str) -> set[str]:
    out: set[str] = set()
    for match in _PATH.findall(text):
        brace = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", match)
        if brace:
            out.update(f"{brace.group(1)}{part}{brace.group(3)}" for part in brace.group(2).split(","))
        else:
            out.add(match)
    return out


def test_every_path_it_names_exists() -> None:
    paths = named_paths(DOC)
    assert len(paths) > 40
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == [], f"docs/architecture.md names what is not there: {missing}"


def test_every_module_and_package_has_a_place_in_it() -> None:
    names = {p.rstrip("/") for p in named_paths(DOC)}
    names |= {parent.as_posix() for p in list(names) for parent in Path(p).parents}  # auditor/policy/x.py names policy
    package = ROOT / "auditor"
    expected = {f"auditor/{p.name}" for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    expected |= {p.relative_to(ROOT).as_posix() for p in package.rglob("*")
                 if p.is_dir() and (p / "__init__.py").exists() and p != package}
    assert sorted(expected - names) == [], "add them to the data flow in docs/architecture.md"


def test_it_points_to_nothing_outside_the_repository() -> None:
    assert "../" not in DOC and "DESIGN.md" not in DOC


def test_the_path_finder_expands_braces() -> None:
    assert named_paths("see auditor/probes/{arp,http}.py and auditor/store/ here") == {
        "auditor/probes/arp.py", "auditor/probes/http.py", "auditor/store/"}
