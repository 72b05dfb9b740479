"""An inventory a site already has (VMS export, asset register, switch table) → observations.

``camaudit classify FILE`` is another kind of scan: instead of probes, each row of a CSV
or JSON file becomes one :class:`~auditor.models.Observation` of the source
``inventory``, entering the pipeline at assembly, so identification, policy, the store
and the reports treat it exactly as they treat what a scan saw. The input format is
documented in ``docs/inventory-import.md``; its fields are declared below (``FIELDS``,
the same contract the probes declare, ``docs/observations.md``).

Column names are matched leniently: case, spaces, punctuation and a few common words are
ignored, and each field has the synonyms VMS exports and asset registers use (``IP
Address``, ``MAC``, ``Make``, ``Vendor``, ``Model Number``, ``Firmware Version``,
``Serial No.``…). Every problem is one :class:`~auditor.errors.OperatorError` naming the
file and the row (its line in a CSV).
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import opfile
from .errors import OperatorError
from .mac import normalise_mac
from .models import Observation
from .probes.contract import Field, ProbeFields
from .text import clean_text

SOURCE = "inventory"
"""The ``Observation.probe`` of imported rows."""

FIELDS = ProbeFields(SOURCE, (
    Field("row", "int", "the row's number in the file (1 = the first data row)", 3,
          kept="for a person: which row of the imported file this device came from"),
    Field("mac", "str", "MAC address, normalised (what the inventory says; not seen on the wire)", "c0:56:e3:1a:2b:3c"),
    Field("manufacturer", "str", "manufacturer / make / vendor as the inventory names it", "HIKVISION"),
    Field("brand", "str", "brand, when the inventory keeps it apart from the manufacturer", "LTS"),
    Field("model", "str", "model / model number", "DS-2CD2143G2-I"),
    Field("firmware", "str", "firmware / software version", "V5.7.3 build 220112"),
    Field("serial", "str", "serial number", "DS-2CD2143G2-I20210315AAWRG12345678"),
    Field("name", "str", "the device's name or host name in the inventory", "lobby-dome"),
    Field("device_type", "str", "the kind of device the inventory records (camera, NVR, encoder…)", "Camera"),
), note="Rows of an inventory imported with `camaudit classify` (docs/inventory-import.md); not a network probe.")

MAX_BYTES = 16 * 1024 * 1024
MAX_ROWS = 100_000
_MAX_CELL = 1024

COLUMNS: dict[str, tuple[str, ...]] = {
    "ip": ("ip", "ipaddress", "ipv4", "ipv4address", "ipaddr", "address", "hostaddress", "deviceip", "cameraip",
           "networkaddress", "deviceaddress", "cameraaddress", "ipaddressv4", "hostip"),
    "mac": ("mac", "macaddress", "macaddr", "hwaddress", "hwaddr", "hardwareaddress", "physicaladdress",
            "ethernetaddress", "devicemac", "cameramac"),
    "manufacturer": ("manufacturer", "make", "vendor", "maker", "mfr", "mfg", "manufacturername", "vendorname",
                     "devicemanufacturer", "cameramanufacturer", "devicevendor", "hardwaremanufacturer"),
    "brand": ("brand", "brandname"),
    "model": ("model", "modelnumber", "modelno", "modelname", "devicemodel", "cameramodel", "productmodel",
              "product", "productname", "hardwaremodel", "partnumber"),
    "firmware": ("firmware", "firmwareversion", "fw", "fwversion", "firmwarerevision", "softwareversion",
                 "software", "version", "swversion", "firmwarebuild"),
    "serial": ("serial", "serialnumber", "serialno", "sn", "serialnum", "deviceserial", "serialnr"),
    "name": ("name", "devicename", "cameraname", "hostname", "displayname", "friendlyname"),
    "device_type": ("devicetype", "type", "class", "deviceclass", "category", "kind", "assettype", "devicekind",
                    "hardwaretype"),
}
"""Each field and the (normalised) column names that mean it; ``ip`` is required."""

IDENTIFYING = ("mac", "manufacturer", "brand", "model", "firmware", "serial", "name", "device_type")
_LIST_KEYS = ("devices", "cameras", "hardware", "assets", "items", "rows", "data", "inventory", "results")


def column_key(header: str) -> str:
    """A header as matched: lower case, letters and digits only (``Serial No.`` → ``serialno``)."""
    return re.sub(r"[^0-9a-z]", "", header.casefold())


@dataclass(frozen=True)
class Inventory:
    """One imported file: its rows as observations and what was read from it."""

    path: str
    sha256: str
    format: str
    """``csv`` or ``json``."""
    columns: dict[str, tuple[str, ...]]
    """field → the file's columns that held it (several where rows of a JSON file name it differently;
    a row takes the first of them that it fills)."""
    ignored: tuple[str, ...]
    """Columns no field matched (kept out of the observations)."""
    observations: tuple[Observation, ...] = field(default_factory=tuple)

    def source(self) -> dict[str, Any]:
        """What the store keeps about the file (``scans.source``)."""
        return {"path": self.path, "sha256": self.sha256, "format": self.format, "rows": len(self.observations),
                "columns": {f: list(c) for f, c in self.columns.items()}, "ignored": list(self.ignored)}


# ---------------------------------------------------------------- reading


def _read(path: Path) -> bytes:
    """The file's bytes (opfile: a regular file only, size checked before reading, a FIFO never blocks)."""
    return opfile.read_bytes(path, "inventory", MAX_BYTES)


