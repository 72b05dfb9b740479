"""The scheduled-audit config file (YAML or TOML): load, validate, resolve paths.

Every error is one line naming the file and line (``OperatorError``), so a cron
mail says exactly what to fix. Relative paths are relative to the config file;
``builtin:NAME`` names a rules file camaudit ships (e.g. ``builtin:ndaa-889``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import OperatorError
from .models import SEVERITIES
from .probes.engine import DEFAULT_DEADLINE, DEFAULT_RATE, DEFAULT_TIMEOUT
from .probes.registry import ALL_PROBES
from .resources import data_dir
from .scope import parse_target
from .yamlsrc import LineDict, Source

FORMATS = ("html", "json", "csv")
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
    fail_on: str | None = "high"
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    probes: tuple[str, ...] = ALL_PROBES
    allow_public: bool = False
    allow_large: bool = False
    log_file: Path | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def site_slug(self) -> str:
        """The site name made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.site).strip("-") or "site"

    def report_stem(self, when: datetime) -> str:
        return self.report_name.format(site=self.site_slug, date=when)


def prune_reports(cfg: AuditConfig, keep: int) -> list[Path]:
    """Retention: delete all but the ``keep`` newest reports of this config's naming pattern; return what went."""
    pattern = re.sub(r"\{date[^}]*\}", "*", cfg.report_name).replace("{site}", cfg.site_slug)
    removed: list[Path] = []
    for fmt in cfg.formats:
        files = sorted(cfg.report_dir.glob(f"{pattern}.{fmt}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[keep:]:
            old.unlink(missing_ok=True)
            removed.append(old)
    return removed


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


_KEYS: dict[str, type | tuple[type, ...]] = {
    "site": str, "targets": list, "interface": str, "exclude": list, "rules": list, "credentials": str,
    "database": str, "report_dir": str, "report_name": str, "formats": list, "retention": dict,
    "fail_on": (str, type(None)), "rate": (int, float), "timeout": (int, float), "deadline": (int, float),
    "probes": list, "allow_public": bool, "allow_large": bool, "log_file": str,
}
_REQUIRED = ("site", "targets", "interface")


def _load_yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[str, int]]:
    data = Source(str(path)).load(text)
    if isinstance(data, LineDict):
        return data, dict(data.key_lines)
    return data if data is not None else {}, {}


def _load_toml(path: Path, text: str) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise OperatorError(f"invalid TOML: {exc}", str(path), int(m.group(1)) if m else None) from None
    lines = {}
    for no, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*\[?\s*([A-Za-z_][\w-]*)\s*[=\]]", line)
        if m and m.group(1) not in lines:
            lines[m.group(1)] = no
    return data, lines


def load_config(path: Path) -> AuditConfig:
    """Read and validate an audit config; raise OperatorError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OperatorError(f"cannot read config: {exc.strerror}", str(path)) from None
    data, lines = (_load_toml if path.suffix == ".toml" else _load_yaml)(path, text)
    if not isinstance(data, dict):
        raise OperatorError("config must be a mapping of keys to values", str(path), 1)

    def fail(key: str, message: str) -> OperatorError:
        return OperatorError(message, str(path), lines.get(key))

    for key, value in data.items():
        if key not in _KEYS:
            raise fail(key, f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
        if not isinstance(value, _KEYS[key]) or (isinstance(value, bool) and _KEYS[key] is not bool):
            raise fail(key, f"{key!r} has the wrong type ({type(value).__name__})")
    for key in _REQUIRED:
        if key not in data:
            raise OperatorError(f"missing required key {key!r}", str(path), 1)
    base = path.parent

    def rel(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    def str_list(key: str) -> tuple[str, ...]:
        values = data.get(key, [])
        if not all(isinstance(v, str) for v in values):
            raise fail(key, f"{key!r} must be a list of strings")
        return tuple(values)

    for key in ("targets", "exclude"):
        for entry in str_list(key):
            if not entry.startswith("@"):  # an @file names its own lines when it is read
                try:
                    parse_target(entry)
                except OperatorError as exc:
                    raise fail(key, exc.message) from None
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
    fail_on = data.get("fail_on", "high")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise fail("fail_on", f"fail_on must be one of {', '.join(SEVERITIES)}")
    retention = data.get("retention", {})
    for key, value in retention.items():
        if key not in ("reports", "scans") or not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail("retention", f"retention.{key}: expected 'reports' or 'scans' with a positive integer")
    report_name = data.get("report_name", DEFAULT_REPORT_NAME)
    try:
        report_name.format(site="x", date=datetime(2026, 1, 1))
    except (KeyError, ValueError, IndexError) as exc:
        raise fail("report_name", f"report_name pattern is invalid ({exc}); use {{site}} and {{date:%Y%m%d}}") from None
    for key in ("rate", "timeout", "deadline"):
        if key in data and data[key] <= 0:
            raise fail(key, f"{key} must be positive")
    return AuditConfig(
        path=path, site=data["site"], targets=str_list("targets"), interface=data["interface"],
        excludes=str_list("exclude"), rules=tuple(rules),
        credentials=rel(data["credentials"]) if "credentials" in data else None,
        database=rel(data.get("database", "camaudit.db")), report_dir=rel(data.get("report_dir", ".")),
        report_name=report_name, formats=formats, keep_reports=retention.get("reports"),
        keep_scans=retention.get("scans"), fail_on=fail_on,
        rate=float(data.get("rate", DEFAULT_RATE)), timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
        deadline=float(data.get("deadline", DEFAULT_DEADLINE)), probes=tuple(probes),
        allow_public=data.get("allow_public", False), allow_large=data.get("allow_large", False),
        log_file=rel(data["log_file"]) if "log_file" in data else None, lines=lines,
    )
