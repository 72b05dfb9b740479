"""Writing a scan's devices as history: identities per site, states stored once, one row per sighting.

Tables (schema v6, see schema.py):

- ``devices``: one row per device *per site* (``UNIQUE(site, key)``): overlapping private
  address ranges at two sites never merge devices.
- ``device_states``: what a device looked like (identity, facts, warnings), stored again only
  when it differs (``states.state_digest``); ``state_findings``: that state's findings.
- ``scan_devices``: which devices a scan saw and in which state (three integers per sighting).

Every function here runs inside the caller's write transaction; nothing commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from ..models import SEVERITIES
from .states import DeviceRecord, finding_columns

SUMMARY_COLUMNS: tuple[str, ...] = (
    "device_count", "camera_count", "recorder_count", "covered_count", "unknown_maker_count",
    *(f"open_{s}" for s in SEVERITIES), "waived_count",
)
"""Per-scan counts kept on the scans row, so lists, trends and the estate never re-count sightings."""


def inserted_id(cursor: Any) -> int:
    """The rowid an INSERT just made."""
    rowid = cursor.lastrowid
    assert rowid is not None
    return int(rowid)


class SiteDevices:
    """The devices of one site, loaded once per scan write: key → id and the fallback
    matches (MAC, serial, ONVIF endpoint) that keep a device one device when its key changes."""

    def __init__(self, db: Database, site: str) -> None:
        self.db, self.site = db, site
        self.by_key: dict[str, int] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self._by: dict[str, dict[str, list[int]]] = {"mac": {}, "serial": {}, "endpoint": {}}
        for r in db.query("SELECT id, key, mac, serial, endpoint, first_scan, last_scan, first_seen, last_seen "
                          "FROM devices WHERE site = ?", [site]):
            self._remember(dict(r))

    def _remember(self, row: dict[str, Any]) -> None:
        self.by_key[row["key"]] = row["id"]
        self.rows[row["id"]] = row
        for column, index in self._by.items():
            if row[column]:
                index.setdefault(row[column], []).append(row["id"])

    def resolve(self, record: DeviceRecord, claimed: set[int]) -> int | None:
        """The known device this record is: same key; failing that, same MAC, serial or
        endpoint (most recently seen first), never one another record of the scan claimed,
        never one whose MAC differs."""
        known = self.by_key.get(record.host_key)
        if known is not None:
            return known
        for column, value in (("mac", record.mac), ("serial", record.serial), ("endpoint", record.endpoint)):
            if not value:
                continue
            candidates = sorted((self.rows[i] for i in self._by[column].get(value, ())),
                                key=lambda r: r["last_seen"], reverse=True)
            for r in candidates:
                if r["id"] in claimed or (record.mac and r["mac"] and r["mac"] != record.mac):
                    continue
                return int(r["id"])
        return None if record.mac else self._same_address(record, claimed)

    def _same_address(self, record: DeviceRecord, claimed: set[int]) -> int | None:
        """A device without a MAC (a routed one) known at the same address, when only one of the
        two sightings had more than the address to go by: the ONVIF endpoint or serial a busy
        scan did not hear is no reason to call the same camera gone and a new one found. (Two
        different endpoints at one address stay two devices: the endpoint match above failed.)"""
        ip = record.values.get("ip")
        if not ip:
            return None
        if record.endpoint or record.serial:  # it knows more now; the old one knew only its address
            known = self.by_key.get(f"ip:{ip}")
            if known is None or known in claimed:
                return None
            row = self.rows[known]
            return None if row["mac"] or row["serial"] or row["endpoint"] else known
        # only the address now: the device last seen there without a MAC
        found = self.db.execute(
            """SELECT d.id FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id
               JOIN devices d ON d.id = sd.device_id JOIN scans s ON s.id = sd.scan_id
               WHERE d.site = ? AND st.ip = ? AND d.mac IS NULL
               ORDER BY s.started_at DESC, s.id DESC LIMIT 1""", [self.site, ip]).fetchone()
        return None if found is None or found[0] in claimed else int(found[0])

    def upsert(self, device_id: int | None, key: str, record: DeviceRecord, scan_id: int,
               scan_started: float) -> int:
        """Create the device or widen its first/last sighting; returns its id. Sightings are
        ordered by time (a document imported late may be older than what is stored)."""
        if device_id is None:
            device_id = inserted_id(self.db.execute(
                "INSERT INTO devices (site, key, mac, serial, endpoint, first_scan, last_scan, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.site, key, record.mac, record.serial, record.endpoint, scan_id, scan_id, record.seen,
                 record.seen]))
            self._remember({"id": device_id, "key": key, "mac": record.mac, "serial": record.serial,
                            "endpoint": record.endpoint, "first_scan": scan_id, "last_scan": scan_id,
                            "first_seen": record.seen, "last_seen": record.seen})
            return device_id
        row = self.rows[device_id]
        changed = False
        for column in ("mac", "serial", "endpoint"):
            value = getattr(record, column)
            if row[column] is None and value:
                row[column], changed = value, True
                self._by[column].setdefault(value, []).append(device_id)
        if record.seen < row["first_seen"]:
            row["first_seen"], row["first_scan"], changed = record.seen, scan_id, True
        if record.seen >= row["last_seen"]:
            changed = changed or row["last_scan"] != scan_id or record.seen != row["last_seen"]
            row["last_seen"], row["last_scan"] = record.seen, scan_id
        if changed:
            self.db.execute("UPDATE devices SET mac = ?, serial = ?, endpoint = ?, first_scan = ?, last_scan = ?, "
                            "first_seen = ?, last_seen = ? WHERE id = ?",
                            [row["mac"], row["serial"], row["endpoint"], row["first_scan"], row["last_scan"],
                             row["first_seen"], row["last_seen"], device_id])
        return device_id


def state_id_for(db: Database, device_id: int, record: DeviceRecord,
                 known: Mapping[tuple[int, str], int] | None = None) -> int:
    """The state with this record's digest for the device, stored now if it is new."""
    digest = record.digest()
    if known is not None and (device_id, digest) in known:
        return known[(device_id, digest)]
    found = db.execute("SELECT id FROM device_states WHERE device_id = ? AND digest = ?",
                       [device_id, digest]).fetchone()
    if found:
        return int(found[0])
    columns = {"device_id": device_id, "digest": digest, **record.columns(), "finding_count": len(record.findings)}
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    cursor = db.execute(f"INSERT INTO device_states ({names}) VALUES ({marks})", list(columns.values()))
    state_id = inserted_id(cursor)
    findings = [finding_columns(f) for f in record.findings]
    if findings:
        fnames = ("state_id", *findings[0].keys())
        db.conn.executemany(f"INSERT INTO state_findings ({', '.join(fnames)}) VALUES ({', '.join('?' * len(fnames))})",
                       [[state_id, *f.values()] for f in findings])
    return state_id


