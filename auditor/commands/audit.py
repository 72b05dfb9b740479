"""``camaudit audit --config FILE`` (the unattended, cron-safe run) and ``camaudit schedule``."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import sys
from datetime import datetime
from pathlib import Path

import click

from ..config import AuditConfig, load_config
from ..credentials import load_credentials
from ..errors import OperatorError
from ..outputs import check_directory, check_output_path
from ..pipeline import AuditRequest, run_audit
from ..probes.engine import ScanOptions
from ..report import write_text
from ..retention import prune_reports
from ..scope import build_scope
from ..store.core import DEFAULT_KEEP_OBSERVATIONS
from .options import FiniteRange
from .progress import TerminalProgress
from .summary import exit_code, summary_line

log = logging.getLogger("camaudit.audit")

EXIT_CODES = """\b
Exit codes:
  0  compliant: no unwaived finding at or above fail_on
  1  findings at or above fail_on
  2  bad config / rules / credentials, scan failed or interrupted, or another run holds the lock"""


def _config_error(cfg: AuditConfig, key: str, exc: OperatorError) -> OperatorError:
    """An output problem found before the scan, named at the config line that set it."""
    where = f" ({exc.path})" if exc.path else ""
    message = exc.message if exc.message.startswith(f"{key}:") else f"{key}: {exc.message}"
    return OperatorError(f"{message}{where}", str(cfg.path), cfg.lines.get(key))


def _attach_log_file(cfg: AuditConfig, path: Path) -> None:
    try:
        check_output_path(path, "log file")
        if path.exists() and not path.is_file():
            raise OperatorError("log file: not a regular file", str(path))
        handler = logging.FileHandler(path, encoding="utf-8")
    except OperatorError as exc:
        raise _config_error(cfg, "log_file", exc) from None
    except OSError as exc:
        raise _config_error(cfg, "log_file", OperatorError(f"cannot open: {exc.strerror}", str(path))) from None
    handler.setFormatter(logging.Formatter("%(asctime)s camaudit[%(process)d] %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))


@click.command(epilog=EXIT_CODES)
@click.option("-c", "--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Audit config (YAML or TOML); see examples/audit.yaml.")
@click.option("--wait", "wait_s", type=FiniteRange(0, 86400), default=None,
              help="If another run holds the database, wait up to this many seconds instead of exiting 2.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success (errors still go to stderr).")
def audit(config_path: Path, wait_s: float | None, quiet: bool) -> None:
    """Run one complete audit as the config describes: scan, identify, check, store, report."""
    cfg = load_config(config_path)
    if cfg.log_file:
        _attach_log_file(cfg, cfg.log_file)
    try:
        scope = build_scope(cfg.targets, cfg.excludes, allow_public=cfg.allow_public, allow_large=cfg.allow_large)
    except OperatorError as exc:  # the scope as a whole (public, too large, empty): name the config's targets
        if exc.path is not None:
            raise
        raise OperatorError(exc.message, str(cfg.path), cfg.lines.get("targets")) from None
    creds = load_credentials(cfg.credentials) if cfg.credentials else None
    try:
        check_directory(cfg.report_dir, "report_dir", create=True)
    except OperatorError as exc:
        raise _config_error(cfg, "report_dir", exc) from None
    stem = cfg.report_stem(datetime.now())
    reports = [(fmt, cfg.report_dir / f"{stem}.{fmt}") for fmt in cfg.formats]
    for fmt, report_path in reports:
        try:
            check_output_path(report_path, f"{fmt} report")
        except OperatorError as exc:
            raise _config_error(cfg, "report_name", exc) from None
    options = ScanOptions(scope=scope, interface=cfg.interface, probes=cfg.probes, limits=cfg.limits,
                          timeout=cfg.timeout, deadline=cfg.deadline, credentials=creds,
                          check_default_credentials=cfg.check_default_credentials)
    request = AuditRequest(options=options, db_path=cfg.database, rules=list(cfg.rules), site=cfg.site,
                           reports=reports, fail_on=cfg.fail_on,
                           lock_timeout=wait_s if wait_s is not None else 1.0,
                           keep_observations=cfg.keep_observations or DEFAULT_KEEP_OBSERVATIONS)
    log.info("audit of %s started (config %s)", cfg.site, config_path)
    progress = TerminalProgress(enabled=False if quiet else None)
    try:
        result = run_audit(request, progress)
    finally:
        progress.close()
    from ..store import Store

    with Store(cfg.database) as store:
        store.record_report_files(result.scan_id, cfg.key, [(fmt, p) for fmt, p in reports if p in result.written])
        if cfg.keep_reports:
            for old in prune_reports(store, cfg.key, cfg.keep_reports):
                log.info("retention: removed %s", old)
        if cfg.keep_scans:
            pruned = store.prune(keep_last=cfg.keep_scans, site=cfg.site)
            if pruned:
                log.info("retention: removed %d old scan(s)", pruned)
    line = summary_line(result.document)
    log.info("%s", line)
    if not quiet:
        click.echo(f"{line}; report {reports[0][1] if reports else '-'}")
    sys.exit(exit_code(result))


def installed_command() -> str:
    """How the scheduler should start this very installation: the ``camaudit`` script beside
    the running interpreter (a virtual environment's), else one on PATH, else ``python -m``."""
    beside = Path(sys.executable).parent / "camaudit"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("camaudit") or f"{sys.executable} -m auditor"


def unit_files(site: str, cmd: str, hour: int, minute: int) -> dict[str, str]:
    """The systemd service and timer of a nightly audit, by file name."""
    service = f"""[Unit]
Description=camaudit nightly camera-fleet audit ({site})
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={cmd}
# exit 1 = findings at or above fail_on: the run worked, the fleet is not compliant
SuccessExitStatus=1
Nice=10
"""
    timer = f"""[Unit]
Description=Run camaudit nightly

[Timer]
OnCalendar=*-*-* {hour:02d}:{minute:02d}:00
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {"camaudit.service": service, "camaudit.timer": timer}


@click.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(path_type=Path))
@click.option("--at", "at", default="03:15", show_default=True, help="Time of day (HH:MM) for the nightly run.")
@click.option("--systemd-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write camaudit.service and camaudit.timer into this directory (e.g. /etc/systemd/system) "
                   "instead of printing them.")
def schedule(config_path: Path, at: str, systemd_dir: Path | None) -> None:
    """Print a crontab line and a systemd service + timer pair for a nightly audit (or write
    the pair into --systemd-dir)."""
    cfg = load_config(config_path)  # refuse to schedule a config that would fail
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", at)
    if not m:
        raise click.BadParameter("expected HH:MM", param_hint="--at")
    hour, minute = int(m.group(1)), int(m.group(2))
    exe = installed_command()
    cfg_abs = cfg.path.resolve()
    cmd = f"{exe} audit --config {shlex.quote(str(cfg_abs))} --quiet"
    units = unit_files(cfg.site, cmd, hour, minute)
    if systemd_dir is not None:
        for name, text in units.items():
            target = systemd_dir / name
            try:
                systemd_dir.mkdir(parents=True, exist_ok=True)
                write_text(target, text)
            except OSError as exc:
                raise OperatorError(f"cannot write the unit: {exc.strerror or exc}", str(target)) from exc
            click.echo(f"wrote {target}")
        click.echo("enable with: systemctl daemon-reload && systemctl enable --now camaudit.timer")
        return
    click.echo(f"""# --- crontab (crontab -e as root) ---
{minute} {hour} * * * {cmd}

# --- /etc/systemd/system/camaudit.service ---
{units["camaudit.service"]}
# --- /etc/systemd/system/camaudit.timer ---
{units["camaudit.timer"]}
# enable with: systemctl daemon-reload && systemctl enable --now camaudit.timer""")
