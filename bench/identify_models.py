"""Identification rates on the project's model-code list (tests/data/models/).

    .venv/bin/python bench/identify_models.py [--details] [--kb DIR]

For each way a scan meets a listed camera (ONVIF Manufacturer + Model, the model
alone, a WS-Discovery name/hardware scope) prints, per expectation class
(covered / independent / review), how many come out right, unknown, or wrong, and
with ``--details`` every miss. Outcomes are defined in tests/model_list.py.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from model_list import MODES, rows  # noqa: E402

from auditor.knowledge import load_knowledge  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list every listed model that is not right")
    parser.add_argument("--kb", help="knowledge-base directory (default: the shipped one)")
    args = parser.parse_args(argv)
    kb = load_knowledge(args.kb)
    for mode in MODES:
        counts: dict[str, Counter[str]] = {}
        misses: list[str] = []
        for item, ident, outcome in rows(kb, mode):
            counts.setdefault(item.expect, Counter())[outcome] += 1
            if outcome != "right":
                misses.append(f"  {outcome:15} {item.brand:18} {item.model!r:40} -> maker={ident.maker} "
                              f"covered={ident.covered} conflicts={list(ident.conflicts)[:1]}")
        print(f"== {mode}")
        for expect in ("covered", "independent", "review"):
            c = counts.get(expect, Counter())
            total = sum(c.values())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k != "right")
            print(f"  {expect:12} {c['right']:5}/{total:<5} right ({100 * c['right'] / max(total, 1):5.1f}%)"
                  f"{'; ' + detail if detail else ''}")
        if args.details:
            print("\n".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
