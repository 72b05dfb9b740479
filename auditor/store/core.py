"""``Store``: the SQLite inventory of every scan of every site (sqlite-utils, WAL, foreign keys).

Writing: ``begin_scan`` takes the writer lock (``<db>.lock``) and holds it until
``finish_scan``; every ``add_*``/``record_results`` call commits on its own (observations
in small batches), so a run killed at any moment keeps what it recorded. Scans a dead run
left 'running' are marked 'interrupted' by the next writer, or by
``recover_interrupted`` when no writer is live. ``import_document`` stores another site's
scan document in one transaction. Devices are per site and their states are stored once
per change (``history.py``, ``states.py``; docs/architecture.md, The store).

Reading needs no lock: WAL lets readers see the last committed state while a scan
is being written. A store opened ``read_only`` (every history and report command) never
writes at all -- not even the WAL switch or a lock file -- so it works on a read-only file
system, a file it may not write, a full disk, and a damaged file it must not make worse.

Every failure of the file itself (damaged, full disk, read-only, locked by SQLite) leaves a
Store method as one ``StoreError`` line naming the file (``opening.store_error``). On a full
disk the writer frees the space it reserved at ``begin_scan`` (``reserve.py``) so the scan
can still be closed as failed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlite_utils import Database

from .. import document as doc
from ..completeness import Answers, previous_answers
from ..diff import diff_entries
from ..errors import OperatorError, StoreError
from ..knowledge import KevCatalog, KevCatalogEntry
from ..models import SEVERITIES, Device, Finding, Host, Observation
from ..ordering import sort_findings
from ..probes.channels import camera_key
from . import history, rows, states
from .lock import WriterLock
from .opening import (
    DiskFull,
    connect_read_only,
    connect_read_write,
    damaged,
    empty_file,
    file_state,
    store_error,
    writable,
)
from .reserve import SpaceReserve
from .schema import READABLE_FROM, identify_file, migrate
from .tx import immediate

OBSERVATION_BATCH = 200
"""Observations committed per transaction: small enough that a kill loses little."""

FINAL_STATUSES = ("complete", "degraded", "interrupted", "failed")
_INTERRUPTED_REASON = "the run recording it ended without finishing"
HISTORY_SCANS = 30
"""How many of a site's scans the document's ``history`` (the report's trend) covers."""
DEFAULT_KEEP_OBSERVATIONS = 3
"""Raw observations are kept for each site's newest this many scans (docs/architecture.md)."""

P = ParamSpec("P")
R = TypeVar("R")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _serialised(method: Callable[P, R]) -> Callable[P, R]:
    """Run a Store method under the store's thread lock (one connection, many threads); a
    failure of the file (damaged, disk full, read-only, ...) leaves it as one ``StoreError``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self: Store = args[0]  # type: ignore[assignment]
        with self._mu:
            try:
                return method(*args, **kwargs)
            except (sqlite3.DatabaseError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise self._failed(exc) from exc

    return wrapper


class Store:
    """The camaudit database at ``path``.

    A writer (the default) creates the file if needed and migrates it; ``read_only`` opens an
    existing database without writing anything (``StoreError`` if it cannot be read as it is).
    Either way the file is checked read-only first: one that is not camaudit's, or is newer,
    is refused unchanged.
    """

    def __init__(self, path: str | Path, lock_timeout: float = 10.0,
                 keep_observations: int | None = DEFAULT_KEEP_OBSERVATIONS, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.keep_observations = keep_observations
        """Raw-observation retention applied when a scan finishes (None: keep all)."""
        self.label = str(path)
        self.lock_timeout = lock_timeout
        self.read_only = read_only
        self._mu = threading.RLock()
        self._lock = WriterLock(Path(f"{self.path}.lock"), self.label, lock_timeout)
        self._reserve = SpaceReserve(Path(f"{self.path}.reserve"), self.label)
        self._active_scan: int | None = None
        self._stale: set[int] = set()
        self._prepared = False
        timeout = max(lock_timeout, 1.0)
        state = file_state(self.path, self.label)
        version = 0
        if state == "sqlite":
            conn = connect_read_only(self.path, self.label, timeout)
            try:
                version = identify_file(conn, self.label)
            except BaseException as exc:
                conn.close()
                if isinstance(exc, sqlite3.DatabaseError):
                    raise store_error(exc, self.label) from exc
                raise
            if not read_only:
                conn.close()
        if read_only:
            if state != "sqlite" or version == 0:
                if state == "sqlite":
                    conn.close()
                raise empty_file(self.label)
            if version >= READABLE_FROM:
                self.db = Database(conn, execute_plugins=False)
                self.schema_migrated_from = self.schema_version = version
                return
            conn.close()
            if not writable(self.path):
                raise StoreError(f"database schema version {version} must be migrated before this camaudit can "
                                 "read it, and the file is read-only here; run camaudit on a writable copy",
                                 path=self.label)
        conn = connect_read_write(self.path, self.label, timeout)
        self.schema_migrated_from = self.schema_version = version
        try:
            self.db = Database(conn, execute_plugins=False)
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if version < READABLE_FROM:  # a new file, or one too old to read as it is: set it up now
                self._prepare_write()
        except (sqlite3.DatabaseError, OSError) as exc:
            conn.close()
            raise store_error(exc, self.label) from exc
        except BaseException:
            conn.close()
            raise

    def _prepare_write(self) -> None:
        """Before this store's first write: check the pages of a file that holds scans, switch
        to WAL, migrate. Deferred until then, so a writer that only reads (or refuses) has
        changed nothing."""
        if self._prepared:
            return
        if self.schema_version > 0:
            self._check_integrity()
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.schema_migrated_from, self.schema_version = migrate(self.db, self.label)
        self.db.execute("PRAGMA foreign_keys = ON")
        self._prepared = True

    def _failed(self, exc: BaseException) -> StoreError:
        """``exc`` as one line; on a full disk, first free the reserve so the scan can still be
        closed (the caller's ``finish_scan(..., 'failed')``)."""
        error = store_error(exc, self.label)
        if self._active_scan is not None and isinstance(error, DiskFull):
            self._reserve.release()
            with contextlib.suppress(sqlite3.Error):
                if self.db.conn.in_transaction:
                    self.db.conn.rollback()
        return error

    def _check_integrity(self) -> None:
        """Before writing to a file that has scans in it: a damaged file is not made worse.
        (``quick_check`` reads every page once: about 0.1 s per 150 MB.)"""
        problem = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise damaged(self.label, str(problem))

    def _require_writer(self) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.label} was opened read-only")

    # ---- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        with self._mu:
            self._lock.release()
            if self._active_scan is not None:
                self._reserve.release()
            self._active_scan = None
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the writer lock for the block: the scan's lock if held, else a brief one."""
        self._require_writer()
        if self._lock.held:
            self._prepare_write()
            yield
            return
        self._lock.acquire()
        try:
            self._prepare_write()
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
        self._require_writer()
        if self._active_scan is not None:
            raise RuntimeError(f"scan {self._active_scan} is still running in this store")
        self._lock.acquire()
        try:
            self._prepare_write()
            self._reserve.hold()
            row = rows.scan_meta_row(meta)
            row.update(status="running", started_at=float(meta.get("started_at") or time.time()),
                       stats="{}", pid=os.getpid(), boot_id=_boot_id(), owner_host=socket.gethostname())
            with immediate(self.db):
                self._mark_interrupted()
                pk = self.db.table("scans").insert(row).last_pk
                assert pk is not None
                scan_id = int(pk)
        except BaseException:
            self._reserve.release()
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
                       stats = json_set(stats, '$.interrupted', ?)
                   WHERE id = ?""", [_INTERRUPTED_REASON, scan_id])
        return stale

    @_serialised
    def recover_interrupted(self) -> list[int]:
        """If no writer is live right now, mark scans left 'running' interrupted; return their ids.

        A read-only store writes nothing: it only notes them, and ``scan``/``list_scans`` show
        them as interrupted (the next writer records it)."""
        if self.read_only:
            if self._lock.is_free():
                self._stale = {r["id"] for r in self.db.query("SELECT id FROM scans WHERE status = 'running'")}
            return sorted(self._stale)
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

        Each device is matched to a stable identity of the scan's site: its key (MAC, else
        serial, else ONVIF endpoint, else IP); failing that, a known device of the site with
        the same MAC, serial or endpoint (so a camera seen by MAC once and only by serial
        later stays one device). Returns Host.key → stable device key.
        """
        with self._writing():
            self._require_running(scan_id)
            with immediate(self.db):
                return self._write_devices(scan_id, self._records(scan_id, devices, facts or {}))

    @_serialised
    def record_results(self, scan_id: int, devices: list[Device], facts: Mapping[str, Mapping[str, Any]],
                       findings: list[Finding]) -> dict[str, str]:
        """``add_devices`` and ``add_findings`` in one transaction: each device's state is stored
        (or found unchanged) once, with its findings. What the audit pipeline writes."""
        with self._writing():
            self._require_running(scan_id)
            with immediate(self.db):
                return self._write_devices(scan_id, self._records(scan_id, devices, facts, findings))

    def _records(self, scan_id: int, devices: list[Device], facts: Mapping[str, Mapping[str, Any]],
                 findings: list[Finding] | None = None) -> list[states.DeviceRecord]:
        started = self._scan_row(scan_id)["started_at"]
        by_device: dict[str, list[dict[str, Any]]] = {}
        for f in findings or []:
            by_device.setdefault(f.device_key, []).append(states.from_finding(f))
        known = {d.key for d in devices}
        if stray := sorted(set(by_device) - known):
            raise ValueError(f"findings for devices not in scan {scan_id}: {', '.join(stray[:3])}")
        return [states.from_device(d, facts.get(d.key), started).with_findings(by_device.get(d.key, []))
                for d in devices]

    def _write_devices(self, scan_id: int, records: list[states.DeviceRecord]) -> dict[str, str]:
        row = self._scan_row(scan_id)
        incoming = {rec.host_key for rec in records}
        for r in self.db.query("SELECT st.host_key FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id "
                               "WHERE sd.scan_id = ?", [scan_id]):
            if r["host_key"] in incoming:
                raise ValueError(f"device {r['host_key']} is already recorded in scan {scan_id}")
        mapping = history.write_records(self.db, scan_id, row["site"] or "", row["started_at"], records)
        history.refresh_summary(self.db, scan_id)
        return mapping

    @_serialised
    def add_findings(self, scan_id: int, findings: list[Finding]) -> None:
        """Record policy findings of devices already recorded in the scan (matched by Host.key):
        each such device's state is replaced by the same state with the findings added."""
        with self._writing(), immediate(self.db):
            self._require_running(scan_id)
            by_host: dict[str, list[dict[str, Any]]] = {}
            for f in findings:
                by_host.setdefault(f.device_key, []).append(states.from_finding(f))
            if not by_host:
                return
            replaced = []
            sightings = {r["host_key"]: r for r in self.db.query(
                """SELECT sd.device_id, sd.state_id, st.host_key FROM scan_devices sd
                   JOIN device_states st ON st.id = sd.state_id WHERE sd.scan_id = ?""", [scan_id])}
            if stray := sorted(set(by_host) - set(sightings)):
                raise ValueError(f"findings for devices not in scan {scan_id}: {', '.join(stray[:3])}")
            for host_key, added in by_host.items():
                sighting = sightings[host_key]
                state = self.db.execute("SELECT * FROM device_states WHERE id = ?", [sighting["state_id"]])
                state_row = dict(zip([c[0] for c in state.description], state.fetchone(), strict=True))
                old = [states.row_finding(r) for r in self.db.query(
                    "SELECT * FROM state_findings WHERE state_id = ? ORDER BY id", [sighting["state_id"]])]
                record = states.DeviceRecord(host_key, None, None, None, 0.0, states.row_values(state_row),
                                             [*old, *added])
                new_state = history.state_id_for(self.db, sighting["device_id"], record)
                self.db.execute("UPDATE scan_devices SET state_id = ? WHERE scan_id = ? AND device_id = ?",
                                [new_state, scan_id, sighting["device_id"]])
                replaced.append(sighting["state_id"])
            history.drop_orphan_states(self.db, replaced)
            history.refresh_summary(self.db, scan_id)

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
        """Close the scan as complete, interrupted or failed, apply the raw-observation retention
        (``keep_observations`` newest scans of the site), and release the writer lock."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"finish status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        values = [status, time.time(), rows.dumps(dict(stats or {})), scan_id]
        try:
            try:
                with self._writing(), immediate(self.db):
                    self._require_running(scan_id)
                    self.db.execute("UPDATE scans SET status = ?, finished_at = ?, stats = ? WHERE id = ?", values)
                    history.refresh_summary(self.db, scan_id)
                    if self.keep_observations is not None:
                        self._prune_observations(self.keep_observations, self._scan_row(scan_id)["site"])
            except sqlite3.DatabaseError as exc:
                if not isinstance(self._failed(exc), DiskFull):
                    raise
                # A full disk (the reserve is free now): record the ending alone, retention can wait.
                with self._writing(), immediate(self.db):
                    self.db.execute("UPDATE scans SET status = ?, finished_at = ?, stats = ? WHERE id = ?", values)
        finally:
            if scan_id == self._active_scan:
                self._active_scan = None
                self._reserve.release()
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
            kept: dict[str, list[dict[str, Any]]] = {}
            if findings is None:  # keep each device's findings as they were
                for r in self.db.query(
                        """SELECT st.host_key, f.* FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id
                           JOIN state_findings f ON f.state_id = st.id WHERE sd.scan_id = ? ORDER BY f.id""",
                        [scan_id]):
                    kept.setdefault(r["host_key"], []).append(states.row_finding(r))
            old_states = [r[0] for r in self.db.execute("SELECT state_id FROM scan_devices WHERE scan_id = ?",
                                                        [scan_id])]
            self.db.execute("DELETE FROM scan_devices WHERE scan_id = ?", [scan_id])
            records = self._records(scan_id, devices, facts or {}, findings)
            if findings is None:
                records = [r.with_findings(kept.get(r.host_key, [])) for r in records]
            mapping = self._write_devices(scan_id, records)
            history.drop_orphan_states(self.db, old_states)
            self._forget_unseen_devices()
        return mapping

    # ---- importing a document ---------------------------------------------------------------

    @_serialised
    def import_document(self, document: Mapping[str, Any], site: str | None = None,
                        digest: str | None = None) -> tuple[int, bool]:
        """Load a schema-valid scan document (``auditor.document_import`` validates) as a scan of
        ``site`` (default: the document's). Returns (scan id, True) — or the id of the scan
        already imported from the same document and False: importing twice changes nothing.

        The scan keeps its site, scope, times, status, rules and stats; its devices become
        devices of that site (identity per site), with their states and findings; its waivers
        and warnings are kept. One transaction: a failure stores nothing. ``digest`` (the
        file's SHA-256) is recorded so ``imported_digest`` can skip the same file next time.
        """
        scan = document["scan"]
        site_name = site if site is not None else (scan.get("site") or "")
        started = _unix(scan["started_at"])
        finished = _unix(scan["finished_at"]) if scan.get("finished_at") else None
        key = import_key(document, site_name)
        with self._writing(), immediate(self.db):
            found = self.db.execute("SELECT id FROM scans WHERE import_key = ?", [key]).fetchone()
            if found:
                return int(found[0]), False
            row = rows.scan_meta_row({**scan, "site": site_name})
            row.update(status=scan["status"], started_at=started, finished_at=finished,
                       stats=rows.dumps(scan.get("stats") or {}), import_key=key, import_digest=digest,
                       source_scan_id=scan["id"],
                       imported_at=time.time(), raw_kept=0)
            names = ", ".join(row)
            scan_id = history.inserted_id(self.db.execute(
                f"INSERT INTO scans ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())))
            seen = finished if finished is not None else started
            by_device: dict[str, list[dict[str, Any]]] = {}
            for f in document["findings"]:
                by_device.setdefault(str(f["device_id"]), []).append(states.from_finding_entry(f))
            records = [states.from_entry(d, seen).with_findings(by_device.get(str(d["id"]), []))
                       for d in document["devices"]]
            history.write_records(self.db, scan_id, site_name, started, records)
            history.refresh_summary(self.db, scan_id)
            waivers = [rows.waiver_row(scan_id, w) for w in document.get("waivers") or []]
            if waivers:
                self.db.table("waivers").insert_all(waivers)
            notes = [rows.observation_row(scan_id, Observation(ip=w["ip"], probe=w["probe"], fields={},
                                                               seen_at=seen, warning=w["message"]))
                     for w in document.get("warnings") or []]
            if notes:
                self.db.table("observations").insert_all(notes)
        return scan_id, True

    @_serialised
    def device_count(self, scan_id: int) -> int:
        return int(self._scan_row(scan_id)["device_count"])

    @_serialised
    def imported_digest(self, digest: str) -> int | None:
        """The scan imported from a file with this SHA-256, if any."""
        found = self.db.execute("SELECT id FROM scans WHERE import_digest = ?", [digest]).fetchone()
        return None if found is None else int(found[0])

    # ---- retention --------------------------------------------------------------------------

    @_serialised
    def prune(self, keep_last: int, site: str | None = None) -> int:
        """Retention: delete every scan of ``site`` (default: of every site, each on its own)
        older than its newest ``keep_last``, with all its data; devices seen only in deleted
        scans go too, and states no scan uses. Never deleted: a running scan, and a site's
        newest ``keep_last`` complete scans (the baseline the next diff and report compare
        with, which a run of failed or interrupted scans must not push out). Returns how many
        scans were deleted."""
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        with self._writing(), immediate(self.db):
            doomed: list[int] = []
            for name in self._site_names(site):
                doomed += [r["id"] for r in self.db.query(
                    """SELECT id FROM scans WHERE site = ? AND status != 'running'
                       AND id NOT IN (SELECT id FROM scans WHERE site = ? ORDER BY started_at DESC, id DESC LIMIT ?)
                       AND id NOT IN (SELECT id FROM scans WHERE site = ? AND status = 'complete'
                                      ORDER BY started_at DESC, id DESC LIMIT ?)""",
                    [name, name, keep_last, name, keep_last])]
            if not doomed:
                return 0
            for chunk in _chunks(doomed):
                marks = ",".join("?" * len(chunk))
                states_used = [r[0] for r in self.db.execute(
                    f"SELECT DISTINCT state_id FROM scan_devices WHERE scan_id IN ({marks})", chunk)]
                for table in ("observations", "scan_devices", "waivers"):
                    self.db.execute(f"DELETE FROM {table} WHERE scan_id IN ({marks})", chunk)
                history.drop_orphan_states(self.db, states_used)
            self._forget_unseen_devices()
            for chunk in _chunks(doomed):
                self.db.execute(f"DELETE FROM scans WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return len(doomed)

    def _forget_unseen_devices(self) -> None:
        """Drop devices no scan saw any more, and re-point the others' first/last sighting."""
        self.db.execute("DELETE FROM devices WHERE id NOT IN (SELECT device_id FROM scan_devices)")
        self.db.execute(
            """UPDATE devices SET
                   first_scan = (SELECT sd.scan_id FROM scan_devices sd JOIN scans s ON s.id = sd.scan_id
                                 WHERE sd.device_id = devices.id ORDER BY s.started_at, s.id LIMIT 1),
                   last_scan = (SELECT sd.scan_id FROM scan_devices sd JOIN scans s ON s.id = sd.scan_id
                                WHERE sd.device_id = devices.id ORDER BY s.started_at DESC, s.id DESC LIMIT 1)
               WHERE first_scan NOT IN (SELECT scan_id FROM scan_devices WHERE device_id = devices.id)
                  OR last_scan NOT IN (SELECT scan_id FROM scan_devices WHERE device_id = devices.id)""")

    @_serialised
    def prune_observations(self, keep: int, site: str | None = None) -> int:
        """Raw-observation retention: keep the raw observations of each site's newest ``keep``
        scans (and of running ones); of older scans keep only the warnings (ip, probe, message:
        the report's list of bad answers). Returns how many scans lost their raw observations."""
        if keep < 1:
            raise ValueError("keep must be at least 1")
        with self._writing(), immediate(self.db):
            return sum(self._prune_observations(keep, name) for name in self._site_names(site))

    def _prune_observations(self, keep: int, site: str) -> int:
        doomed = [r[0] for r in self.db.execute(
            """SELECT id FROM scans WHERE site = ? AND raw_kept = 1 AND status != 'running'
               AND id NOT IN (SELECT id FROM scans WHERE site = ? ORDER BY started_at DESC, id DESC LIMIT ?)""",
            [site, site, keep])]
        for chunk in _chunks(doomed):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM observations WHERE scan_id IN ({marks}) AND warning IS NULL", chunk)
            self.db.execute(f"UPDATE observations SET fields = '{{}}', raw = '' WHERE scan_id IN ({marks})", chunk)
            self.db.execute(f"UPDATE scans SET raw_kept = 0 WHERE id IN ({marks})", chunk)
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
        return self._as_recorded(found[0])

    def _as_recorded(self, row: dict[str, Any]) -> dict[str, Any]:
        """A scan row as the next writer will record it: one a dead run left 'running' is interrupted."""
        if row["id"] not in self._stale or row["status"] != "running":
            return row
        stats = rows.loads(row["stats"], {})
        stats["interrupted"] = _INTERRUPTED_REASON
        return {**row, "status": "interrupted", "stats": rows.dumps(stats)}

    def _site_names(self, site: str | None) -> list[str]:
        if site is not None:
            return [site]
        return [r[0] for r in self.db.execute("SELECT DISTINCT site FROM scans ORDER BY site")]

    @_serialised
    def sites(self) -> list[str]:
        """Every site with a scan in this database, by name ('' for scans that named none)."""
        return self._site_names(None)

    @_serialised
    def site_of(self, scan_id: int) -> str:
        return str(self._scan_row(scan_id)["site"] or "")

    @_serialised
    def scan(self, scan_id: int) -> dict[str, Any]:
        """The document's ``scan`` section for one scan."""
        return doc.scan_entry(self._scan_row(scan_id))

    @_serialised
    def list_scans(self, site: str | None = None) -> list[dict[str, Any]]:
        """Every scan (of ``site``, if named), oldest first: the ``scan`` section plus ``devices``
        (count), ``findings`` ({severity: count of unwaived}) and ``waived`` (count)."""
        where, params = ("WHERE site = ?", [site]) if site is not None else ("", [])
        out = []
        for row in self.db.query(f"SELECT * FROM scans {where} ORDER BY started_at, id", params):
            entry = doc.scan_entry(self._as_recorded(row))
            entry.update(devices=row["device_count"], findings={s: row[f"open_{s}"] for s in SEVERITIES},
                         waived=row["waived_count"])
            out.append(entry)
        return out

    @_serialised
    def last_complete_scans(self, n: int, site: str | None = None) -> list[int]:
        """Ids of the last ``n`` complete scans (of ``site``, if named), oldest first."""
        where, params = ("AND site = ?", [site]) if site is not None else ("", [])
        found = [r["id"] for r in self.db.query(
            f"SELECT id FROM scans WHERE status = 'complete' {where} ORDER BY started_at DESC, id DESC LIMIT ?",
            [*params, n])]
        return found[::-1]

    @_serialised
    def latest_scan(self, complete_only: bool = False, site: str | None = None) -> int | None:
        """The newest (complete, if asked) scan's id (of ``site``, if named); None when there is none."""
        clauses = (["status = 'complete'"] if complete_only else []) + (["site = ?"] if site is not None else [])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        r = self.db.execute(f"SELECT id FROM scans {where} ORDER BY started_at DESC, id DESC LIMIT 1",
                            [site] if site is not None else []).fetchone()
        return None if r is None else int(r[0])

    @_serialised
    def previous_complete_scan(self, scan_id: int) -> int | None:
        """The complete scan of the same site just before ``scan_id`` (by start time)."""
        row = self._scan_row(scan_id)
        r = self.db.execute(
            """SELECT id FROM scans WHERE status = 'complete' AND site = ?
               AND (started_at < ? OR (started_at = ? AND id < ?)) ORDER BY started_at DESC, id DESC LIMIT 1""",
            [row["site"], row["started_at"], row["started_at"], scan_id]).fetchone()
        return None if r is None else int(r[0])

    @_serialised
    def previous_answers(self, scan_id: int) -> tuple[int, list[str], Answers] | None:
        """The newest complete network scan before ``scan_id`` of the same site and scope (targets
        and excludes) that still has its raw observations: its id, the probes it ran and who
        answered them; None when there is none (retention dropped them: then nothing is compared)."""
        found = self.db.execute(
            """SELECT p.id, p.probes FROM scans p JOIN scans s ON s.id = ?
               WHERE p.status = 'complete' AND p.kind = 'scan' AND p.raw_kept = 1 AND p.site = s.site
                 AND p.targets = s.targets AND p.excludes = s.excludes
                 AND (p.started_at < s.started_at OR (p.started_at = s.started_at AND p.id < s.id))
               ORDER BY p.started_at DESC, p.id DESC LIMIT 1""", [scan_id]).fetchone()
        if found is None:
            return None
        rows_ = self.db.query("SELECT DISTINCT ip, probe, fields NOT IN ('{}', '') AS has_fields "
                              "FROM observations WHERE scan_id = ?", [found[0]])
        return int(found[0]), list(rows.loads(found[1], [])), previous_answers(rows_)

    def _default_scan(self) -> int | None:
        return self.latest_scan(complete_only=True) or self.latest_scan()

    def _device_rows(self, scan_id: int, where: str = "", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The scan's sightings in the shape of the document builder's rows (``device_key``,
        the state's columns, the device's ``first_scan``/``first_seen``)."""
        return list(self.db.query(
            f"""SELECT sd.scan_id, d.key AS device_key, st.*, d.first_scan, d.first_seen
                FROM scan_devices sd JOIN devices d ON d.id = sd.device_id
                JOIN device_states st ON st.id = sd.state_id WHERE sd.scan_id = ? {where}""",
            [scan_id, *params]))

    def _finding_rows(self, scan_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            """SELECT f.*, d.key AS device_key FROM scan_devices sd JOIN devices d ON d.id = sd.device_id
               JOIN state_findings f ON f.state_id = sd.state_id WHERE sd.scan_id = ? ORDER BY f.id""", [scan_id]))

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
    def covered_devices(self, scan_id: int) -> list[dict[str, Any]]:
        """The scan's covered devices, by address: the device entries' identity fields and
        evidence (not facts, ports or warnings: the estate lists thousands of them)."""
        self._scan_row(scan_id)
        found = self.db.execute(
            """SELECT d.key, st.ip, st.mac, st.maker, st.brand, st.relation, st.relation_text, st.device_class,
                      st.model, st.firmware, st.serial, st.confidence, st.covered_basis, st.evidence,
                      st.finding_count, d.first_scan, d.first_seen
               FROM scan_devices sd JOIN devices d ON d.id = sd.device_id JOIN device_states st ON st.id = sd.state_id
               WHERE sd.scan_id = ? AND st.covered = 1""", [scan_id])
        out = [{"id": key, "ip": ip, "mac": mac, "maker": maker, "brand": brand, "relation": relation,
                "relation_text": relation_text, "device_class": device_class, "model": model, "firmware": firmware,
                "serial": serial, "covered": True, "covered_basis": basis, "confidence": confidence,
                "evidence": rows.loads(evidence, []), "finding_count": findings, "first_seen_scan": first_scan,
                "first_seen": doc.iso(first_seen)}
               for (key, ip, mac, maker, brand, relation, relation_text, device_class, model, firmware, serial,
                    confidence, basis, evidence, findings, first_scan, first_seen) in found]
        return doc.sort_devices(out)

    @_serialised
    def scan_summaries(self) -> list[dict[str, Any]]:
        """Every scan's scans row (id, site, status, kind, times, per-scan counts), oldest first: the
        estate's overview and trend, without touching a sighting."""
        columns = ", ".join(("id", "site", "status", "kind", "started_at", "finished_at", *history.SUMMARY_COLUMNS))
        return [dict(r) for r in self.db.query(f"SELECT {columns} FROM scans ORDER BY started_at, id")]

    @_serialised
    def waivers(self, scan_id: int) -> list[dict[str, Any]]:
        """The waivers in force for the scan, as document entries."""
        self._scan_row(scan_id)
        return [doc.waiver_entry(r) for r in self.db.query("SELECT * FROM waivers WHERE scan_id = ? ORDER BY id",
                                                           [scan_id])]

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
    def history(self, scan_id: int, limit: int = HISTORY_SCANS) -> list[dict[str, Any]]:
        """The site's last ``limit`` scans up to and including ``scan_id``, oldest first, with
        their counts: the trend the report draws."""
        row = self._scan_row(scan_id)
        found = list(self.db.query(
            """SELECT * FROM scans WHERE site = ? AND (started_at < ? OR (started_at = ? AND id <= ?))
               ORDER BY started_at DESC, id DESC LIMIT ?""",
            [row["site"], row["started_at"], row["started_at"], scan_id, limit]))
        return [doc.history_entry(r) for r in reversed(found)]

    @_serialised
    def scan_document(self, scan_id: int, generated_at: float | None = None) -> dict[str, Any]:
        """The schema-v1 JSON document for one scan, ``changes`` vs the previous complete scan
        of its site, ``history`` the site's last scans."""
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
            changes, generated_at, history=self.history(scan_id))

    @_serialised
    def observations(self, scan_id: int) -> list[Observation]:
        """Every observation recorded for the scan, in recording order. ``OperatorError`` when
        they are not there: dropped by retention, or the scan was imported from a document."""
        row = self._scan_row(scan_id)
        if row["import_key"] is not None:
            raise OperatorError(f"scan {scan_id} was imported from a document: it has no raw observations",
                                path=self.label)
        if not row["raw_kept"]:
            raise OperatorError(f"the raw observations of scan {scan_id} were dropped by retention (they are kept "
                                "for the newest scans of each site only); use a newer scan", path=self.label)
        return [rows.row_observation(r) for r in self.db.query(
            "SELECT * FROM observations WHERE scan_id = ? ORDER BY id", [scan_id])]

    def _sighting_rows(self, scan_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            """SELECT st.* FROM scan_devices sd JOIN device_states st ON st.id = sd.state_id
               WHERE sd.scan_id = ? ORDER BY st.host_key""", [scan_id]))

    @_serialised
    def hosts(self, scan_id: int) -> list[Host]:
        """The scan's devices as Hosts again (key, addresses, their observations), for
        re-identification. A scan that ended before its devices were recorded has none:
        assemble ``observations(scan_id)`` instead."""
        by_ip: dict[str, list[tuple[int, Observation]]] = {}
        channels: dict[str, list[Observation]] = {}
        for n, obs in enumerate(self.observations(scan_id)):
            if obs.probe == "channel":  # a camera behind the recorder at obs.ip, not the recorder's own answer
                channels.setdefault(obs.ip, []).append(obs)
            else:
                by_ip.setdefault(obs.ip, []).append((n, obs))
        out = []
        for r in self._sighting_rows(scan_id):
            ips = tuple(rows.loads(r["ips"], [r["ip"]]))
            facts = rows.loads(r["facts"], {})
            if r["behind"] is not None and isinstance(facts.get("recorder_ip"), str):
                recorder_key, recorder_ip = str(facts.get("behind") or r["behind"]), facts["recorder_ip"]
                found = tuple(o for o in channels.get(recorder_ip, [])
                              if camera_key(o.fields, recorder_key) == r["host_key"])
                numbers = tuple(sorted({c for o in found if isinstance(c := o.fields.get("channel"), int)}))
                out.append(Host(key=r["host_key"], ip=r["ip"], mac=r["mac"], ips=ips, observations=found,
                                behind=recorder_key, recorder_ip=recorder_ip, channels=numbers))
                continue
            mine = sorted(item for ip in dict.fromkeys((*ips, r["ip"])) for item in by_ip.get(ip, []))
            out.append(Host(key=r["host_key"], ip=r["ip"], mac=r["mac"], ips=ips,
                            observations=tuple(obs for _, obs in mine)))
        return out

    # ---- CISA's KEV catalogue ---------------------------------------------------------------

    @_serialised
    def save_kev_catalog(self, catalog: KevCatalog, sha256: str, path: str | None = None) -> bool:
        """Store an imported catalogue: recorded in ``kev_catalog``, its entries replacing the previous
        catalogue's in ``kev_entries`` (one transaction). False (nothing written) when this very file
        is the newest catalogue already."""
        with self._writing(), immediate(self.db):
            newest = self.db.execute("SELECT sha256 FROM kev_catalog ORDER BY id DESC LIMIT 1").fetchone()
            if newest is not None and newest[0] == sha256:
                return False
            self.db.execute("INSERT INTO kev_catalog (version, released, entries, sha256, path, imported_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            [catalog.version, catalog.released, len(catalog.entries), sha256, path, time.time()])
            self.db.execute("DELETE FROM kev_entries")
            self.db.conn.executemany(
                "INSERT INTO kev_entries (cve, vendor, product, name, date_added, due_date, ransomware, description, "
                "required_action, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[e.cve, e.vendor, e.product, e.name, e.date_added, e.due_date, e.ransomware, e.description,
                  e.required_action, e.notes] for e in catalog.entries.values()])
        return True

    @_serialised
    def kev_catalog(self) -> KevCatalog | None:
        """The newest imported catalogue (None: ``camaudit kev update`` was never run on this database)."""
        head = self.db.execute("SELECT version, released FROM kev_catalog ORDER BY id DESC LIMIT 1").fetchone()
        if head is None:
            return None
        entries = {r["cve"]: KevCatalogEntry(
            cve=r["cve"], vendor=r["vendor"], product=r["product"], name=r["name"], date_added=r["date_added"],
            due_date=r["due_date"], ransomware=r["ransomware"] or "", description=r["description"] or "",
            required_action=r["required_action"] or "", notes=r["notes"] or "")
            for r in self.db.query("SELECT * FROM kev_entries")}
        return KevCatalog(version=str(head[0]), released=str(head[1] or ""), entries=entries)

    @_serialised
    def load_devices(self, scan_id: int) -> list[Device]:
        """The scan's devices as recorded (hosts with their stored identities)."""
        identities = {r["host_key"]: rows.row_identity(r) for r in self._sighting_rows(scan_id)}
        return [Device(host=h, identity=identities[h.key]) for h in self.hosts(scan_id)]

    @_serialised
    def facts(self, scan_id: int) -> dict[str, dict[str, Any]]:
        """Stored policy facts per Host.key."""
        return {r["host_key"]: rows.loads(r["facts"], {}) for r in self._sighting_rows(scan_id)}


def import_key(document: Mapping[str, Any], site: str) -> str:
    """What makes two documents the same scan: the site, the scanner host, the scan's id in the
    database that wrote it and its start time (a rebuilt site database reuses ids, not times)."""
    scan = document["scan"]
    text = rows.dumps([site, scan.get("host"), scan.get("id"), scan.get("started_at")])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
