"""The workflows the commands run, as library functions.

``run_audit``: one audit, start to end: scope → probes → assemble → identify →
policy → store → report. Shared by ``camaudit scan``, ``audit`` and ``demo`` so the
three can never drift. Rules, credentials and the knowledge base are loaded before
the first packet, so a bad rules file costs no network traffic. Observations reach
the store while the scan runs (in small batches), so a killed or interrupted scan
keeps what it saw.

``run_import``: the same from an inventory file instead of probes (``camaudit classify``):
each row an observation, stored as a scan of kind ``import``.

``reidentify``: a stored scan's observations → identify → policy → the scan's
devices and findings rewritten in one transaction (``camaudit identify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import getpass
import hashlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import __version__, interrupt, neighbours, opfile
from .assemble import assemble
from .completeness import answers, degraded_reason
from .defaultcreds import load_default_credentials
from .errors import Interrupted, OperatorError, StoreError, one_line
from .identify import identify, maker_hints
from .inventory_reader import read_inventory
from .knowledge import KevCatalog, KnowledgeBase, load_knowledge
from .models import SEVERITIES, Device, Finding, Observation
from .outputs import check_output_path
from .policy import (
    STOPPED_ANSWERING,
    Policy,
    always_rule_files,
    default_rule_files,
    device_facts,
    evaluate,
    exceeds,
    load_policy,
)
from .probes.engine import Progress, ScanOptions, run_scan, scan_plan
from .report import write_report
from .resources import data_dir
from .store import Store
from .store.core import DEFAULT_KEEP_OBSERVATIONS

log = logging.getLogger(__name__)

FLUSH_EVERY = 200
FLUSH_SECONDS = 0.5
POST_RESERVE_SHARE = 0.1
POST_RESERVE_MAX = 30.0
"""Of an audit's deadline, this share (at most this many seconds) is kept from the probes
for identification, policy, storing and the reports."""
PROBE_SHARE = 1 - POST_RESERVE_SHARE
"""The least share of the deadline the probes get (``probing_deadline``): what the plan checks the sweep against."""
MIN_REPORT_S = 2.0
"""The reports get at least this long, even when identification used the deadline up."""
STOP_GRACE = 1.0
"""After SIGINT/SIGTERM stopped the probes, what was seen gets this long to be identified and stored."""


@dataclass(kw_only=True)
class StoredRun:
    """What every run that stores a scan and reports on it is given: a network audit or an inventory."""

    db_path: Path
    rules: list[Path] = field(default_factory=list)
    site: str | None = None
    reports: list[tuple[str, Path]] = field(default_factory=list)
    """(format, path) pairs to write after the scan: html, json, csv."""
    fail_on: str | None = None
    lock_timeout: float = 10.0
    today: date | None = None


@dataclass(kw_only=True)
class AuditRequest(StoredRun):
    options: ScanOptions
    keep_observations: int | None = DEFAULT_KEEP_OBSERVATIONS
    """Raw observations kept for the site's newest this many scans (None: all)."""


@dataclass
class AuditResult:
    scan_id: int
    status: str
    document: dict[str, Any]
    findings: list[Finding]
    failed: bool
    """True if an unwaived finding is at or above ``fail_on``, or a device stopped answering during the audit."""
    written: list[Path]

    @property
    def went_dark(self) -> list[str]:
        """Addresses of the devices that stopped answering during the audit (the re-check's findings)."""
        return [f.ip for f in self.findings if f.rule_id == STOPPED_ANSWERING]


