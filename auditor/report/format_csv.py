"""CSV: one row per device (default) or one row per finding, for spreadsheets and tickets.

Cells that a spreadsheet would read as a formula (starting with ``= + - @``, tab or CR) are
prefixed with a single quote: device names come from the network and are hostile.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from .interface import ReportFormat
from .view import normalize

CsvRows = Literal["devices", "findings"]
CSV_ROWS: tuple[str, ...] = ("devices", "findings")

DEVICE_COLUMNS: tuple[str, ...] = (
    "scan_id", "ip", "mac", "maker", "brand", "relation", "device_class", "model", "firmware", "serial",
    "covered", "confidence", "finding_count", "open_ports", "conflicts", "warnings", "id",
)
FINDING_COLUMNS: tuple[str, ...] = (
    "scan_id", "severity", "rule", "title", "ip", "mac", "maker", "model", "message", "remediation",
    "references", "waived", "waiver_state", "waiver_expires", "waiver_ticket", "device_id",
)
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell starting with one of these as a formula (OWASP CSV injection)."""


def csv_cell(value: Any, *, true: str = "yes", false: str = "no") -> str:
    """A value as a CSV cell no spreadsheet will execute: text (and joined lists) that would
    start a formula gets a leading ``'``; numbers stay numbers; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    if not isinstance(value, str):
        return str(value)
    return "'" + value if value.startswith(FORMULA_START) else value


def _write(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def render_csv(doc: dict[str, Any], rows: CsvRows = "devices") -> str:
    """Devices (one row each) or findings (one row each) as RFC 4180 CSV with a header row."""
    d = normalize(doc)
    scan_id = d["scan"]["id"]
    if rows == "devices":
        return _write(DEVICE_COLUMNS, ({**dev, "scan_id": scan_id} for dev in d["devices"]))
    if rows == "findings":
        devices = {dev["id"]: dev for dev in d["devices"]}

        def finding_row(f: dict[str, Any]) -> dict[str, Any]:
            dev = devices.get(f["device_id"], {})
            waiver = f["waiver"] or {}
            return {**f, "scan_id": scan_id, "maker": dev.get("maker"), "model": dev.get("model"),
                    "waiver_state": waiver.get("state"), "waiver_expires": waiver.get("expires"),
                    "waiver_ticket": waiver.get("ticket")}

        return _write(FINDING_COLUMNS, (finding_row(f) for f in d["findings"]))
    raise ValueError(f"unknown CSV rows {rows!r} (choose from {', '.join(CSV_ROWS)})")


class CsvFormat(ReportFormat):
    name = "csv"
    suffix = ".csv"
    media_type = "text/csv"

    def __init__(self, rows: CsvRows = "devices") -> None:
        self.rows: CsvRows = rows

    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        return render_csv(doc, self.rows)