def known_states(db: Database, site: str, scan_id: int) -> dict[tuple[int, str], int]:
    """(device id, digest) → state id for the states of the site's newest other scan: what
    tonight's scan most likely repeats, found without one query per device."""
    previous = db.execute("SELECT id FROM scans WHERE site = ? AND id != ? ORDER BY started_at DESC, id DESC LIMIT 1",
                          [site, scan_id]).fetchone()
    if previous is None:
        return {}
    return {(r[0], r[1]): r[2] for r in db.execute(
        """SELECT st.device_id, st.digest, st.id FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id
           WHERE sd.scan_id = ?""", [previous[0]])}


def write_records(db: Database, scan_id: int, site: str, scan_started: float, records: Iterable[DeviceRecord],
                  keys: Mapping[str, str] | None = None) -> dict[str, str]:
    """Record the scan's sightings of ``records``; returns host key → stable device key.

    Identity: ``keys`` (host key → device key) when the caller knows them (a migration);
    else the device with the record's key at this site, else one with the same MAC, serial
    or endpoint (``SiteDevices.resolve``). Two records of one scan never share a device.
    """
    site_devices = SiteDevices(db, site)
    cache = known_states(db, site, scan_id)
    claimed = {r[0] for r in db.execute("SELECT device_id FROM scan_devices WHERE scan_id = ?", [scan_id])}
    # Recorders before the cameras behind them: a camera's ``behind`` (the recorder's key in this scan)
    # becomes the recorder's stable device key before the camera's state is stored.
    records = sorted(records, key=lambda r: r.values.get("behind") is not None)
    owned = {site_devices.by_key[r.host_key] for r in records if r.host_key in site_devices.by_key}
    mapping: dict[str, str] = {}
    sightings: list[tuple[int, int, int]] = []
    for record in records:
        if (behind := record.values.get("behind")) is not None and behind in mapping:
            record = replace(record, values={**record.values, "behind": mapping[behind]})
        if keys is not None:
            key = keys[record.host_key]
            device_id = site_devices.by_key.get(key)
        else:
            device_id = site_devices.resolve(record, claimed | (owned - {site_devices.by_key.get(record.host_key)}))
            key = record.host_key if device_id is None else site_devices.rows[device_id]["key"]
        if device_id is not None and device_id in claimed:
            raise ValueError(f"two devices in scan {scan_id} resolve to the same identity {key}")
        device_id = site_devices.upsert(device_id, key, record, scan_id, scan_started)
        claimed.add(device_id)
        state_id = state_id_for(db, device_id, record, cache)
        sightings.append((scan_id, device_id, state_id))
        mapping[record.host_key] = key
    db.conn.executemany("INSERT INTO scan_devices (scan_id, device_id, state_id) VALUES (?, ?, ?)", sightings)
    return mapping


