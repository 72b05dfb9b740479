"""``Store``: the SQLite inventory of every scan (sqlite-utils, WAL, foreign keys).

Writing: ``begin_scan`` takes the writer lock (``<db>.lock``) and holds it until
``finish_scan``; every ``add_*`` call commits on its own (observations in small
batches), so a run killed at any moment keeps what it recorded. Scans a dead run
left 'running' are marked 'interrupted' by the next writer, or by
``recover_interrupted`` when no writer is live.

Reading needs no lock: WAL lets readers see the last committed state while a scan
is being written.
"""

from __future__ import annotations

import functools
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database

from .. import document as doc
from ..diff import diff_entries
from ..errors import OperatorError
from ..mac import normalise_mac
from ..models import SEVERITIES, Device, Finding, Host, Observation
from ..ordering import sort_findings
from . import rows
from .lock import WriterLock
from .schema import migrate
from .tx import immediate

OBSERVATION_BATCH = 200
"""Observations committed per transaction: small enough that a kill loses little."""

FINAL_STATUSES = ("complete", "interrupted", "failed")

P = ParamSpec("P")
R = TypeVar("R")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _serialised(method: Callable[P, R]) -> Callable[P, R]:
    """Run a Store method under the store's thread lock (one connection, many threads)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        with self._mu:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class Store:
    """The camaudit database at ``path``; created and migrated on open."""

    def __init__(self, path: str | Path, lock_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.label = str(path)
        self.lock_timeout = lock_timeout
        self._mu = threading.RLock()
        self._lock = WriterLock(Path(f"{self.path}.lock"), self.label, lock_timeout)
        self._active_scan: int | None = None
        try:
            conn = sqlite3.connect(str(self.path), timeout=max(lock_timeout, 1.0), check_same_thread=False)
        except sqlite3.Error as exc:
            raise OperatorError(f"cannot open database: {exc}", path=self.label) from exc
        try:
            self.db = Database(conn, execute_plugins=False)
            self.db.execute(f"PRAGMA busy_timeout = {int(max(lock_timeout, 1.0) * 1000)}")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.schema_migrated_from, self.schema_version = migrate(self.db, self.label)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise OperatorError(f"cannot use database: {exc}", path=self.label) from exc
        except BaseException:
            conn.close()
            raise

    # ---- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        with self._mu:
            self._lock.release()
            self._active_scan = None
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writer lock for the block: the scan's lock if held, else a brief one."""
        if self._lock.held:
            yield
            return
        self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    # ---- writing a scan ---------------------------------------------------------------------

    @_serialised
    def begin_scan(self, meta: Mapping[str, Any]) -> int:
        """Take the writer lock (waiting up to ``lock_timeout``), mark scans left running by
        dead runs interrupted, and record a new running scan. Returns its id.

        ``meta`` keys: targets, excludes, interface, probes, rules ([(path, sha256)] or
        [{"path", "sha256"}]), site, operator, host, tool_version, kb_version, and
        optionally started_at (unix time; default now).
        """
        if self._active_scan is not None:
            raise RuntimeError(f"scan {self._active_scan} is still running in this store")
        self._lock.acquire()
        try:
            row = rows.scan_meta_row(meta)
            row.update(status="running", started_at=float(meta.get("started_at") or time.time()),
                       stats="{}", pid=os.getpid(), boot_id=_boot_id(), owner_host=socket.gethostname())
            with immediate(self.db):
                self._mark_interrupted()
                pk = self.db.table("scans").insert(row).last_pk
                assert pk is not None
                scan_id = int(pk)
        except BaseException:
            self._lock.release()
            raise
        self._active_scan = scan_id
        return scan_id

    def _mark_interrupted(self) -> list[int]:
        """Within a transaction, holding the writer lock: every 'running' scan but ours
        belongs to a process that is gone (a live writer would hold the lock)."""
        stale = [r["id"] for r in self.db.query(
            "SELECT id FROM scans WHERE status = 'running' AND id != ?", [self._active_scan or -1])]
        for scan_id in stale:
            self.db.execute(
                """UPDATE scans SET status = 'interrupted',
                       finished_at = COALESCE((SELECT MAX(seen_at) FROM observations o
                                               WHERE o.scan_id = scans.id), started_at),
                       stats = json_set(stats, '$.interrupted', 'the run recording it ended without finishing')
                   WHERE id = ?""", [scan_id])
        return stale

    @_serialised
    def recover_interrupted(self) -> list[int]:
        """If no writer is live right now, mark scans left 'running' interrupted; return their ids."""
        if self._lock.held:
            with immediate(self.db):
                return self._mark_interrupted()
        try:
            if not self._lock.try_acquire():
                return []
        except OperatorError:  # e.g. a read-only directory: nobody can be writing there either
            return []
        try:
            with immediate(self.db):
                return self._mark_interrupted()
        finally:
            self._lock.release()

    def _require_running(self, scan_id: int) -> None:
        status = self._scan_row(scan_id)["status"]
        if status != "running":
            raise ValueError(f"scan {scan_id} is {status}; only a running scan takes new data")

    @_serialised
    def add_observations(self, scan_id: int, observations: Iterable[Observation]) -> int:
        """Append observations, committing every ``OBSERVATION_BATCH``; returns how many."""
        count = 0
        with self._writing():
            self._require_running(scan_id)
            batch: list[dict[str, Any]] = []
            for obs in observations:
                batch.append(rows.observation_row(scan_id, obs))
                if len(batch) >= OBSERVATION_BATCH:
                    count += self._insert("observations", batch)
                    batch = []
            if batch:
                count += self._insert("observations", batch)
        return count

    def _insert(self, table: str, batch: list[dict[str, Any]]) -> int:
        with immediate(self.db):
            self.db.table(table).insert_all(batch)
        return len(batch)

    @_serialised
    def add_devices(self, scan_id: int, devices: list[Device],
                    facts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
        """Record the scan's devices with their identities (``facts`` keyed by Host.key).

        Each device is matched to a stable identity across scans: its key (MAC, else
        serial, else ONVIF endpoint, else IP); failing that, a known device with the same
        MAC, serial or endpoint (so a camera seen by MAC once and only by serial later
        stays one device). Returns Host.key → stable device key.
        """
        with self._writing():
            self._require_running(scan_id)
            with immediate(self.db):
                return self._write_devices(scan_id, devices, facts or {})

    def _write_devices(self, scan_id: int, devices: list[Device],
                       facts: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
        started = self._scan_row(scan_id)["started_at"]
        claimed = {r["device_key"] for r in self.db.query(
            "SELECT device_key FROM scan_devices WHERE scan_id = ?", [scan_id])}
        # Known identities that devices of this batch own outright: a fallback match (same
        # serial or ONVIF endpoint, e.g. a cloned urn:uuid) must not take one of them away.
        owned = {d.key for d in devices
                 if self.db.execute("SELECT 1 FROM devices WHERE key = ?", [d.key]).fetchone()}
        mapping: dict[str, str] = {}
        for device in devices:
            replaced = list(self.db.query(
                "SELECT device_key FROM scan_devices WHERE scan_id = ? AND host_key = ?", [scan_id, device.key]))
            for r in replaced:
                claimed.discard(r["device_key"])
                self.db.execute("DELETE FROM scan_devices WHERE scan_id = ? AND device_key = ?",
                                [scan_id, r["device_key"]])
            key = self._resolve_key(device, claimed | (owned - {device.key}))
            if key in claimed:
                raise ValueError(f"two devices in scan {scan_id} resolve to the same identity {key}")
            claimed.add(key)
            mapping[device.key] = key
            self._upsert_identity(key, device, scan_id, rows.seen_at(device, started))
            self.db.table("scan_devices").insert(rows.scan_device_row(scan_id, key, device, facts.get(device.key)))
        return mapping

    def _resolve_key(self, device: Device, claimed: set[str]) -> str:
        if self.db.execute("SELECT 1 FROM devices WHERE key = ?", [device.key]).fetchone():
            return device.key
        mac = normalise_mac(device.mac)
        for column, value in (("mac", mac), ("serial", device.identity.serial),
                              ("endpoint", rows.endpoint_of(device))):
            if not value:
                continue
            for r in self.db.query(
                    f"SELECT key, mac FROM devices WHERE {column} = ? ORDER BY last_seen DESC", [value]):
                if r["key"] in claimed or (mac and r["mac"] and r["mac"] != mac):
                    continue
                return str(r["key"])
        return device.key

    def _upsert_identity(self, key: str, device: Device, scan_id: int, seen: float) -> None:
        mac, serial, endpoint = normalise_mac(device.mac), device.identity.serial, rows.endpoint_of(device)
        if self.db.execute("SELECT 1 FROM devices WHERE key = ?", [key]).fetchone():
            self.db.execute(
                """UPDATE devices SET mac = COALESCE(mac, ?), serial = COALESCE(serial, ?),
                       endpoint = COALESCE(endpoint, ?),
                       first_scan = MIN(first_scan, ?), last_scan = MAX(last_scan, ?),
                       first_seen = MIN(first_seen, ?), last_seen = MAX(last_seen, ?)
                   WHERE key = ?""", [mac, serial, endpoint, scan_id, scan_id, seen, seen, key])
        else:
            self.db.table("devices").insert({"key": key, "mac": mac, "serial": serial, "endpoint": endpoint,
                                       "first_scan": scan_id, "last_scan": scan_id,
                                       "first_seen": seen, "last_seen": seen})

    def _device_keys(self, scan_id: int) -> dict[str, str]:
        return {r["host_key"]: r["device_key"] for r in self.db.query(
            "SELECT host_key, device_key FROM scan_devices WHERE scan_id = ?", [scan_id])}

    @_serialised
    def add_findings(self, scan_id: int, findings: list[Finding]) -> None:
        """Record policy findings; their Host.key is mapped to the stable device key."""
        with self._writing(), immediate(self.db):
            self._require_running(scan_id)
            self._write_findings(scan_id, findings)

    def _write_findings(self, scan_id: int, findings: list[Finding]) -> None:
        """Insert findings (inside the caller's transaction); Host.key → stable device key."""
        keys = self._device_keys(scan_id)
        batch = [rows.finding_row(scan_id, f, keys.get(f.device_key, f.device_key)) for f in findings]
        if batch:
            self.db.table("findings").insert_all(batch)

    @_serialised
    def add_waivers(self, scan_id: int, waivers_with_state: Iterable[Any]) -> None:
        """Record the waivers in force for this scan: policy's WaiverStatus records, or dicts
        with the Waiver fields plus ``state`` (active|expiring|expired), ``matched`` (bool)
        and optionally ``source`` (file:line)."""
        with self._writing():
            self._require_running(scan_id)
            batch = [rows.waiver_row(scan_id, w) for w in waivers_with_state]
            if batch:
                self._insert("waivers", batch)

    @_serialised
    def finish_scan(self, scan_id: int, status: str, stats: Mapping[str, Any] | None = None) -> None:
        """Close the scan as complete, interrupted or failed, and release the writer lock."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"finish status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        try:
            with self._writing(), immediate(self.db):
                self._require_running(scan_id)
                self.db.execute("UPDATE scans SET status = ?, finished_at = ?, stats = ? WHERE id = ?",
                                [status, time.time(), rows.dumps(dict(stats or {})), scan_id])
        finally:
            if scan_id == self._active_scan:
                self._active_scan = None
                self._lock.release()

    # ---- re-identification ------------------------------------------------------------------

    @_serialised
    def rewrite_identification(self, scan_id: int, devices: list[Device],
                               facts: Mapping[str, Mapping[str, Any]] | None = None,
                               findings: list[Finding] | None = None) -> dict[str, str]:
        """Replace a (possibly finished) scan's devices and, given ``findings``, its findings.

        What ``camaudit identify`` writes after re-running identification on
        ``hosts(scan_id)`` with a newer knowledge base. One transaction: a crash half-way
        leaves the scan as it was, never with new devices and no findings. Observations
        are kept. Returns Host.key → stable device key.
        """
        self._scan_row(scan_id)
        with self._writing(), immediate(self.db):
            self.db.execute("DELETE FROM scan_devices WHERE scan_id = ?", [scan_id])
            mapping = self._write_devices(scan_id, devices, facts or {})
            if findings is not None:
                self.db.execute("DELETE FROM findings WHERE scan_id = ?", [scan_id])
                self._write_findings(scan_id, findings)
        return mapping

    @_serialised
    def prune(self, keep_last: int) -> int:
        """Retention: delete every scan older than the newest ``keep_last`` with all its data;
        devices seen only in deleted scans go too. Never deleted: a running scan, and the
        newest ``keep_last`` complete scans (the baseline the next diff and report compare
        with, which a run of failed or interrupted scans must not push out). Returns how
        many scans were deleted."""
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        with self._writing(), immediate(self.db):
            doomed = [r["id"] for r in self.db.query(
                """SELECT id FROM scans WHERE status != 'running'
                   AND id NOT IN (SELECT id FROM scans ORDER BY id DESC LIMIT ?)
                   AND id NOT IN (SELECT id FROM scans WHERE status = 'complete' ORDER BY id DESC LIMIT ?)""",
                [keep_last, keep_last])]
            if not doomed:
                return 0
            marks = ",".join("?" * len(doomed))
            for table in ("observations", "scan_devices", "findings", "waivers"):
                self.db.execute(f"DELETE FROM {table} WHERE scan_id IN ({marks})", doomed)
            self.db.execute("DELETE FROM devices WHERE key NOT IN (SELECT device_key FROM scan_devices)")
            self.db.execute(
                """UPDATE devices SET
                       first_scan = (SELECT MIN(scan_id) FROM scan_devices WHERE device_key = devices.key),
                       last_scan = (SELECT MAX(scan_id) FROM scan_devices WHERE device_key = devices.key)""")
            self.db.execute(f"DELETE FROM scans WHERE id IN ({marks})", doomed)
        return len(doomed)

    # ---- report files (retention) -----------------------------------------------------------

    @_serialised
    def record_report_files(self, scan_id: int, config: str, files: Iterable[tuple[str, Path]]) -> None:
        """Remember the report files an audit config wrote (path, size, mtime), for retention."""
        batch = []
        for fmt, path in files:
            try:
                st = Path(path).stat()
            except OSError:
                continue  # gone already: nothing to keep track of
            batch.append({"scan_id": scan_id, "config": config, "format": fmt, "path": str(Path(path).resolve()),
                          "size": st.st_size, "mtime_ns": st.st_mtime_ns, "written_at": time.time()})
        if batch:
            with self._writing():
                self._insert("report_files", batch)

    @_serialised
    def report_files(self, config: str) -> list[dict[str, Any]]:
        """The recorded report files of ``config``, newest first."""
        return list(self.db.query("SELECT * FROM report_files WHERE config = ? ORDER BY id DESC", [config]))

    @_serialised
    def forget_report_files(self, ids: Iterable[int]) -> None:
        doomed = list(ids)
        if not doomed:
            return
        with self._writing(), immediate(self.db):
            self.db.execute(f"DELETE FROM report_files WHERE id IN ({','.join('?' * len(doomed))})", doomed)

    # ---- queries ----------------------------------------------------------------------------

    def _scan_row(self, scan_id: int) -> dict[str, Any]:
        found = list(self.db.query("SELECT * FROM scans WHERE id = ?", [scan_id]))
        if not found:
            raise OperatorError(f"no scan {scan_id} in this database (see 'camaudit scans')", path=self.label)
        return found[0]

    @_serialised
    def scan(self, scan_id: int) -> dict[str, Any]:
        """The document's ``scan`` section for one scan."""
        return doc.scan_entry(self._scan_row(scan_id))

    @_serialised
    def list_scans(self) -> list[dict[str, Any]]:
        """Every scan, oldest first: the ``scan`` section plus ``devices`` (count),
        ``findings`` ({severity: count of unwaived}) and ``waived`` (count)."""
        device_counts = {r["scan_id"]: r["n"] for r in self.db.query(
            "SELECT scan_id, COUNT(*) AS n FROM scan_devices GROUP BY scan_id")}
        sev: dict[int, dict[str, int]] = {}
        waived: dict[int, int] = {}
        for r in self.db.query(
                """SELECT scan_id, severity, COALESCE(waiver_state IN ('active', 'expiring'), 0) AS waived,
                          COUNT(*) AS n FROM findings GROUP BY scan_id, severity, 3"""):
            if r["waived"]:
                waived[r["scan_id"]] = waived.get(r["scan_id"], 0) + r["n"]
            else:
                sev.setdefault(r["scan_id"], {})[r["severity"]] = r["n"]
        out = []
        for row in self.db.query("SELECT * FROM scans ORDER BY id"):
            entry = doc.scan_entry(row)
            counts = sev.get(row["id"], {})
            entry.update(devices=device_counts.get(row["id"], 0),
                         findings={s: counts.get(s, 0) for s in SEVERITIES},
                         waived=waived.get(row["id"], 0))
            out.append(entry)
        return out

    @_serialised
    def last_complete_scans(self, n: int) -> list[int]:
        """Ids of the last ``n`` complete scans, oldest first."""
        found = [r["id"] for r in self.db.query(
            "SELECT id FROM scans WHERE status = 'complete' ORDER BY id DESC LIMIT ?", [n])]
        return sorted(found)

    @_serialised
    def latest_scan(self, complete_only: bool = False) -> int | None:
        """The newest (complete, if asked) scan's id; None when there is none."""
        where = "WHERE status = 'complete'" if complete_only else ""
        r = self.db.execute(f"SELECT MAX(id) FROM scans {where}").fetchone()
        return None if r[0] is None else int(r[0])

    @_serialised
    def previous_complete_scan(self, scan_id: int) -> int | None:
        r = self.db.execute("SELECT MAX(id) FROM scans WHERE status = 'complete' AND id < ?",
                            [scan_id]).fetchone()
        return None if r[0] is None else int(r[0])

    def _default_scan(self) -> int | None:
        return self.latest_scan(complete_only=True) or self.latest_scan()

    def _device_rows(self, scan_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            """SELECT sd.*, d.first_scan, d.first_seen FROM scan_devices sd
               JOIN devices d ON d.key = sd.device_key WHERE sd.scan_id = ?""", [scan_id]))

    def _finding_rows(self, scan_id: int) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM findings WHERE scan_id = ? ORDER BY id", [scan_id]))

    def _entries(self, scan_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return doc.entries(self._device_rows(scan_id), self._finding_rows(scan_id))

    @_serialised
    def devices(self, scan_id: int | None = None, covered: bool | None = None,
                maker: str | None = None) -> list[dict[str, Any]]:
        """One scan's devices as document entries (default: the latest complete scan, else
        the latest). ``covered`` filters on the covered flag; ``maker`` keeps devices whose
        maker or brand contains it (case-insensitive)."""
        if scan_id is None:
            scan_id = self._default_scan()
            if scan_id is None:
                return []
        else:
            self._scan_row(scan_id)
        found, _ = self._entries(scan_id)
        if covered is not None:
            found = [d for d in found if d["covered"] is covered]
        if maker:
            needle = maker.casefold()
            found = [d for d in found
                     if any(needle in (d.get(k) or "").casefold() for k in ("maker", "brand"))]
        return found

    @_serialised
    def findings(self, scan_id: int) -> list[dict[str, Any]]:
        """One scan's findings as document entries, sorted by severity, rule, IP."""
        self._scan_row(scan_id)
        return sort_findings([doc.finding_entry(r) for r in self._finding_rows(scan_id)])

    @_serialised
    def diff(self, a: int, b: int) -> dict[str, Any]:
        """Changes from scan ``a`` to scan ``b``: new/gone/changed devices, new/resolved findings."""
        self._scan_row(a)
        self._scan_row(b)
        old_devices, old_findings = self._entries(a)
        new_devices, new_findings = self._entries(b)
        return {"from_scan": a, "to_scan": b,
                **diff_entries(old_devices, old_findings, new_devices, new_findings)}

    @_serialised
    def scan_document(self, scan_id: int, generated_at: float | None = None) -> dict[str, Any]:
        """The schema-v1 JSON document for one scan, ``changes`` vs the previous complete scan."""
        scan_row = self._scan_row(scan_id)
        previous = self.previous_complete_scan(scan_id)
        changes = None
        if previous is not None:
            changes = {"previous_scan_id": previous, **{k: v for k, v in self.diff(previous, scan_id).items()
                                                        if k not in ("from_scan", "to_scan")}}
        return doc.build_document(
            scan_row, self._device_rows(scan_id), self._finding_rows(scan_id),
            self.db.query("SELECT * FROM waivers WHERE scan_id = ? ORDER BY id", [scan_id]),
            self.db.query("SELECT ip, probe, warning FROM observations WHERE scan_id = ? AND warning IS NOT NULL",
                          [scan_id]),
            changes, generated_at)

    @_serialised
    def observations(self, scan_id: int) -> list[Observation]:
        """Every observation recorded for the scan, in recording order."""
        self._scan_row(scan_id)
        return [rows.row_observation(r) for r in self.db.query(
            "SELECT * FROM observations WHERE scan_id = ? ORDER BY id", [scan_id])]

    @_serialised
    def hosts(self, scan_id: int) -> list[Host]:
        """The scan's devices as Hosts again (key, addresses, their observations), for
        re-identification. A scan that ended before its devices were recorded has none:
        assemble ``observations(scan_id)`` instead."""
        by_ip: dict[str, list[tuple[int, Observation]]] = {}
        for n, obs in enumerate(self.observations(scan_id)):
            by_ip.setdefault(obs.ip, []).append((n, obs))
        out = []
        for r in self.db.query("SELECT * FROM scan_devices WHERE scan_id = ? ORDER BY rowid", [scan_id]):
            ips = tuple(rows.loads(r["ips"], [r["ip"]]))
            mine = sorted(item for ip in dict.fromkeys((*ips, r["ip"])) for item in by_ip.get(ip, []))
            out.append(Host(key=r["host_key"], ip=r["ip"], mac=r["mac"], ips=ips,
                            observations=tuple(obs for _, obs in mine)))
        return out

    @_serialised
    def load_devices(self, scan_id: int) -> list[Device]:
        """The scan's devices as recorded (hosts with their stored identities)."""
        identities = {r["host_key"]: rows.row_identity(r) for r in self.db.query(
            "SELECT * FROM scan_devices WHERE scan_id = ?", [scan_id])}
        return [Device(host=h, identity=identities[h.key]) for h in self.hosts(scan_id)]

    @_serialised
    def facts(self, scan_id: int) -> dict[str, dict[str, Any]]:
        """Stored policy facts per Host.key."""
        return {r["host_key"]: rows.loads(r["facts"], {}) for r in self.db.query(
            "SELECT host_key, facts FROM scan_devices WHERE scan_id = ?", [scan_id])}
