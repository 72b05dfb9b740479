"""`camaudit demo` end to end: the README's first Quick start command, in a scratch directory."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.lab.netns import lab_namespaces

pytestmark = pytest.mark.netns
CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))


@pytest.fixture
def tag() -> str:
    from conftest import netns_available

    ok, reason = netns_available()
    if not ok:
        pytest.skip(reason)
    return "d" + secrets.token_hex(3)


def test_demo_audits_the_facility_and_tears_it_down(tmp_path: Path, tag: str) -> None:
    proc = subprocess.run([CAMAUDIT, "demo", "--tag", tag], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("scan 1 complete: ") and "covered" in lines[0]
    assert lines[-1] == f"report:   {tmp_path / 'camaudit-report.html'}"
    html = (tmp_path / "camaudit-report.html").read_text()
    assert "Not compliant" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    doc = json.loads((tmp_path / "camaudit-report.json").read_text())
    assert doc["scan"]["status"] == "complete" and len(doc["devices"]) >= 25
    assert (tmp_path / "camaudit.db").stat().st_size > 0
    assert lab_namespaces(tag) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_tears_the_lab_down_when_stopped(tmp_path: Path, tag: str, sig: signal.Signals) -> None:
    proc = subprocess.Popen([CAMAUDIT, "demo", "--tag", tag], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):  # wait until the lab is up
            if len(lab_namespaces(tag)) > 20:
                break
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lab_namespaces(tag) == []
