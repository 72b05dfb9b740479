"""The database schema as an ordered list of forward migrations.

``PRAGMA user_version`` holds the number of migrations applied. Opening a database
applies the missing ones in one ``BEGIN IMMEDIATE`` transaction, so two processes
opening an old file at once cannot both migrate it, and a crash mid-migration
leaves the previous version intact. Migrations are never edited once released:
a change is a new entry at the end.
"""

from __future__ import annotations

from sqlite_utils import Database

from ..errors import OperatorError
from .tx import immediate

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

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)
_OUR_TABLES = {"scans", "devices", "observations", "scan_devices", "findings", "waivers", "report_files"}


def user_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database, label: str, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring ``db`` forward to schema ``target``; return (version before, version after).

    ``label`` names the database in error messages. Refuses a file written by a newer
    camaudit and an SQLite file that already holds unrelated tables.
    """
    if user_version(db) == target:  # the common case: no write lock needed to open
        return target, target
    with immediate(db):
        before = user_version(db)
        if before > len(MIGRATIONS):
            raise OperatorError(
                f"database schema version {before} is newer than this camaudit understands "
                f"({len(MIGRATIONS)}); upgrade camaudit", path=label)
        if before == 0:
            foreign = set(db.table_names()) - _OUR_TABLES
            if foreign:
                raise OperatorError(
                    f"not a camaudit database (has tables {', '.join(sorted(foreign))}); use another --db",
                    path=label)
        for version in range(before, target):
            for statement in MIGRATIONS[version]:
                db.execute(statement)
        after = max(before, target)
        if after != before:
            db.execute(f"PRAGMA user_version = {int(after)}")
    return before, after
