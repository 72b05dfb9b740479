"""A non-editable install (the wheel) finds rules/, seeds/, the templates and the schemas at run time."""

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_install_finds_shipped_data(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheel_dir.glob("camaudit-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)
    # Dependencies come from the test venv's site-packages; the editable install's .pth is not read there,
    # so 'auditor' resolves to the freshly installed wheel, run from a directory outside the checkout.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    code = ("import auditor.resources as r, sys; "
            "print(r.__file__); "
            "[print(n, sorted(x.name for x in r.data_dir(n).iterdir())) "
            "for n in ('rules','seeds','templates','schemas')]")
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": deps}, check=True).stdout
    lines = out.splitlines()
    assert str(env_dir) in lines[0], f"imported the checkout, not the wheel: {lines[0]}"
    rules = next(line for line in lines if line.startswith("rules "))
    assert "ndaa-889.yaml" in rules and "hardening.yaml" in rules
    assert "demo-fleet.yaml" in next(line for line in lines if line.startswith("seeds "))
    assert "report.html" in next(line for line in lines if line.startswith("templates "))
    assert "camaudit-document-v1.schema.json" in next(line for line in lines if line.startswith("schemas "))