def drop_orphan_states(db: Database, state_ids: Iterable[int]) -> int:
    """Delete those of ``state_ids`` no sighting uses any more (and their findings)."""
    dropped = 0
    for state_id in set(state_ids):
        used = db.execute("SELECT 1 FROM scan_devices sd JOIN device_states st ON st.device_id = sd.device_id "
                          "WHERE st.id = ? AND sd.state_id = ? LIMIT 1", [state_id, state_id]).fetchone()
        if not used:
            db.execute("DELETE FROM state_findings WHERE state_id = ?", [state_id])
            db.execute("DELETE FROM device_states WHERE id = ?", [state_id])
            dropped += 1
    return dropped


def refresh_summary(db: Database, scan_id: int) -> dict[str, int]:
    """Recount the scan's devices and unwaived findings onto its scans row; returns the counts."""
    r = db.execute(
        """SELECT COUNT(*), COALESCE(SUM(st.device_class = 'camera'), 0),
                  COALESCE(SUM(st.device_class = 'recorder'), 0),
                  COALESCE(SUM(st.covered), 0), COALESCE(SUM(st.maker IS NULL), 0)
           FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id WHERE sd.scan_id = ?""",
        [scan_id]).fetchone()
    counts = dict(zip(("device_count", "camera_count", "recorder_count", "covered_count", "unknown_maker_count"),
                      (int(v) for v in r), strict=True))
    counts.update({f"open_{s}": 0 for s in SEVERITIES})
    counts["waived_count"] = 0
    for severity, waived, n in db.execute(
            """SELECT f.severity, COALESCE(f.waiver_state IN ('active', 'expiring'), 0), COUNT(*)
               FROM scan_devices sd JOIN state_findings f ON f.state_id = sd.state_id
               WHERE sd.scan_id = ? GROUP BY 1, 2""", [scan_id]):
        if waived:
            counts["waived_count"] += int(n)
        elif severity in SEVERITIES:
            counts[f"open_{severity}"] = int(n)
    db.execute(f"UPDATE scans SET {', '.join(f'{k} = ?' for k in counts)} WHERE id = ?", [*counts.values(), scan_id])
    return counts
