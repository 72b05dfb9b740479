"""The database schema as an ordered list of forward migrations.

``PRAGMA user_version`` holds the number of migrations applied. A migration is a tuple of
SQL statements, or a function of the database when data must be rewritten (v6). Opening a
database applies the missing ones in one ``BEGIN IMMEDIATE`` transaction, so two processes
opening an old file at once cannot both migrate it, and a crash mid-migration
leaves the previous version intact. Migrations are never edited once released:
a change is a new entry at the end.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from ..errors import StoreError
from .tx import immediate

log = logging.getLogger("camaudit.store")

# v1: the first released schema. Observations are only ever appended (devices and findings of a
# scan are rewritten by re-identification, in one transaction); JSON columns hold
# lists/dicts verbatim (evidence, conflicts, fields, ...).
_V1 = (
    """CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
        started_at REAL NOT NULL,
        finished_at REAL,
        site TEXT,
        targets TEXT NOT NULL DEFAULT '[]',
        excludes TEXT NOT NULL DEFAULT '[]',
        interface TEXT,
        operator TEXT,
        host TEXT,
        probes TEXT NOT NULL DEFAULT '[]',
        rules TEXT NOT NULL DEFAULT '[]',
        tool_version TEXT,
        kb_version TEXT,
        stats TEXT NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE devices (
        key TEXT PRIMARY KEY,
        mac TEXT,
        serial TEXT,
        endpoint TEXT,
        first_scan INTEGER NOT NULL REFERENCES scans(id),
        last_scan INTEGER NOT NULL REFERENCES scans(id),
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    )""",
    """CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        ip TEXT NOT NULL,
        probe TEXT NOT NULL,
        fields TEXT NOT NULL DEFAULT '{}',
        raw TEXT NOT NULL DEFAULT '',
        seen_at REAL NOT NULL,
        warning TEXT
    )""",
    """CREATE TABLE scan_devices (
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        device_key TEXT NOT NULL REFERENCES devices(key),
        host_key TEXT NOT NULL,
        ip TEXT NOT NULL,
        ips TEXT NOT NULL DEFAULT '[]',
        mac TEXT,
        maker TEXT,
        brand TEXT,
        relation TEXT,
        relation_text TEXT,
        device_class TEXT NOT NULL CHECK (device_class IN ('camera', 'recorder', 'other', 'unknown')),
        model TEXT,
        firmware TEXT,
        serial TEXT,
        confidence TEXT NOT NULL CHECK (confidence IN ('high', 'medium', 'low')),
        covered INTEGER NOT NULL,
        covered_basis TEXT,
        evidence TEXT NOT NULL DEFAULT '[]',
        conflicts TEXT NOT NULL DEFAULT '[]',
        open_ports TEXT NOT NULL DEFAULT '[]',
        facts TEXT NOT NULL DEFAULT '{}',
        warnings TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (scan_id, device_key)
    )""",
    """CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        rule_id TEXT NOT NULL,
        title TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
        device_key TEXT NOT NULL,
        ip TEXT NOT NULL,
        mac TEXT,
        message TEXT NOT NULL,
        remediation TEXT NOT NULL DEFAULT '',
        refs TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL DEFAULT '[]',
        waiver TEXT,
        waiver_state TEXT
    )""",
    """CREATE TABLE waivers (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        device TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        owner TEXT NOT NULL DEFAULT '',
        ticket TEXT NOT NULL DEFAULT '',
        expires TEXT NOT NULL DEFAULT '',
        state TEXT,
        matched INTEGER NOT NULL DEFAULT 0
    )""",
)

# v2: record which process owns a running scan, so a scan left 'running' by a killed
# process can be told apart from a live one (and the lock message can name it).
_V2 = (
    "ALTER TABLE scans ADD COLUMN pid INTEGER",
    "ALTER TABLE scans ADD COLUMN boot_id TEXT",
    "ALTER TABLE scans ADD COLUMN owner_host TEXT",
)

# v3: indexes for the history queries (per-scan loads, device history, status lookups).
_V3 = (
    "CREATE INDEX idx_observations_scan_ip ON observations(scan_id, ip)",
    "CREATE INDEX idx_scan_devices_device ON scan_devices(device_key, scan_id)",
    "CREATE INDEX idx_findings_scan ON findings(scan_id, severity)",
    "CREATE INDEX idx_waivers_scan ON waivers(scan_id)",
    "CREATE INDEX idx_scans_status ON scans(status, id)",
    "CREATE INDEX idx_devices_mac ON devices(mac)",
    "CREATE INDEX idx_devices_serial ON devices(serial)",
)

# v4: where each waiver was written (``file:line``), so the report can point at it.
_V4 = ("ALTER TABLE waivers ADD COLUMN source TEXT",)

# v5: the report files each audit config wrote, so retention deletes those and nothing else
# (never by a name pattern, which also matched other sites' and other programs' files).
_V5 = (
    """CREATE TABLE report_files (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL,
        config TEXT NOT NULL,
        format TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        written_at REAL NOT NULL
    )""",
    "CREATE INDEX idx_report_files_config ON report_files(config, format, id)",
)

# v6: history as what changed, sites, imports (auditor/store/history.py, states.py).
# - A device is one per site: devices(id, site, key) with UNIQUE(site, key).
# - What a scan saw of a device is a reference to a state (identity, facts, warnings and its
#   findings) stored once per change: device_states + state_findings; scan_devices becomes
#   three integers per sighting. The per-scan findings table goes (its rows become state findings).
# - scans: site '' when unnamed (the document still says null); import_key / import_digest /
#   source_scan_id / imported_at for documents loaded by `camaudit import` (importing one twice
#   changes nothing; the file's SHA-256 lets a nightly re-import skip it without parsing it);
#   raw_kept (0 once retention dropped the raw observations); per-scan counts for lists and trends.
# - Views for people and Datasette: latest_scans, inventory, open_findings, waiver_status.
_V6_SCHEMA = (
    "ALTER TABLE scans ADD COLUMN import_key TEXT",
    "ALTER TABLE scans ADD COLUMN import_digest TEXT",
    "ALTER TABLE scans ADD COLUMN source_scan_id INTEGER",
    "ALTER TABLE scans ADD COLUMN imported_at REAL",
    "ALTER TABLE scans ADD COLUMN raw_kept INTEGER NOT NULL DEFAULT 1",
    *(f"ALTER TABLE scans ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0" for name in (
        "device_count", "camera_count", "recorder_count", "covered_count", "unknown_maker_count",
        "open_critical", "open_high", "open_medium", "open_low", "open_info", "waived_count")),
    "UPDATE scans SET site = '' WHERE site IS NULL",
    "CREATE UNIQUE INDEX idx_scans_import ON scans(import_key) WHERE import_key IS NOT NULL",
    "CREATE INDEX idx_scans_import_digest ON scans(import_digest) WHERE import_digest IS NOT NULL",
    "CREATE INDEX idx_scans_site ON scans(site, status, started_at)",
    "ALTER TABLE findings RENAME TO findings_v4",
    "ALTER TABLE scan_devices RENAME TO scan_devices_v4",
    "ALTER TABLE devices RENAME TO devices_v4",
    """CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL DEFAULT '',
        key TEXT NOT NULL,
        mac TEXT,
        serial TEXT,
        endpoint TEXT,
        first_scan INTEGER NOT NULL REFERENCES scans(id),
        last_scan INTEGER NOT NULL REFERENCES scans(id),
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        UNIQUE (site, key)
    )""",
    """CREATE TABLE device_states (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        digest TEXT NOT NULL,
        host_key TEXT NOT NULL,
        ip TEXT NOT NULL,
        ips TEXT NOT NULL DEFAULT '[]',
        mac TEXT,
        maker TEXT,
        brand TEXT,
        relation TEXT,
        relation_text TEXT,
        device_class TEXT NOT NULL CHECK (device_class IN ('camera', 'recorder', 'other', 'unknown')),
        model TEXT,
        firmware TEXT,
        serial TEXT,
        confidence TEXT NOT NULL CHECK (confidence IN ('high', 'medium', 'low')),
        covered INTEGER NOT NULL,
        covered_basis TEXT,
        evidence TEXT NOT NULL DEFAULT '[]',
        conflicts TEXT NOT NULL DEFAULT '[]',
        open_ports TEXT NOT NULL DEFAULT '[]',
        facts TEXT NOT NULL DEFAULT '{}',
        warnings TEXT NOT NULL DEFAULT '[]',
        finding_count INTEGER NOT NULL DEFAULT 0,
        UNIQUE (device_id, digest)
    )""",
    """CREATE TABLE state_findings (
        id INTEGER PRIMARY KEY,
        state_id INTEGER NOT NULL REFERENCES device_states(id),
        rule_id TEXT NOT NULL,
        title TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
        ip TEXT NOT NULL,
        mac TEXT,
        message TEXT NOT NULL,
        remediation TEXT NOT NULL DEFAULT '',
        refs TEXT NOT NULL DEFAULT '[]',
        evidence TEXT NOT NULL DEFAULT '[]',
        waiver TEXT,
        waiver_state TEXT
    )""",
    """CREATE TABLE scan_devices (
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        device_id INTEGER NOT NULL REFERENCES devices(id),
        state_id INTEGER NOT NULL REFERENCES device_states(id),
        PRIMARY KEY (scan_id, device_id)
    ) WITHOUT ROWID""",
)
_V6_INDEXES = (
    "CREATE INDEX idx_devices_mac ON devices(site, mac)",
    "CREATE INDEX idx_devices_serial ON devices(site, serial)",
    "CREATE INDEX idx_devices_endpoint ON devices(site, endpoint)",
    "CREATE INDEX idx_scan_devices_device ON scan_devices(device_id, scan_id)",
    "CREATE INDEX idx_state_findings_state ON state_findings(state_id)",
    # The newest complete scan of every site, and the one before it (window functions: SQLite 3.25+).
    """CREATE VIEW latest_scans AS
       SELECT * FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.site ORDER BY s.started_at DESC, s.id DESC) AS rank
                      FROM scans s WHERE s.status = 'complete') WHERE rank = 1""",
    """CREATE VIEW inventory AS
       SELECT s.site, s.id AS scan_id, datetime(s.started_at, 'unixepoch') AS audited_at, d.key AS device,
              st.ip, st.mac, st.maker, st.brand, st.relation, st.device_class, st.model, st.firmware, st.serial,
              st.covered, st.covered_basis, st.confidence, st.finding_count AS findings,
              datetime(d.first_seen, 'unixepoch') AS first_seen, d.id AS device_id, st.id AS state_id
       FROM latest_scans s JOIN scan_devices sd ON sd.scan_id = s.id
       JOIN devices d ON d.id = sd.device_id JOIN device_states st ON st.id = sd.state_id""",
    """CREATE VIEW open_findings AS
       SELECT s.site, s.id AS scan_id, d.key AS device, f.ip, st.maker, st.model, f.severity, f.rule_id AS rule,
              f.title, f.message, COALESCE(f.waiver_state IN ('active', 'expiring'), 0) AS waived,
              f.waiver_state, json_extract(f.waiver, '$.expires') AS waiver_expires
       FROM latest_scans s JOIN scan_devices sd ON sd.scan_id = s.id JOIN devices d ON d.id = sd.device_id
       JOIN device_states st ON st.id = sd.state_id JOIN state_findings f ON f.state_id = sd.state_id""",
    """CREATE VIEW waiver_status AS
       SELECT s.site, s.id AS scan_id, w.device, w.rule, w.reason, w.owner, w.ticket, w.expires, w.state,
              w.matched, w.source
       FROM latest_scans s JOIN waivers w ON w.scan_id = s.id""",
)


def _v6_history(db: Database) -> None:
    """Move v5's per-scan device and finding copies into per-site devices and deduplicated states."""
    from . import history
    from .states import DeviceRecord, row_finding, row_values

    for statement in _V6_SCHEMA:
        db.execute(statement)
    old_devices = {r["key"]: dict(r) for r in db.query("SELECT * FROM devices_v4")}
    orphans = 0
    for scan in list(db.query("SELECT id, site, started_at FROM scans ORDER BY started_at, id")):
        device_rows = list(db.query("SELECT * FROM scan_devices_v4 WHERE scan_id = ? ORDER BY rowid", [scan["id"]]))
        findings: dict[str, list[dict[str, Any]]] = {}
        for f in db.query("SELECT * FROM findings_v4 WHERE scan_id = ? ORDER BY id", [scan["id"]]):
            findings.setdefault(f["device_key"], []).append(row_finding(f))
        keys: dict[str, str] = {}
        records = []
        for r in device_rows:
            old = old_devices.get(r["device_key"], {})
            seen = old.get("first_seen") if old.get("first_scan") == scan["id"] else None
            seen = old.get("last_seen") if seen is None and old.get("last_scan") == scan["id"] else seen
            records.append(DeviceRecord(host_key=r["host_key"], mac=old.get("mac") or r["mac"],
                                        serial=old.get("serial") or r["serial"], endpoint=old.get("endpoint"),
                                        seen=float(seen if seen is not None else scan["started_at"]),
                                        values=row_values(r), findings=findings.pop(r["device_key"], [])))
            keys[r["host_key"]] = r["device_key"]
        orphans += sum(len(v) for v in findings.values())
        history.write_records(db, scan["id"], scan["site"], scan["started_at"], records, keys=keys)
        history.refresh_summary(db, scan["id"])
    if orphans:
        log.warning("schema v6: %d finding(s) named no device of their scan and were not carried over", orphans)
    for table in ("findings_v4", "scan_devices_v4", "devices_v4"):
        db.execute(f"DROP TABLE {table}")
    for statement in _V6_INDEXES:
        db.execute(statement)


