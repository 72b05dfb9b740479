"""The scheduled-audit config file (YAML or TOML): load, validate, resolve paths.

Every error is one line naming the file and line (``OperatorError``), so a cron
mail says exactly what to fix. Relative paths are relative to the config file;
``builtin:NAME`` names a rules file camaudit ships (e.g. ``builtin:ndaa-889``).
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import opfile
from .errors import OperatorError, shown
from .models import SEVERITIES
from .probes.engine import DEFAULT_TIMEOUT
from .probes.pacing import PROFILES, Limits, resolve_limits
from .probes.registry import ALL_PROBES
from .resources import data_dir
from .scope import parse_target, read_target_file

FORMATS = ("html", "json", "csv")
LIMITS: dict[str, tuple[float, float]] = {
    "rate": (1.0, 100_000.0),
    "host_rate": (0.1, 10_000.0),
    "host_connections": (1, 256),
    "timeout": (0.1, 3600.0),
    "deadline": (1.0, 7 * 86400.0),
}
"""Bounds of the pacing numbers, for the config and the command-line options alike."""
DEFAULT_REPORT_NAME = "camaudit-{site}-{date:%Y%m%d-%H%M%S}"


@dataclass(frozen=True)
class AuditConfig:
    path: Path
    site: str
    targets: tuple[str, ...]
    interface: str
    excludes: tuple[str, ...] = ()
    rules: tuple[Path, ...] = ()
    credentials: Path | None = None
    database: Path = Path("camaudit.db")
    report_dir: Path = Path(".")
    report_name: str = DEFAULT_REPORT_NAME
    formats: tuple[str, ...] = ("html", "json")
    keep_reports: int | None = None
    keep_scans: int | None = None
    keep_observations: int | None = None
    """Raw observations kept for this many of the site's newest scans (None: the store's default)."""
    fail_on: str | None = "high"
    limits: Limits = PROFILES["default"]
    """The pacing: ``profile`` with ``rate``, ``host_rate`` and ``host_connections`` on top."""
    timeout: float = DEFAULT_TIMEOUT
    deadline: float | None = None
    """The whole audit's; None: the default for the scope (300 s plus twice the sweep; see ``probes.plan``)."""
    probes: tuple[str, ...] = ALL_PROBES
    allow_public: bool = False
    allow_large: bool = False
    check_default_credentials: bool = False
    """Try the makers' factory-default accounts (opt-in; README "Checking for factory-default passwords")."""
    log_file: Path | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def site_slug(self) -> str:
        """The site name made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.site).strip("-") or "site"

    def report_stem(self, when: datetime) -> str:
        """The report's file name without extension; ``OperatorError`` (the config's report_name
        line) if this date makes it unusable."""
        stem = self.report_name.format(site=self.site_slug, date=when)
        problem = report_stem_problem(stem)
        if problem:
            raise OperatorError(f"report_name gives {shown(stem)}: {problem}", str(self.path),
                                self.lines.get("report_name"))
        return stem

    @property
    def key(self) -> str:
        """What the database records this config's report files under (for retention)."""
        return str(self.path.resolve())


REPORT_NAME_FIELDS = ("site", "date")
_MAX_STEM = 200
"""Bytes a report name may have before its extension (file systems take 255)."""


def report_name_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable report_name, or None: only ``{site}`` and ``{date:…}``
    (no attribute or index access such as ``{date.__class__}``, no nested fields)."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        return f"pattern is invalid ({exc})"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in REPORT_NAME_FIELDS:
            return f"unknown field {{{shown(name, 30)[1:-1]}}}; use {{site}} and {{date:%Y%m%d-%H%M%S}}"
        if conversion or (spec and ("{" in spec or "}" in spec)):
            return "fields take a format only ({date:%Y%m%d}), no conversion or nested field"
    return None


def report_stem_problem(stem: str) -> str | None:
    """Why a rendered report name cannot be a file in report_dir, or None."""
    if not stem.strip() or stem.strip(".") == "":
        return "an empty name"
    if "/" in stem or "\\" in stem or os.sep in stem:
        return "a path, not a file name (report files stay inside report_dir)"
    if any(ord(c) < 32 or ord(c) == 127 for c in stem):
        return "control characters in a file name"
    if len(os.fsencode(stem)) > _MAX_STEM:
        return f"longer than {_MAX_STEM} bytes"
    return None


def rules_path(entry: str, base: Path | None = None) -> Path:
    """A rules reference as given on the command line or in a config: ``builtin:NAME`` or a path."""
    if entry.startswith("builtin:"):
        name = entry.removeprefix("builtin:")
        candidate = data_dir("rules") / f"{name}.yaml"
        if not candidate.is_file():
            shipped = sorted(p.stem for p in data_dir("rules").glob("*.yaml"))
            raise OperatorError(f"no shipped rules file {entry!r} (shipped: {', '.join(shipped)})")
        return candidate
    path = Path(entry).expanduser()
    return path if path.is_absolute() or base is None else base / path


_KEYS = ("site", "targets", "interface", "exclude", "rules", "credentials", "database", "report_dir", "report_name",
         "formats", "retention", "fail_on", "profile", "rate", "host_rate", "host_connections", "timeout", "deadline",
         "probes", "allow_public", "allow_large",
         "log_file", "check_default_credentials")
_REQUIRED = ("site", "targets", "interface")