class _StoreSink:
    """Buffers observations and writes them in small batches while the scan runs.

    A store that cannot take them (a full disk, a damaged file) stops the scan: the error
    is kept (``error``), ``on_error`` asks the engine to stop, and ``run_audit`` records
    the scan as failed with it. The probes never see it.
    """

    def __init__(self, store: Store, scan_id: int) -> None:
        self.store, self.scan_id = store, scan_id
        self.all: list[Observation] = []
        self._pending: list[Observation] = []
        self._last = time.monotonic()
        self.error: StoreError | None = None
        self.on_error: Callable[[], object] = lambda: None

    def __call__(self, obs: Observation) -> None:
        self.all.append(obs)
        self._pending.append(obs)
        if len(self._pending) >= FLUSH_EVERY or time.monotonic() - self._last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending and self.error is None:
            try:
                self.store.add_observations(self.scan_id, self._pending)
            except StoreError as exc:
                self.error = exc
                self.on_error()
            self._pending = []
        self._last = time.monotonic()

    def check(self) -> None:
        """Raise the store's error, if writing failed while the scan ran."""
        if self.error is not None:
            raise self.error


def load_rules(paths: list[Path]) -> Policy:
    """The operator's rules files (or the shipped NDAA 889 + hardening policies when none are named),
    then the scan-safety rules, which apply whatever the operator chose."""
    return load_policy([*(paths or default_rule_files()), *always_rule_files()])