def _decode(data: bytes, path: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise OperatorError("UTF-16 text: save the export as UTF-8 (CSV UTF-8 in spreadsheet programs)", path)
    return opfile.decode(data, path, "utf-8-sig")


def _format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    return "json" if text.lstrip()[:1] in ("[", "{") else "csv"


def _csv_records(text: str, path: str) -> Iterator[tuple[int, int | None, dict[str, str]]]:
    """(row number, line, {header: cell}) of each non-empty data row."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    try:
        dialect: Any = csv.Sniffer().sniff(first, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header: list[str] | None = None
    number = 0
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                if len(set(header)) != len(header):
                    dup = next(h for h in header if header.count(h) > 1)
                    raise OperatorError(f"the header names column {dup!r} twice", path, reader.line_num)
                continue
            number += 1
            if len(cells) > len(header):
                raise OperatorError(f"row {number}: {len(cells)} cells, but the header names {len(header)} columns",
                                    path, reader.line_num)
            yield number, reader.line_num, dict(zip(header, cells, strict=False))
    except csv.Error as exc:
        raise OperatorError(f"malformed CSV: {exc}", path, reader.line_num) from None
    if header is None:
        raise OperatorError("empty: no header row and no rows", path)


def _json_records(text: str, path: str) -> Iterator[tuple[int, int | None, dict[str, str]]]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise OperatorError(f"not valid JSON: {str(exc)[:120]}", path) from None
    rows = doc
    if isinstance(doc, dict):
        lists = {k: v for k, v in doc.items() if isinstance(v, list)}
        named = [k for k in lists if k.casefold() in _LIST_KEYS]
        if len(named) == 1 or len(lists) == 1:
            rows = lists[named[0] if named else next(iter(lists))]
        else:
            raise OperatorError("a JSON inventory is a list of objects, or an object holding one such list "
                                f"(e.g. {{\"devices\": [...]}}); found keys {sorted(doc)[:8]}", path)
    if not isinstance(rows, list):
        raise OperatorError("a JSON inventory is a list of objects (one per device)", path)
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise OperatorError(f"row {number}: not an object", path)
        cells: dict[str, str] = {}
        for key, value in row.items():
            if isinstance(value, dict | list):
                raise OperatorError(f"row {number}: column {str(key)[:40]!r} holds a nested value", path)
            cells[str(key)] = "" if value is None else str(value)
        yield number, None, cells


def _match_columns(headers: Iterable[str], path: str,
                   line: int | None) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """field → columns, and the columns no field matched."""
    found: dict[str, tuple[str, ...]] = {}
    ignored: list[str] = []
    for header in headers:
        key = column_key(header)
        fld = next((f for f, names in COLUMNS.items() if key in names), None)
        if fld is None:
            ignored.append(header)
        else:
            found[fld] = (*found.get(fld, ()), header)
    if "ip" not in found:
        if not set(found) & set(IDENTIFYING):
            raise OperatorError("no recognisable columns: expected a header row naming at least an IP address "
                                "column (e.g. 'IP Address') and what is known of each device ('MAC', "
                                "'Manufacturer', 'Model', 'Firmware Version', 'Serial No.'; docs/inventory-import.md)",
                                path, line)
        raise OperatorError("no IP address column (one of: 'IP', 'IP Address', 'Address', 'IPv4'; every device "
                            "needs its address: join a switch's MAC table with its ARP table)", path, line)
    if not set(found) & set(IDENTIFYING):
        raise OperatorError("only an IP address column: nothing to identify the devices by (add 'MAC', "
                            "'Manufacturer', 'Model' or 'Serial No.')", path, line)
    return found, tuple(ignored)


def _row_fields(number: int, cells: dict[str, str], columns: dict[str, tuple[str, ...]], path: str,
                line: int | None) -> tuple[str, dict[str, Any]]:
    def fail(message: str) -> OperatorError:
        return OperatorError(f"row {number}: {message}", path, line)

    values = {fld: next((v for col in cols if (v := clean_text(cells.get(col, ""), _MAX_CELL))), "")
              for fld, cols in columns.items()}
    ip_text = values.pop("ip", "")
    if not ip_text:
        raise fail("no IP address")
    try:
        ip = ipaddress.ip_address(ip_text.split("%")[0])
    except ValueError:
        raise fail(f"bad IP address {ip_text[:60]!r}") from None
    if ip.version != 4:
        raise fail(f"IPv6 address {ip_text[:60]!r}: camaudit inventories IPv4 devices")
    if ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        raise fail(f"{ip} is not a device's address")
    fields: dict[str, Any] = {"row": number}
    mac_text = values.pop("mac", "")
    if mac_text:
        mac = normalise_mac(mac_text)
        if mac is None:
            raise fail(f"bad MAC address {mac_text[:60]!r}")
        fields["mac"] = mac
    fields.update({k: clean_text(v) for k, v in values.items() if v and clean_text(v)})
    return str(ip), fields


def read_inventory(path: str | Path, seen_at: float | None = None) -> Inventory:
    """The observations an inventory file implies, one per row; ``OperatorError`` (file and row) for
    anything the file gets wrong: unreadable, not a regular file, too large, not UTF-8, no recognisable
    columns, a bad IP or MAC, a row repeated or an address listed twice, more than MAX_ROWS rows."""
    p = Path(path)
    where = str(p)
    data = _read(p)
    text = _decode(data, where)
    fmt = _format(p, text)
    records = list(_json_records(text, where) if fmt == "json" else _csv_records(text, where))
    if len(records) > MAX_ROWS:
        raise OperatorError(f"{len(records)} rows: more than the {MAX_ROWS} an inventory may hold", where)
    if not records:
        raise OperatorError("no device rows", where)
    headers = dict.fromkeys(h for _, _, cells in records for h in cells)
    columns, ignored = _match_columns(headers, where, 1 if fmt == "csv" else None)
    stamp = time.time() if seen_at is None else seen_at
    observations: list[Observation] = []
    by_ip: dict[str, int] = {}
    by_content: dict[tuple[tuple[str, Any], ...], int] = {}
    for number, line, cells in records:
        ip, fields = _row_fields(number, cells, columns, where, line)
        content = tuple(sorted((k, v) for k, v in fields.items() if k != "row")) + (("ip", ip),)
        if content in by_content:
            raise OperatorError(f"row {number}: duplicate of row {by_content[content]}", where, line)
        if ip in by_ip:
            raise OperatorError(f"row {number}: address {ip} is already row {by_ip[ip]} (one row per device)",
                                where, line)
        by_content[content] = by_ip[ip] = number
        observations.append(Observation(ip=ip, probe=SOURCE, fields=fields, raw=_raw(cells), seen_at=stamp))
    return Inventory(path=str(p.resolve()), sha256=hashlib.sha256(data).hexdigest(), format=fmt, columns=columns,
                     ignored=ignored, observations=tuple(observations))


def _raw(cells: dict[str, str]) -> str:
    return clean_text("; ".join(f"{k}={v}" for k, v in cells.items() if v), 2048)
