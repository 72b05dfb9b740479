"""Crashes, signals and the deadline, in every phase of a run (issue 13).

Every way a run can stop early ends the same: one line on stderr, exit 2 (never 1, which
the shipped systemd unit counts as success), what was already stored kept, and a scan in
progress recorded as ``interrupted`` (a signal, the deadline) or ``failed`` (a bug) — never
left ``running``. The scan itself is a fake (no packet leaves): these tests are about the
pipeline and the CLI around it, in the machine's own namespace.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor import pipeline
from auditor.cli import cli
from auditor.models import Observation
from auditor.probes.engine import ScanOutcome
from auditor.store.lock import WriterLock

SIGNALS = [signal.SIGINT, signal.SIGTERM]
SIG_IDS = ["SIGINT", "SIGTERM"]


def _observations() -> list[Observation]:
    return [Observation(ip="127.0.0.2", probe="ports", fields={"open": [80], "banners": {}}),
            Observation(ip="127.0.0.3", probe="ports", fields={"open": [554], "banners": {}})]


def fake_scan(during: Callable[[asyncio.Event], Any] | None = None) -> Callable[..., Any]:
    """A run_scan that emits two observations, then runs ``during`` (it may wait on the stop event)."""

    async def run(options: Any, emit: Callable[[Observation], None], progress: Any = None,
                  stop: asyncio.Event | None = None) -> ScanOutcome:
        for obs in _observations():
            emit(obs)
        stopped = False
        if during is not None and stop is not None:
            await during(stop)
            stopped = stop.is_set()
        return ScanOutcome("interrupted" if stopped else "complete",
                           {"observations": 2, "stopped_by_operator": stopped, "deadline_hit": False})

    return run


def scan(tmp_path: Path, *extra: str, verbose: bool = False) -> Result:
    return CliRunner().invoke(cli, [*(["-v"] if verbose else []), "scan", "127.0.0.0/29", "-i", "lo",
                                    "--db", str(tmp_path / "a.db"), "--quiet", "--rules", "builtin:ndaa-889", *extra])


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def one_line(result: Result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("camaudit: scan")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def kill_self(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(5)  # the handler raises long before this ends


@pytest.mark.parametrize("sig", SIGNALS, ids=SIG_IDS)
def test_a_signal_while_loading_rules_exits_2_before_any_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               sig: signal.Signals) -> None:
    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "load_rules", lambda paths: kill_self(sig))
    t0 = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - t0 < 1.0
    assert result.exit_code == 2 and "interrupted: stopped by SIG" in one_line(result)
    assert not (tmp_path / "a.db").exists()  # nothing was begun


@pytest.mark.parametrize("sig", SIGNALS, ids=SIG_IDS)
def test_a_signal_while_probing_stops_the_probes_and_keeps_what_was_seen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals) -> None:
    async def wait_for_stop(stop: asyncio.Event) -> None:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), 5)

    monkeypatch.setattr(pipeline, "run_scan", fake_scan(wait_for_stop))
    t0 = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - t0 < 1.5
    assert result.exit_code == 2, result.output
    db = tmp_path / "a.db"
    assert rows(db, "SELECT status FROM scans") == [("interrupted",)]
    assert rows(db, "SELECT COUNT(*) FROM observations") == [(2,)]
    assert rows(db, "SELECT COUNT(*) FROM scan_devices") == [(2,)]  # what was seen is identified too


@pytest.mark.parametrize("sig", SIGNALS, ids=SIG_IDS)
@pytest.mark.parametrize("phase", ["identify", "store"])
def test_a_signal_after_probing_marks_the_scan_interrupted_and_keeps_observations(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals, phase: str) -> None:
    """Before: SIGTERM here exited -15 and left the scan 'running'; SIGINT printed 'Aborted!',
    exited 1 and recorded the scan as failed with 0 devices."""
    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    if phase == "identify":
        monkeypatch.setattr(pipeline, "identify", lambda host, kb: kill_self(sig))
    else:
        # devices and findings are stored in one transaction (Store.record_results); the waivers follow
        monkeypatch.setattr(pipeline.Store, "add_waivers", lambda self, scan_id, waivers: kill_self(sig))
    t0 = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - t0 < 1.5
    line = one_line(result)
    assert result.exit_code == 2 and "interrupted: stopped by SIG" in line
    assert "scan 1 recorded as interrupted (what was seen is stored)" in line
    db = tmp_path / "a.db"
    status, stats = rows(db, "SELECT status, stats FROM scans")[0]
    assert status == "interrupted" and "stopped by SIG" in stats
    assert rows(db, "SELECT COUNT(*) FROM observations") == [(2,)]
    assert rows(db, "SELECT COUNT(*) FROM scan_devices") == [(2 if phase == "store" else 0,)]


@pytest.mark.parametrize("sig", SIGNALS, ids=SIG_IDS)
def test_a_signal_while_audit_waits_for_the_lock_exits_2_within_a_second(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals) -> None:
    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    config = tmp_path / "site.yaml"
    config.write_text("site: S\ntargets: [127.0.0.0/29]\ninterface: lo\ndatabase: a.db\nreport_dir: out\n"
                      "rules: [builtin:ndaa-889]\n")
    holder = WriterLock(Path(f"{tmp_path / 'a.db'}.lock"), "a.db", 0)
    assert holder.try_acquire()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), sig))
    try:
        timer.start()
        t0 = time.monotonic()
        result = CliRunner().invoke(cli, ["audit", "--config", str(config), "--wait", "30", "--quiet"])
        took = time.monotonic() - t0
    finally:
        timer.cancel()
        holder.release()
    assert took < 1.3 and result.exit_code == 2 and "interrupted: stopped by SIG" in one_line(result)
    assert rows(tmp_path / "a.db", "SELECT COUNT(*) FROM scans") == [(0,)]


def test_a_bug_exits_2_with_one_line_and_the_scan_marked_failed(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: every uncaught exception exited 1 — 'findings', which systemd counts as success."""
    def boom(host: Any, kb: Any) -> Any:
        raise KeyError("model")

    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "identify", boom)
    result = scan(tmp_path)
    line = one_line(result)
    assert result.exit_code == 2 and "internal error: KeyError: 'model'" in line and "-v" in line
    assert "scan 1 recorded as failed" in line
    status, stats = rows(tmp_path / "a.db", "SELECT status, stats FROM scans")[0]
    assert status == "failed" and "KeyError" in stats
    verbose = scan(tmp_path, verbose=True)
    assert verbose.exit_code == 2 and "Traceback" in verbose.output and "KeyError" in verbose.output


