"""Plain-text tables and CSV for the history commands.

Values come from the network: control characters (terminal escape sequences) are
replaced before printing, and CSV cells that a spreadsheet would run as a formula are
prefixed with a quote (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..report.format_csv import csv_cell as safe_csv_cell

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


def csv_cell(value: Any) -> str:
    """A CSV cell safe in a spreadsheet (see ``report.format_csv.csv_cell``) and on a terminal."""
    return _CONTROL.sub("?", safe_csv_cell(value, true="true", false="false"))


def render_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()