# v7: a scan is either a network scan or an import of an inventory the site already has
# (``camaudit classify``): ``kind`` says which, ``source`` (JSON) names the inventory file it
# read ({"path", "sha256", "format", "rows", "columns", "ignored"}); NULL for network scans.
# Not to be confused with v6's import_key/source_scan_id: those mark a *document* loaded by
# ``camaudit import``, which keeps the kind its document says (a classify run exported as JSON
# and imported centrally is still of kind 'import').
_V7 = (
    "ALTER TABLE scans ADD COLUMN kind TEXT NOT NULL DEFAULT 'scan' CHECK (kind IN ('scan', 'import'))",
    "ALTER TABLE scans ADD COLUMN source TEXT",
)

# v8: the file says it is camaudit's (``PRAGMA application_id``), so a file that is not ours is
# told apart before anything is written to it. Earlier versions wrote none (see ``identify_file``).
APPLICATION_ID = 0x63616D61  # "cama"
_V8 = (f"PRAGMA application_id = {APPLICATION_ID}",)


def _v9_degraded(db: Database) -> None:
    """v9: a scan can end 'degraded': it ran to its end, but a discovery probe heard nothing from
    devices that answered it in the previous complete scan of the same scope (or the kernel's ARP
    table overflowed), so it is not a complete audit: never a diff baseline, exit 2.

    SQLite cannot alter a CHECK constraint; the documented way for a change that only widens it
    (no stored row can break it) is to edit the table's definition in ``sqlite_schema`` and bump
    ``schema_version`` (sqlite.org/lang_altertable.html, "other kinds of table schema changes"):
    no copy of the table, and the views over it keep working.
    """
    old = "status IN ('running', 'complete', 'interrupted', 'failed')"
    new = "status IN ('running', 'complete', 'degraded', 'interrupted', 'failed')"
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'scans'").fetchone()[0]
    if new in sql:
        return
    if sql.count(old) != 1:
        raise StoreError("the scans table's status check is not the one this migration knows; not a database "
                         "this camaudit can migrate")
    version = int(db.execute("PRAGMA schema_version").fetchone()[0])
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'scans'",
                   [sql.replace(old, new)])
        db.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        db.execute("PRAGMA writable_schema = OFF")


