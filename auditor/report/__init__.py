"""Report writers: html / json / csv, all rendered from the scan document (docs/json-schema.md).

The registry is closed: ``FORMATS`` names every format, ``tests/test_report_formats.py``
checks each one is wired to the CLI and renders.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import OperatorError
from .format_csv import CSV_ROWS, CsvFormat, CsvRows, render_csv, render_entries
from .format_html import HtmlFormat, render_html
from .format_json import JsonFormat, render_json
from .interface import ReportFormat

FORMATS: dict[str, type[ReportFormat]] = {
    "html": HtmlFormat,
    "json": JsonFormat,
    "csv": CsvFormat,
}

__all__ = ["CSV_ROWS", "FORMATS", "CsvRows", "ReportFormat", "format_for_path", "get_format", "render",
           "render_csv", "render_entries", "render_html", "render_json", "write_report", "write_text"]


def get_format(name: str, *, rows: CsvRows = "devices") -> ReportFormat:
    """The format registered as ``name``; ``rows`` picks devices/findings for CSV."""
    try:
        cls = FORMATS[name]
    except KeyError:
        raise OperatorError(f"unknown report format {name!r} (choose from {', '.join(FORMATS)})") from None
    if cls is CsvFormat:
        return CsvFormat(rows)
    return cls()


def format_for_path(path: Path, default: str = "html") -> str:
    """The format a file name asks for by its suffix (``.json``/``.csv``), else ``default``."""
    suffix = path.suffix.lower()
    for name, cls in FORMATS.items():
        if cls.suffix == suffix:
            return name
    return default


def render(doc: dict[str, Any], fmt: str = "html", *, site: str | None = None,
           template_dirs: Sequence[Path] = (), rows: CsvRows = "devices") -> str:
    return get_format(fmt, rows=rows).render(doc, site=site, template_dirs=template_dirs)


def write_report(doc: dict[str, Any], path: Path | str, fmt: str = "html", *, site: str | None = None,
                 template_dirs: Sequence[Path] = (), rows: CsvRows = "devices") -> Path:
    """Render and write atomically (temporary file + rename): a reader never sees half a report."""
    return write_text(path, render(doc, fmt, site=site, template_dirs=template_dirs, rows=rows))


def write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` atomically (temporary file + rename), mode 644."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    # A short temporary name: the target's own may already be as long as the file system allows.
    fd, tmp = tempfile.mkstemp(prefix=".camaudit-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
