"""CSV: the one CSV writer of camaudit -- ``report --format csv``, ``export --format csv`` and
``devices --csv`` all write through it, so their columns, line endings and values agree.

One row per device (default) or one row per finding. RFC 4180: CRLF line endings, a header
row, fields quoted when needed; booleans are ``true``/``false``, lists are joined with ``; ``,
None is empty. Values come from the network and are hostile: control characters become
``?`` (no terminal escape sequences when printed), and a cell a spreadsheet would read as a
formula (starting with ``= + - @``, tab or CR) gets a leading single quote.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .interface import ReportFormat
from .view import normalize

CsvRows = Literal["devices", "findings"]
CSV_ROWS: tuple[str, ...] = ("devices", "findings")

DEVICE_COLUMNS: tuple[str, ...] = (
    "scan_id", "id", "ip", "mac", "maker", "brand", "relation", "device_class", "model", "firmware", "serial",
    "covered", "confidence", "finding_count", "open_ports", "first_seen", "conflicts", "warnings", "behind",
    "channel",
)
"""``behind``: for a camera seen only in a recorder's channel list, the recorder's device ``id`` (its row in the
same file); ``channel``: the recorder's channel it is on."""
FINDING_COLUMNS: tuple[str, ...] = (
    "scan_id", "severity", "rule", "title", "device_id", "ip", "mac", "maker", "model", "message", "remediation",
    "references", "waived", "waiver_state", "waiver_expires", "waiver_ticket",
)
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell starting with one of these as a formula (OWASP CSV injection)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters but tab and newline (quoted fields may hold those; a leading one is defused)."""


def csv_cell(value: Any) -> str:
    """A value as a CSV cell no spreadsheet will execute and no terminal will interpret."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    if not isinstance(value, str):
        return str(value)
    value = _CONTROL.sub("?", value)
    return "'" + value if value.startswith(FORMULA_START) else value


def write_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Header and rows (``columns`` picked from each mapping) as RFC 4180 CSV text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def device_rows(scan_id: int | None, devices: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for dev in devices:
        yield {**dev, "scan_id": scan_id}


def finding_rows(scan_id: int | None, findings: Iterable[Mapping[str, Any]],
                 devices: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    by_id = {dev["id"]: dev for dev in devices}
    for f in findings:
        dev = by_id.get(f["device_id"], {})
        waiver = f.get("waiver") or {}
        yield {**f, "scan_id": scan_id, "maker": dev.get("maker"), "model": dev.get("model"),
               "waiver_state": waiver.get("state"), "waiver_expires": waiver.get("expires"),
               "waiver_ticket": waiver.get("ticket")}


def render_entries(scan_id: int | None, devices: Sequence[Mapping[str, Any]],
                   findings: Sequence[Mapping[str, Any]] = (), rows: CsvRows = "devices") -> str:
    """Document entries (``auditor.document``) of one scan as CSV: devices, or findings (which
    take maker and model from ``devices``)."""
    if rows == "devices":
        return write_csv(DEVICE_COLUMNS, device_rows(scan_id, devices))
    if rows == "findings":
        return write_csv(FINDING_COLUMNS, finding_rows(scan_id, findings, devices))
    raise ValueError(f"unknown CSV rows {rows!r} (choose from {', '.join(CSV_ROWS)})")


def render_csv(doc: dict[str, Any], rows: CsvRows = "devices") -> str:
    """A scan document's devices (one row each) or findings (one row each) as CSV."""
    d = normalize(doc)
    return render_entries(d["scan"]["id"], d["devices"], d["findings"], rows)


class CsvFormat(ReportFormat):
    name = "csv"
    suffix = ".csv"
    media_type = "text/csv"

    def __init__(self, rows: CsvRows = "devices") -> None:
        self.rows: CsvRows = rows

    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        return render_csv(doc, self.rows)
