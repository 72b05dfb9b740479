"""Plain-text tables for the history commands (their CSV is ``report.format_csv``'s).

Values come from the network: control characters (terminal escape sequences) are
replaced before printing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_CELL = 40


def cell(value: Any, limit: int | None = MAX_CELL) -> str:
    """A value as safe single-line text (None → '-', lists joined, long text cut)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    text = _CONTROL.sub("?", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], limit: int | None = MAX_CELL) -> str:
    """Left-aligned columns separated by two spaces, with a header and a rule line.

    Cells are :func:`cell` text, cut at ``limit`` characters (None: never cut).
    """
    body = [[cell(v, limit) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return "\n".join(lines)
