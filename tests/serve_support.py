"""Run ``camaudit serve`` on a free loopback port for a test, and stop it (not a test module)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def datasette_skip_reason() -> str | None:
    try:
        import datasette  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            return None  # CI installs the web extra (make test): fail loudly there
        return "Datasette is not installed (pip install -e '.[test,web]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 10.0) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an environment proxy
    with opener.open(url, timeout=timeout) as resp:
        return resp.read()


@contextmanager
def served(db: Path, timeout: float = 30.0) -> Iterator[str]:
    """``camaudit serve --db DB`` on 127.0.0.1:<free port>; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "serve", "--db", str(db), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                said = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"camaudit serve exited {proc.returncode}: {said}")
            try:
                get(base + "/-/versions.json", timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("camaudit serve did not answer in time") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