# v10: cameras behind recorders, and CISA's KEV catalogue (issue 12).
# - device_states.behind: the stable key of the recorder a camera is behind (NULL for a device the
#   scan reached itself); device_states.channel: the recorder's channel it is on. A camera behind
#   a recorder is a device like any other (devices, states, sightings); the state digest leaves
#   both out while NULL, so no existing state changes.
# - kev_catalog: every catalogue imported with `camaudit kev update` (version, release, file digest);
#   kev_entries: the entries of the newest one (its CVEs, dates added and due dates), what audits
#   read. The version ranges stay reviewed data in seeds/vendors/firmware-kev.yaml.
# - the inventory view gains behind and channel.
_V10 = (
    "ALTER TABLE device_states ADD COLUMN behind TEXT",
    "ALTER TABLE device_states ADD COLUMN channel INTEGER",
    "CREATE INDEX idx_device_states_behind ON device_states(behind) WHERE behind IS NOT NULL",
    """CREATE TABLE kev_catalog (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL,
        released TEXT,
        entries INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT,
        imported_at REAL NOT NULL
    )""",
    """CREATE TABLE kev_entries (
        cve TEXT PRIMARY KEY,
        vendor TEXT NOT NULL,
        product TEXT NOT NULL,
        name TEXT NOT NULL,
        date_added TEXT NOT NULL,
        due_date TEXT NOT NULL,
        ransomware TEXT,
        description TEXT,
        required_action TEXT,
        notes TEXT
    )""",
    "DROP VIEW inventory",
    """CREATE VIEW inventory AS
       SELECT s.site, s.id AS scan_id, datetime(s.started_at, 'unixepoch') AS audited_at, d.key AS device,
              st.ip, st.mac, st.maker, st.brand, st.relation, st.device_class, st.model, st.firmware, st.serial,
              st.covered, st.covered_basis, st.confidence, st.finding_count AS findings,
              datetime(d.first_seen, 'unixepoch') AS first_seen, d.id AS device_id, st.id AS state_id,
              st.behind, st.channel
       FROM latest_scans s JOIN scan_devices sd ON sd.scan_id = s.id
       JOIN devices d ON d.id = sd.device_id JOIN device_states st ON st.id = sd.state_id""",
)


