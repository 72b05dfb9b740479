"""The Quick start's Makefile sets itself up on a fresh Debian machine (no real apt or pip here)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_venv_recipe_installs_python3_venv_when_ensurepip_is_missing(tmp_path):
    # Debian's python3 has no ensurepip until python3-venv is installed: 'python3 -m venv' fails.
    fakebin, log = tmp_path / "bin", tmp_path / "calls.log"
    fakebin.mkdir()
    _script(fakebin / "apt-get", f'echo "apt-get $*" >> {log}\n')
    _script(fakebin / "python3", f"""echo "python3 $*" >> {log}
case "$*" in
  *ensurepip*) grep -q "install.*python3-venv" {log} || exit 1 ;;
  "-m venv "*) mkdir -p "$3/bin" && printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/pip" && chmod +x "$3/bin/pip" ;;
esac
""")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = dict(os.environ, PATH=f"{fakebin}:{os.environ['PATH']}")
    subprocess.run(["make", "-s", "PYTHON=python3", ".venv/.installed-stamp"], cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=30)
    calls = log.read_text().splitlines()
    installs = [i for i, c in enumerate(calls) if c.startswith("apt-get install") and "python3-venv" in c]
    venv = [i for i, c in enumerate(calls) if c.startswith("python3 -m venv")]
    assert installs and venv and installs[0] < venv[0], calls
