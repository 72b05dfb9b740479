"""Generate the parts of the docs that the code already says, so they cannot drift.

* ``docs/observations.md``: the table of every probe's ``Observation.fields``, from
  each probe module's ``FIELDS`` (auditor/probes/contract.py);
* ``docs/cli.md``: the command-line reference, from the click commands' own ``--help``;
* ``docs/json-schema.md``: the field reference, from the document's JSON Schema
  (``schemas/camaudit-document-v1.schema.json``).

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

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.cli import COMMANDS, cli  # noqa: E402
from auditor.docschema import SCHEMA_FILE, schema  # noqa: E402
from auditor.probes.contract import Field, observation_fields  # noqa: E402

WIDTH = 80
"""A terminal of this many columns or more: click caps help at 80 and leaves two columns free."""


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
    for probe, spec in observation_fields().items():
        for field in spec.fields:
            lines.append(_row(probe, field.name, field))
            lines += [_row(probe, f"{field.name}.{sub.name}", sub) for sub in field.record]
        if spec.note:
            notes.append(f"- **{probe}**: {spec.note}")
    return "\n".join(lines + [""] + notes)


def _contexts() -> click.Context:
    settings = dict(cli.context_settings)
    return click.Context(cli, info_name="camaudit", terminal_width=WIDTH - 2, max_content_width=WIDTH, **settings)


def cli_reference() -> str:
    """Every command's ``--help`` as ``camaudit … --help`` prints it, in the order of ``auditor.cli.COMMANDS``."""
    root = _contexts()
    sections = ["```text", cli.get_help(root), "```"]
    for name, _ in COMMANDS:
        command = cli.get_command(root, name)
        assert command is not None
        ctx = click.Context(command, info_name=name, parent=root)
        sections += ["", f"## camaudit {name}", "", "```text", command.get_help(ctx), "```"]
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
                sections += ["", f"### camaudit {name} {sub_name}", "", "```text", sub.get_help(sub_ctx), "```"]
    return "\n".join(sections)


def _schema_type(spec: dict[str, object], defs: dict[str, dict[str, object]]) -> str:
    """A property's type in words: string, integer or null, one of a | b, list of device…"""
    if "$ref" in spec:
        name = str(spec["$ref"]).rsplit("/", 1)[-1]
        target = defs[name]
        if target.get("type") == "object":
            return f"[{name}](#{name})"
        if "pattern" in target:
            return f"string ({name})"
        return _schema_type(target, defs)
    if "const" in spec:
        return f"`{spec['const']}`"
    if "enum" in spec:
        return "one of " + " \\| ".join("null" if v is None else f"`{v}`" for v in spec["enum"])  # type: ignore[union-attr]
    if "anyOf" in spec:
        return " or ".join(_schema_type(alt, defs) for alt in spec["anyOf"])  # type: ignore[union-attr]
    kind = spec.get("type")
    if kind == "array":
        items = spec.get("items")
        return "list of " + (_schema_type(items, defs) if isinstance(items, dict) else "values")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "string" and "pattern" in spec:
        return "string (pattern)"
    return str(kind or "any")


def schema_reference() -> str:
    """One table per object of the schema: field, type, required, meaning."""
    root = schema()
    defs: dict[str, dict[str, object]] = root["$defs"]
    objects = [("document", root)] + [(name, spec) for name, spec in defs.items() if spec.get("type") == "object"]
    out = [f"Generated from [`schemas/{SCHEMA_FILE}`](../schemas/{SCHEMA_FILE}). "
           "Every object may carry keys not listed here (fields are only ever added within a version)."]
    for name, spec in objects:
        out += ["", f"### {name}", ""]
        if spec.get("description"):
            out += [_cell(str(spec["description"])), ""]
        required = set(spec.get("required", []))  # type: ignore[arg-type]
        out += ["| field | type | required | meaning |", "|---|---|---|---|"]
        for prop, pspec in spec.get("properties", {}).items():  # type: ignore[union-attr]
            meaning = pspec.get("description")
            if meaning is None and "$ref" in pspec:
                meaning = defs[pspec["$ref"].rsplit("/", 1)[-1]].get("description", "")
            out.append(f"| `{prop}` | {_schema_type(pspec, defs)} | {'yes' if prop in required else 'no'} "
                       f"| {_cell(str(meaning or ''))} |")
    return "\n".join(out)


GENERATED = {
    "docs/observations.md": {"observations": observations_table},
    "docs/cli.md": {"cli": cli_reference},
    "docs/json-schema.md": {"schema": schema_reference},
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