def check_fail_on(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise OperatorError(f"--fail-on must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return value


def probing_deadline(deadline: float) -> float:
    """The part of an audit's ``deadline`` the probes get: the rest is kept for identification,
    policy, storing and the reports, so the whole audit ends inside its deadline."""
    return max(deadline - min(POST_RESERVE_MAX, deadline * POST_RESERVE_SHARE), deadline * 0.5)


def run_audit(request: AuditRequest, progress: Progress | None = None) -> AuditResult:
    """Run one audit, inside ``request.options.deadline`` from the first packet to the last report.

    SIGINT/SIGTERM while the probes run stop them (status interrupted) and what was seen is
    still identified, checked and stored, within ``STOP_GRACE`` seconds. Anything that stops
    the run later — another signal, the deadline running out, a bug — ends it at once: what
    was stored stays, the scan is recorded as interrupted (or failed, for a bug), and the
    exception goes on up with a note naming the scan.
    """
    check_fail_on(request.fail_on)
    # A mistyped interface, or a deadline too short for the scope (of which the probes get their
    # share), is an operator error, not a failed scan.
    plan = scan_plan(request.options, probe_share=PROBE_SHARE)
    deadline = request.options.deadline if request.options.deadline is not None else plan.deadline
    for fmt, path in request.reports:
        check_output_path(path, f"{fmt} report")  # a report that cannot be written costs no traffic
    policy = load_rules(request.rules)
    announce = getattr(progress, "plan", None)
    if callable(announce):
        announce(plan.describe())
    kb = load_knowledge()
    defaults = (load_default_credentials(known_makers=kb.makers)
                if request.options.check_default_credentials else None)
    store = Store(request.db_path, lock_timeout=request.lock_timeout, keep_observations=request.keep_observations)
    try:
        catalog = store.kev_catalog()
        kb = kb.with_catalog(catalog)
        meta = {
            "targets": list(request.options.scope.targets),
            "excludes": list(request.options.scope.excludes),
            "interface": request.options.interface,
            "probes": list(request.options.probes),
            "rules": [(str(p), h) for p, h in policy.files],
            "site": request.site,
            "operator": getpass.getuser(),
            "host": socket.gethostname(),
            "tool_version": __version__,
            "kb_version": kb.version,
        }
        scan_id = store.begin_scan(meta)
        ends_at = time.monotonic() + deadline
        sink = _StoreSink(store, scan_id)
        stats: dict[str, Any] = {}
        try:
            options = dataclasses.replace(request.options, deadline=probing_deadline(deadline),
                                          maker_hints=lambda seen: maker_hints(seen, kb),
                                          default_credentials=defaults)
            table_before = neighbours.read_table()
            if warning := neighbours.capacity_warning(table_before, plan.on_link):
                log.warning("%s", warning)
            with interrupt.keep_handlers():
                outcome = asyncio.run(_scan_with_signals(options, sink, progress))
            table_after = neighbours.read_table()
            stats = dict(outcome.stats, **_knowledge_stats(catalog, defaults is not None))
            if table_after is not None:
                stats["neighbour_table"] = {"limit": table_after.limit, "entries": table_after.entries,
                                            "overflows": table_after.table_fulls - table_before.table_fulls
                                            if table_before is not None else None}
            budget, why = ends_at - time.monotonic(), "the deadline ran out"
            if outcome.stats.get("stopped_by_operator"):
                budget, why = min(budget, STOP_GRACE), "stopped while the probes ran"
            with interrupt.alarm(budget, f"{why} while identifying, checking and storing what was seen"):
                sink.flush()
                sink.check()  # the store failed while the probes ran (a full disk): the scan failed
                devices, findings = _record(store, scan_id, sink.all, policy, kb, request.today)
                final_status, final_stats = outcome.status, dict(stats, devices=len(devices))
                reasons = [r for r in (neighbours.overflow_reason(table_before, table_after),
                                       _degraded(store, scan_id, sink.all, request.options.probes)) if r]
                if final_status == "complete" and reasons:
                    final_status, final_stats["degraded"] = "degraded", "; ".join(reasons)
                with interrupt.shielded():
                    store.finish_scan(scan_id, final_status, final_stats)
        except BaseException as exc:
            # Whatever broke (a bug, a signal, the deadline), the row must not stay "running".
            interrupted = isinstance(exc, Interrupted | KeyboardInterrupt)
            status = "interrupted" if interrupted else "failed"
            reason = exc.reason if isinstance(exc, Interrupted) else f"{type(exc).__name__}: {exc}"
            with interrupt.shielded():
                with contextlib.suppress(Exception):
                    sink.flush()
                with contextlib.suppress(Exception):
                    store.finish_scan(scan_id, status, dict(stats, **{status: one_line(reason, 300)}))
            exc.add_note(f"scan {scan_id} recorded as {status}"
                         + (" (what was seen is stored)" if interrupted else ""))
            raise
        document = store.scan_document(scan_id)
    finally:
        store.close()
    try:
        with interrupt.alarm(max(ends_at - time.monotonic(), MIN_REPORT_S),
                             "the deadline ran out while writing the reports"):
            written = write_reports(document, request.reports, request.site, scan_id)
    except Interrupted as exc:
        exc.add_note(f"scan {scan_id} is stored ({outcome.status}); write its reports with "
                     f"camaudit report --scan {scan_id} -o FILE")
        raise
    # A device the audit left dark fails the run whatever --fail-on says: someone must look at it now.
    failed = (bool(request.fail_on) and exceeds(findings, request.fail_on)  # type: ignore[arg-type]
              or any(f.rule_id == STOPPED_ANSWERING for f in findings))
    return AuditResult(scan_id, final_status, document, findings, failed, written)


def _degraded(store: Store, scan_id: int, observations: list[Observation], probes: tuple[str, ...]) -> str | None:
    """Why a scan that ran to its end is not a complete audit (see ``auditor.completeness``)."""
    previous = store.previous_answers(scan_id)
    if previous is None:
        return None
    previous_id, previous_probes, before = previous
    return degraded_reason(answers(observations), probes, before, previous_id, previous_probes)


def _knowledge_stats(catalog: KevCatalog | None, default_check: bool) -> dict[str, Any]:
    """What the scan's method section says of the KEV data and the factory-default check."""
    return {
        "kev_catalog": None if catalog is None else {"version": catalog.version, "released": catalog.released,
                                                      "entries": len(catalog.entries)},
        "default_credentials_check": default_check,
    }


def write_reports(document: dict[str, Any], reports: list[tuple[str, Path]], site: str | None,
                  scan_id: int) -> list[Path]:
    """Write each report; one that still fails (disk full, a directory gone since the check)
    is an ``OperatorError`` naming it — the scan is stored and can be rendered again."""
    written = []
    for fmt, path in reports:
        try:
            write_report(document, path, fmt, site=site)
        except OSError as exc:
            raise OperatorError(f"cannot write the {fmt} report: {exc.strerror or exc}; scan {scan_id} is stored "
                                f"(camaudit report --scan {scan_id} -o FILE)", str(path)) from None
        written.append(path)
    return written


def _record(store: Store, scan_id: int, observations: list[Observation], policy: Policy, kb: KnowledgeBase,
            today: date | None) -> tuple[list[Device], list[Finding]]:
    """Observations → devices (assemble, identify) → facts → findings, all written to the scan."""
    devices = [Device(host=h, identity=identify(h, kb)) for h in assemble(observations, kb.mac_from_serial)]
    facts = {d.key: device_facts(d, kb, policy) for d in devices}
    findings: list[Finding] = evaluate(policy, devices, today=today, kb=kb, known_facts=facts)
    store.record_results(scan_id, devices, facts, findings)
    store.add_waivers(scan_id, policy.waiver_status(today, devices))
    return devices, findings


# ---------------------------------------------------------------- importing an inventory


@dataclass(kw_only=True)
class ImportRequest(StoredRun):
    """``camaudit classify``: an inventory file instead of a network scan."""

    path: Path


def run_import(request: ImportRequest) -> AuditResult:
    """Classify an inventory a site already has: its rows → observations → the same assembly,
    identification, policy, store and reports as a scan, stored as a scan of kind ``import``.

    The file, the rules and the knowledge base are read before the database is touched: a bad
    file is an ``OperatorError`` naming the file and row, and records nothing.
    """
    check_fail_on(request.fail_on)
    for fmt, path in request.reports:
        check_output_path(path, f"{fmt} report")
    policy = load_rules(request.rules)
    kb = load_knowledge()
    inventory = read_inventory(request.path)
    store = Store(request.db_path, lock_timeout=request.lock_timeout)
    try:
        kb = kb.with_catalog(store.kev_catalog())
        meta = {
            "kind": "import",
            "source": inventory.source(),
            "rules": [(str(p), h) for p, h in policy.files],
            "site": request.site,
            "operator": getpass.getuser(),
            "host": socket.gethostname(),
            "tool_version": __version__,
            "kb_version": kb.version,
        }
        scan_id = store.begin_scan(meta)
        observations = list(inventory.observations)
        try:
            store.add_observations(scan_id, observations)
            devices, findings = _record(store, scan_id, observations, policy, kb, request.today)
            with interrupt.shielded():
                store.finish_scan(scan_id, "complete", {"rows": len(observations), "devices": len(devices),
                                                        "addresses": len({o.ip for o in observations})})
        except BaseException as exc:
            # A signal or a bug mid-import: the row must not stay "running".
            status = "interrupted" if isinstance(exc, Interrupted | KeyboardInterrupt) else "failed"
            with interrupt.shielded(), contextlib.suppress(Exception):
                store.finish_scan(scan_id, status, {status: one_line(f"{type(exc).__name__}: {exc}", 300)})
            exc.add_note(f"import {scan_id} recorded as {status}")
            raise
        document = store.scan_document(scan_id)
    finally:
        store.close()
    written = write_reports(document, request.reports, request.site, scan_id)
    failed = bool(request.fail_on) and exceeds(findings, request.fail_on)  # type: ignore[arg-type]
    return AuditResult(scan_id, "complete", document, findings, failed, written)


async def _scan_with_signals(options: ScanOptions, sink: _StoreSink, progress: Progress | None) -> Any:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in interrupt.STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    sink.on_error = lambda: loop.call_soon_threadsafe(stop.set)  # the store failed: stop probing
    try:
        return await run_scan(options, sink, progress, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# ---------------------------------------------------------------- re-identification


IdentityView = tuple[str | None, str | None, bool]
"""(maker, device class, covered): what a person compares before and after."""


@dataclass(frozen=True)
class IdentityChange:
    ip: str
    before: IdentityView | None
    """None: the device was not in the scan before (the assembly changed)."""
    after: IdentityView


@dataclass(frozen=True)
class ReidentifyResult:
    scan_id: int
    devices: int
    kb_version: str
    changes: tuple[IdentityChange, ...]
    notes: tuple[str, ...]
    """E.g. a rules file that changed since the scan (findings follow the current file)."""
    findings_evaluated: bool
    """False when the scan recorded no rules files and none were given: findings left as they were."""
    written: bool
    """False for a dry run."""


def scan_rules(recorded: list[dict[str, Any]], given: list[Path]) -> tuple[list[Path], list[str]]:
    """The rules files to re-evaluate with: ``given`` if any, else those the scan recorded.

    Returns (paths, notes); a recorded file that is gone is an operator error, one that
    changed since the scan is a note (findings then follow the current file).
    """
    if given:
        return list(given), []
    paths, notes = [], []
    for entry in recorded:
        path = Path(entry["path"])
        if path.suffix not in (".yaml", ".yml"):
            continue  # inventory CSVs are read through their rules file
        if not path.is_file():
            shipped = _shipped_equivalent(path)
            if shipped is None:
                raise OperatorError(f"the scan was checked with {path}, which no longer exists; pass --rules FILE")
            same = hashlib.sha256(opfile.read_bytes(shipped, "rules file")).hexdigest() == entry.get("sha256")
            notes.append(f"note: {path} (a shipped rules file of the camaudit that ran the scan) is gone; "
                         f"findings follow this camaudit's builtin:{shipped.stem}"
                         + ("" if same else ", which changed since the scan"))
            paths.append(shipped)
            continue
        if hashlib.sha256(opfile.read_bytes(path, "rules file")).hexdigest() != entry.get("sha256"):
            notes.append(f"note: {path} changed since the scan; findings follow the current file")
        paths.append(path)
    return paths, notes


def _shipped_equivalent(path: Path) -> Path | None:
    """This camaudit's copy of a shipped rules file that a scan recorded at an older install's
    path (``.../rules/ndaa-889.yaml`` of an upgraded or moved camaudit); None for the operator's own."""
    if path.parent.name != "rules":
        return None
    candidate = data_dir("rules") / path.name
    return candidate if candidate.is_file() else None


def scan_day(scan: dict[str, Any]) -> dt.date | None:
    """The local date the scan ran: waivers are judged as of then, as the scan itself did
    (the scan's stored waivers keep their states; findings must agree with them)."""
    started = scan.get("started_at")
    if not started:
        return None
    return dt.datetime.fromisoformat(str(started).replace("Z", "+00:00")).astimezone().date()


def _view(identity: Any) -> IdentityView:
    return (identity.maker, identity.device_class, identity.covered)


def reidentify(store: Store, scan_id: int, rules: list[Path] | None = None, *, dry_run: bool = False,
               kb: KnowledgeBase | None = None) -> ReidentifyResult:
    """Re-run identification on a stored scan with the current knowledge base.

    Stored observations are kept; each device's identity (maker, brand, class, covered,
    evidence, conflicts) is recomputed, and the scan's findings are re-evaluated with
    ``rules`` (default: the rules files the scan recorded), waivers judged on the scan's
    own date. Devices and findings are rewritten in one transaction; ``dry_run`` only
    reports what would change. ``OperatorError`` if there is no such scan.
    """
    kb = (kb or load_knowledge()).with_catalog(store.kev_catalog())
    before = {d.key: d.identity for d in store.load_devices(scan_id)}
    scan = store.scan(scan_id)
    paths, notes = scan_rules(scan.get("rules") or [], list(rules or []))
    policy = load_policy(paths) if paths else None
    devices = [Device(host=h, identity=identify(h, kb)) for h in store.hosts(scan_id)]
    changes = []
    for device in devices:
        old = before.get(device.key)
        old_view, new_view = (_view(old) if old else None), _view(device.identity)
        if old_view != new_view:
            changes.append(IdentityChange(device.ip, old_view, new_view))
    if not dry_run:
        facts = {d.key: device_facts(d, kb, policy) for d in devices}
        findings = None if policy is None else evaluate(policy, devices, kb=kb, today=scan_day(scan))
        store.rewrite_identification(scan_id, devices, facts, findings)
    return ReidentifyResult(scan_id, len(devices), kb.version, tuple(changes), tuple(notes),
                            findings_evaluated=policy is not None, written=not dry_run)
