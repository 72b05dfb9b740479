"""One audit, start to end: scope → probes → assemble → identify → policy → store → report.

Shared by ``camaudit scan``, ``audit`` and ``demo`` so the three can never drift.
Rules, credentials and the knowledge base are loaded before the first packet, so a
bad rules file costs no network traffic. Observations reach the store while the
scan runs (in small batches), so a killed or interrupted scan keeps what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from . import __version__
from .assemble import assemble
from .errors import OperatorError
from .identify import identify
from .knowledge import load_knowledge
from .models import SEVERITIES, Device, Finding, Observation
from .policy import Policy, default_rule_files, device_facts, evaluate, exceeds, load_policy
from .probes.engine import Progress, ScanOptions, interface_address, run_scan
from .report import write_report
from .store import Store

FLUSH_EVERY = 200
FLUSH_SECONDS = 0.5


@dataclass
class AuditRequest:
    options: ScanOptions
    db_path: Path
    rules: list[Path] = field(default_factory=list)
    site: str | None = None
    reports: list[tuple[str, Path]] = field(default_factory=list)
    """(format, path) pairs to write after the scan: html, json, csv."""
    fail_on: str | None = None
    lock_timeout: float = 10.0
    today: date | None = None


@dataclass
class AuditResult:
    scan_id: int
    status: str
    document: dict[str, Any]
    findings: list[Finding]
    failed: bool
    """True if an unwaived finding is at or above ``fail_on``."""
    written: list[Path]


class _StoreSink:
    """Buffers observations and writes them in small batches while the scan runs."""

    def __init__(self, store: Store, scan_id: int) -> None:
        self.store, self.scan_id = store, scan_id
        self.all: list[Observation] = []
        self._pending: list[Observation] = []
        self._last = time.monotonic()

    def __call__(self, obs: Observation) -> None:
        self.all.append(obs)
        self._pending.append(obs)
        if len(self._pending) >= FLUSH_EVERY or time.monotonic() - self._last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.store.add_observations(self.scan_id, self._pending)
            self._pending = []
        self._last = time.monotonic()


def load_rules(paths: list[Path]) -> Policy:
    """The operator's rules files, or the shipped NDAA 889 + hardening policies when none are named."""
    return load_policy(paths or default_rule_files())


def check_fail_on(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise OperatorError(f"--fail-on must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return value


def run_audit(request: AuditRequest, progress: Progress | None = None) -> AuditResult:
    """Run one audit; SIGINT/SIGTERM stop the scan (status interrupted) and the rest still runs."""
    check_fail_on(request.fail_on)
    interface_address(request.options.interface)  # a mistyped interface is an operator error, not a failed scan
    policy = load_rules(request.rules)
    kb = load_knowledge()
    store = Store(request.db_path, lock_timeout=request.lock_timeout)
    try:
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
        sink = _StoreSink(store, scan_id)
        try:
            outcome = asyncio.run(_scan_with_signals(request.options, sink, progress))
            sink.flush()
            devices = [Device(host=h, identity=identify(h, kb)) for h in assemble(sink.all)]
            facts = {d.key: device_facts(d, kb, policy) for d in devices}
            findings: list[Finding] = evaluate(policy, devices, today=request.today, kb=kb, known_facts=facts)
            store.add_devices(scan_id, devices, facts)
            store.add_findings(scan_id, findings)
            store.add_waivers(scan_id, policy.waiver_status(request.today, devices))
        except BaseException:
            # Whatever broke (a bug, Ctrl-C after the scan), the row must not stay "running".
            with contextlib.suppress(Exception):
                sink.flush()
            with contextlib.suppress(Exception):
                store.finish_scan(scan_id, "failed", {})
            raise
        store.finish_scan(scan_id, outcome.status, dict(outcome.stats, devices=len(devices)))
        document = store.scan_document(scan_id)
    finally:
        store.close()
    written = []
    for fmt, path in request.reports:
        write_report(document, path, fmt, site=request.site)
        written.append(path)
    failed = bool(request.fail_on) and exceeds(findings, request.fail_on)  # type: ignore[arg-type]
    return AuditResult(scan_id, outcome.status, document, findings, failed, written)


async def _scan_with_signals(options: ScanOptions, sink: _StoreSink, progress: Progress | None) -> Any:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        return await run_scan(options, sink, progress, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