def load_config(path: Path) -> AuditConfig:
    """Read and validate an audit config (YAML, or TOML by its suffix); raise OperatorError naming file and line."""
    root = opfile.load(path, "config", toml=True).root
    if root.data is None:
        root = opfile.Value(root.path, opfile.LineDict(1), 1)
    top = root.mapping("config", _KEYS, _REQUIRED)
    lines = {key: value.key_line for key, value in top.items() if value.key_line is not None}
    base = path.parent

    def fail(key: str, message: str) -> OperatorError:
        return OperatorError(message, str(path), lines.get(key))

    def rel(key: str, default: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(top[key].string(f"{key!r}") if key in top else default).expanduser()
        return p if p.is_absolute() else base / p

    def optional_rel(key: str) -> Path | None:
        return rel(key, "") if key in top else None

    def str_list(key: str) -> tuple[str, ...]:
        return tuple(top[key].strings(f"{key!r}")) if key in top else ()

    def number(key: str, default: float) -> float:
        if key not in top:
            return default
        value = top[key].number(f"{key!r}")
        low, high = LIMITS[key]
        if not low <= value <= high:
            raise fail(key, f"{key} must be between {low:g} and {high:g}")
        return value

    def optional_number(key: str) -> float | None:
        return number(key, 0.0) if key in top else None

    def flag(key: str) -> bool:
        return top[key].boolean(f"{key!r}") if key in top else False

    scope_entries: dict[str, list[str]] = {}
    for key in ("targets", "exclude"):
        entries = scope_entries.setdefault(key, [])
        for entry in str_list(key):
            if entry.startswith("@"):  # relative to the config file, like every path in it
                target_file = Path(entry[1:]).expanduser()
                target_file = target_file if target_file.is_absolute() else base / target_file
                _check_target_file(target_file, path, lines.get(key), key)
                entries.append(f"@{target_file}")
                continue
            try:
                parse_target(entry)
            except OperatorError as exc:
                raise fail(key, exc.message) from None
            entries.append(entry)
    rules = []
    for entry in str_list("rules"):
        try:
            rules.append(rules_path(entry, base))
        except OperatorError as exc:
            raise fail("rules", exc.message) from None
    formats = str_list("formats") or ("html", "json")
    if bad := [f for f in formats if f not in FORMATS]:
        raise fail("formats", f"unknown report format(s) {', '.join(bad)}; known: {', '.join(FORMATS)}")
    probes = str_list("probes") or ALL_PROBES
    if bad := [p for p in probes if p not in ALL_PROBES]:
        raise fail("probes", f"unknown probe(s) {', '.join(bad)}; known: {', '.join(ALL_PROBES)}")
    fail_on = top["fail_on"].scalar("'fail_on'") if "fail_on" in top else "high"
    if fail_on is not None and fail_on not in SEVERITIES:
        raise fail("fail_on", f"fail_on must be one of {', '.join(SEVERITIES)}")
    retention: dict[str, int] = {}
    for key, value in (top["retention"].mapping("'retention'") if "retention" in top else {}).items():
        keep = value.data
        if key not in ("reports", "scans", "observations") or not isinstance(keep, int) or isinstance(keep, bool) \
                or keep < 1:
            raise fail("retention", f"retention.{key}: expected 'reports', 'scans' or 'observations' "
                                    "with a positive integer")
        retention[key] = keep
    report_name = top["report_name"].string("'report_name'") if "report_name" in top else DEFAULT_REPORT_NAME
    if problem := report_name_problem(report_name):
        raise fail("report_name", f"report_name {problem}")
    try:
        sample = report_name.format(site="site", date=datetime(2026, 12, 31, 23, 59, 59))
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise fail("report_name", f"report_name pattern is invalid ({exc}); use {{site}} and {{date:%Y%m%d}}") from None
    if problem := report_stem_problem(sample):
        raise fail("report_name", f"report_name gives {shown(sample)}: {problem}")
    profile = top["profile"].string("'profile'") if "profile" in top else "default"
    if profile not in PROFILES:
        raise fail("profile", f"profile must be one of {', '.join(PROFILES)}")
    connections = None
    if "host_connections" in top:
        connections = top["host_connections"].integer("'host_connections'")
        low, high = LIMITS["host_connections"]
        if not low <= connections <= high:
            raise fail("host_connections", f"host_connections must be between {low:g} and {high:g}")
    limits = resolve_limits(profile, rate=optional_number("rate"), host_rate=optional_number("host_rate"),
                            host_connections=connections)
    return AuditConfig(
        path=path, site=top["site"].string("'site'"), targets=tuple(scope_entries["targets"]),
        interface=top["interface"].string("'interface'"), excludes=tuple(scope_entries["exclude"]),
        rules=tuple(rules),
        credentials=optional_rel("credentials"), database=rel("database", "camaudit.db"),
        report_dir=rel("report_dir", "."),
        report_name=report_name, formats=formats, keep_reports=retention.get("reports"),
        keep_scans=retention.get("scans"), keep_observations=retention.get("observations"),
        fail_on=fail_on,
        limits=limits, timeout=number("timeout", DEFAULT_TIMEOUT),
        deadline=optional_number("deadline"), probes=tuple(probes),
        allow_public=flag("allow_public"), allow_large=flag("allow_large"),
        check_default_credentials=flag("check_default_credentials"),
        log_file=optional_rel("log_file"), lines=lines,
    )


def _check_target_file(target_file: Path, config: Path, line: int | None, key: str) -> None:
    """Read an ``@file`` the config names: a file that cannot be read is the config line's
    error; a bad entry in it names its own line and the config line that listed it."""
    try:
        read_target_file(target_file)
    except OperatorError as exc:
        if exc.path == str(target_file) and exc.line is None:
            raise OperatorError(f"{key}: @{target_file}: {exc.message}", str(config), line) from None
        raise OperatorError(f"{exc.message} (listed in {config}:{line})", exc.path, exc.line) from None
