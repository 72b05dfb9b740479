"""Generate the parts of the docs that the code already says, so they cannot drift.

* ``docs/observations.md``: the table of every probe's ``Observation.fields``, from
  each probe module's ``FIELDS`` (auditor/probes/contract.py).

    python scripts/gendocs.py          # rewrite the generated parts
    python scripts/gendocs.py --check  # exit 1 if they are stale (tests/test_docs.py does this)

Generated text sits between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``
markers; what is outside them is written by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.probes.contract import Field, probe_fields  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(probe: str, name: str, field: Field) -> str:
    meaning = _cell(field.doc)
    if field.kept:
        meaning += f" — *kept, not interpreted: {_cell(field.kept)}*"
    return f"| {probe} | `{name}` | {field.kind} | {meaning} |"


def observations_table() -> str:
    lines = ["| probe | field | type | meaning |", "|---|---|---|---|"]
    notes = []
    for probe, spec in probe_fields().items():
        for field in spec.fields:
            lines.append(_row(probe, field.name, field))
            lines += [_row(probe, f"{field.name}.{sub.name}", sub) for sub in field.record]
        if spec.note:
            notes.append(f"- **{probe}**: {spec.note}")
    return "\n".join(lines + [""] + notes)


GENERATED = {
    "docs/observations.md": {"observations": observations_table},
}


def render(path: str, text: str) -> str:
    """``text`` with every generated part of ``path`` rewritten."""
    for name, make in GENERATED[path].items():
        pattern = re.compile(rf"(<!-- generated: {name} [^\n]*-->\n).*?(<!-- end generated: {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path}: no '<!-- generated: {name} ... -->' markers")
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--check", action="store_true", help="Exit 1 if a generated part is stale; write nothing.")
    check = args.parse_args(argv).check
    stale = []
    for path in GENERATED:
        file = ROOT / path
        current = file.read_text(encoding="utf-8")
        fresh = render(path, current)
        if fresh != current:
            stale.append(path)
            if not check:
                file.write_text(fresh, encoding="utf-8")
    if check and stale:
        print(f"stale: {', '.join(stale)}; run: python scripts/gendocs.py", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
