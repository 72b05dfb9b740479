"""Message templates: ``{fact}`` placeholders filled by plain substitution.

The template is split once at load time (``string.Formatter.parse``), so only the
rule author's text is ever parsed; device values are inserted verbatim and never
re-read as a template — a device named ``{ip.__class__}`` or ``{0}`` stays text.
Attribute/index access, conversions and format specs are refused at load time.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from .facts import FACTS

MAX_VALUE_CHARS = 200


class TemplateError(ValueError):
    pass


def render_value(value: Any) -> str:
    """A fact value as one short line of text."""
    if value is None:
        text = "unknown"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(render_value(v) for v in value) if value else "none"
    else:
        text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Template:
    parts: tuple[tuple[str, str | None], ...]
    """(literal text, fact name or None)."""

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
        for literal, name, spec, conversion in parsed:
            if name is not None:
                if name not in FACTS:
                    raise TemplateError(f"unknown placeholder {{{name}}} (use a fact name from rules/README.md)")
                if spec or conversion:
                    raise TemplateError(f"placeholder {{{name}}}: format specs and conversions are not supported")
            parts.append((literal, name))
        return cls(tuple(parts))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for _, n in self.parts if n is not None)

    def render(self, facts: dict[str, Any]) -> str:
        out = []
        for literal, name in self.parts:
            out.append(literal)
            if name is not None:
                out.append(render_value(facts.get(name)))
        return "".join(out)
