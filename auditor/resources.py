"""Locate the data the tool ships (rules/, seeds/, reports/templates/, schemas/).

In a source checkout or editable install they sit at the repository's top level;
in a wheel, hatchling's force-include puts them under ``auditor/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_NAMES = {"rules": "rules", "seeds": "seeds", "templates": "reports/templates", "schemas": "schemas"}


def data_dir(name: str) -> Path:
    """Return the directory of shipped data ``name`` (rules, seeds, templates or schemas)."""
    if name not in _NAMES:
        raise KeyError(name)
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PKG.parent / _NAMES[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"shipped data directory {name!r} not found (looked in {installed} and {checkout})")