Migration = tuple[str, ...] | Callable[[Database], None]
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5, _v6_history, _V7, _V8, _v9_degraded, _V10)
SCHEMA_VERSION = len(MIGRATIONS)
READABLE_FROM = 10
"""The oldest schema the read queries understand as it is (v6 moved devices and findings into
per-site states; v7 gave scans their kind; v10 gave states the recorder a camera is behind): a
read-only open of a file at this version or later needs no migration. An older file is migrated
first when it may be written, else refused in one line."""
LEGACY_VERSIONS = range(1, 8)
"""Schemas written before the application id existed (v0.1.0 wrote 4)."""
LEGACY_TABLES = frozenset({"scans", "devices", "observations", "scan_devices", "waivers"})
"""Tables every schema before the application id had: a file without the id is ours only with them all."""

_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(\w+)\s", re.IGNORECASE)
_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)


def user_version(db: Database | sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def application_id(db: Database | sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA application_id").fetchone()[0])


def identify_file(db: Database | sqlite3.Connection, label: str) -> int:
    """The schema version of an SQLite file camaudit may use; ``StoreError`` for any other file.

    Reads only (safe on a read-only connection). Ours: our application id, or (files written
    before it existed) an earlier schema with our tables; an SQLite file with no table at all is
    ours to initialise (version 0). Refused: a newer schema, anything else.
    """
    version, app = user_version(db), application_id(db)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app not in (0, APPLICATION_ID):
        raise StoreError(f"not a camaudit database (application id {app:#x}); nothing was changed; "
                         "use another --db", path=label)
    if version > SCHEMA_VERSION:
        raise StoreError(f"database schema version {version} is newer than this camaudit understands "
                         f"({SCHEMA_VERSION}); nothing was changed; upgrade camaudit", path=label)
    if app == APPLICATION_ID or (version == 0 and not tables):
        return version
    if version in LEGACY_VERSIONS and LEGACY_TABLES <= tables:
        return version
    what = f"tables {', '.join(sorted(tables)[:5])}" if tables else "no camaudit tables"
    raise StoreError(f"not a camaudit database (schema version {version}, {what}); nothing was changed; "
                     "use another --db", path=label)


def _already_applied(db: Database, statement: str, label: str) -> bool:
    """True when ``statement`` adds an index or column that is already there, as it would make it.

    A file whose version number lags its contents (restored or edited by hand, a migration
    re-run) then moves on instead of failing with "index ... already exists"; an object of
    that name with another definition is refused.
    """
    if m := _CREATE_INDEX.match(statement):
        found = db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                           [m.group(1)]).fetchone()
        if found is None:
            return False
        if " ".join(str(found[0]).split()).lower() != " ".join(statement.split()).lower():
            raise StoreError(f"index {m.group(1)} exists with another definition; not a database this "
                             "camaudit can migrate", path=label)
        return True
    if m := _ADD_COLUMN.match(statement):
        columns = {r[1] for r in db.execute(f"PRAGMA table_info({m.group(1)})")}
        return m.group(2) in columns
    return False


def migrate(db: Database, label: str, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring ``db`` forward to schema ``target``; return (version before, version after).

    ``label`` names the database in error messages. Refuses (``StoreError``, nothing written)
    a file written by a newer camaudit and an SQLite file that is not ours. Foreign keys are
    off while migrating (a migration may rebuild a referenced table) and checked before the
    commit.
    """
    if user_version(db) == target:  # the common case: no write lock needed to open
        identify_file(db, label)
        return target, target
    foreign_keys = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
    try:
        with immediate(db):
            before = identify_file(db, label)
            for version in range(before, target):
                step = MIGRATIONS[version]
                if callable(step):
                    step(db)
                    continue
                for statement in step:
                    if not _already_applied(db, statement, label):
                        db.execute(statement)
            after = max(before, target)
            if after != before:
                db.execute(f"PRAGMA user_version = {int(after)}")
            broken = db.execute("PRAGMA foreign_key_check").fetchone()
            if broken is not None:
                raise StoreError(f"migration to schema {after} would break a reference in table {broken[0]}; "
                                 "nothing was changed", path=label)
    finally:
        db.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    return before, after