def test_the_deadline_covers_identification_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow step after the probes (a catastrophic regex was one) cannot push the run past
    --deadline: it is stopped there, the scan recorded as interrupted."""
    def slow(host: Any, kb: Any) -> Any:
        time.sleep(30)

    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "identify", slow)
    t0 = time.monotonic()
    result = scan(tmp_path, "--deadline", "1", "--timeout", "0.2")  # a deadline the scope's sweep fits in
    assert time.monotonic() - t0 < 2.0
    assert result.exit_code == 2 and "the deadline ran out while identifying" in one_line(result)
    assert rows(tmp_path / "a.db", "SELECT status FROM scans") == [("interrupted",)]


def test_the_probes_get_most_of_the_deadline() -> None:
    assert pipeline.probing_deadline(20) == 18 and pipeline.probing_deadline(300) == 270
    assert pipeline.probing_deadline(900) == 870 and pipeline.probing_deadline(1) == 0.9


def test_a_report_that_cannot_be_written_at_the_end_is_one_line_and_the_scan_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "write_report", full)
    report = tmp_path / "r.html"
    result = scan(tmp_path, "--report", str(report))
    line = one_line(result)
    assert result.exit_code == 2 and f"{report}: cannot write the html report: No space left on device" in line
    assert "scan 1 is stored" in line
    assert rows(tmp_path / "a.db", "SELECT status FROM scans") == [("complete",)]


def test_the_systemd_unit_counts_only_findings_as_success(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("site: S\ntargets: [127.0.0.0/29]\ninterface: lo\n")
    result = CliRunner().invoke(cli, ["schedule", "--config", str(config)])
    assert result.exit_code == 0
    unit = [line for line in result.output.splitlines() if line.startswith("SuccessExitStatus")]
    assert unit == ["SuccessExitStatus=1"]  # 2 (errors, interruptions, bugs) must fail the unit


def test_scans_says_why_a_scan_did_not_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "identify", lambda host, kb: kill_self(signal.SIGTERM))
    scan(tmp_path)
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute("INSERT INTO scans (status, started_at, stats) VALUES ('running', 1.0, '{}')")
    con.commit()
    con.close()
    result = CliRunner().invoke(cli, ["scans", "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 0
    assert "scan 1 interrupted: stopped by SIGTERM" in result.output
    assert "scan 2 interrupted: the run recording it ended without finishing (killed" in result.output
    assert "marked it interrupted when it next opened the database" in result.output


def test_reports_still_being_written_at_the_deadline_are_stopped_and_the_scan_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(30)

    monkeypatch.setattr(pipeline, "run_scan", fake_scan())
    monkeypatch.setattr(pipeline, "write_report", slow)
    t0 = time.monotonic()
    result = scan(tmp_path, "--deadline", "1", "--timeout", "0.2", "--report", str(tmp_path / "r.html"))
    assert time.monotonic() - t0 < pipeline.MIN_REPORT_S + 1.5
    line = one_line(result)
    assert result.exit_code == 2 and "the deadline ran out while writing the reports" in line
    assert "scan 1 is stored (complete)" in line
    assert rows(tmp_path / "a.db", "SELECT status FROM scans") == [("complete",)]
