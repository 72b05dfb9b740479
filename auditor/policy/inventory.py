"""The approved-asset inventory: a CSV of mac, serial, location, owner.

Either ``mac`` or ``serial`` identifies a row; extra columns (an asset system's
export usually has some) are ignored. Errors name ``csvfile:line``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from .. import opfile
from ..errors import OperatorError
from ..mac import normalise_mac

MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class InventoryEntry:
    mac: str | None
    serial: str | None
    location: str
    owner: str
    source: str
    """``file:line`` of the row."""


def load_inventory(path: Path) -> tuple[list[InventoryEntry], str]:
    """Entries of the CSV at ``path`` and the file's sha256."""
    data = opfile.read_bytes(path, "inventory", MAX_BYTES)
    text = opfile.decode(data, str(path), "utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise OperatorError(f"not a readable CSV header ({exc})", str(path), 1) from None
    header = [h.strip().lower() for h in fieldnames or []]
    if "mac" not in header and "serial" not in header:
        raise OperatorError("inventory needs a header row with a 'mac' or 'serial' column "
                            "(columns: mac, serial, location, owner)", str(path), 1)
    reader.fieldnames = header
    entries = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field past the csv module's 128 KiB limit
            raise OperatorError(f"not a readable CSV row ({exc})", str(path), reader.line_num + 1) from None
        line = reader.line_num
        if None in row:
            raise OperatorError("more fields than the header names", str(path), line)
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        mac_text, serial = cells.get("mac", ""), cells.get("serial", "")
        mac = normalise_mac(mac_text) if mac_text else None
        if mac_text and mac is None:
            raise OperatorError(f"bad MAC address {mac_text!r}", str(path), line)
        if not mac and not serial:
            raise OperatorError("row has neither a mac nor a serial", str(path), line)
        entries.append(InventoryEntry(mac, serial or None, cells.get("location", ""), cells.get("owner", ""),
                                      f"{path}:{line}"))
    return entries, hashlib.sha256(data).hexdigest()
