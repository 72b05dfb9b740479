"""The folders tell the data flow: which parts of the package may import which.

* The lab (``auditor.lab``, the simulated facility) is a test and demo tool: only
  the commands that drive it (``auditor/commands/``) and the lab itself import it.
  Product code that a real scan runs never does.
* The library never imports the command line (``auditor.commands``, ``auditor.cli``):
  commands are thin shells over it.

Imports are read with ``ast`` (also those inside functions), relative ones resolved.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auditor"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _inside(path: Path, *folders: str) -> bool:
    rel = path.relative_to(PACKAGE).parts
    return any(rel[: len(f.split("/"))] == tuple(f.split("/")) for f in folders)


def _offences(forbidden: tuple[str, ...], allowed_in: tuple[str, ...]) -> list[str]:
    out = []
    for path in _sources():
        if _inside(path, *allowed_in):
            continue
        for line, module in imports_of(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return sorted(set(out))


def test_product_code_never_imports_the_lab() -> None:
    assert _offences(("auditor.lab",), ("commands", "lab")) == []


def test_the_library_never_imports_the_command_line() -> None:
    assert _offences(("auditor.commands", "auditor.cli"), ("commands", "cli.py", "__main__.py")) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("from ..lab.netns import x\n", "auditor.lab.netns"),
    ("from ..lab import topology\n", "auditor.lab.topology"),
    ("import auditor.lab.fleet\n", "auditor.lab.fleet"),
    ("def f():\n    from ..lab.spec import Fleet\n", "auditor.lab.spec"),
])
def test_the_checker_sees_every_form_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                                 expected: str) -> None:
    fake = tmp_path / "auditor"
    (fake / "probes").mkdir(parents=True)
    (fake / "probes" / "x.py").write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    offences = _offences(("auditor.lab",), ("commands", "lab"))
    assert any(o.endswith(f"imports {expected}") for o in offences), offences
