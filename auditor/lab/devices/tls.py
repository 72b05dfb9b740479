"""Self-signed certificates for the emulated HTTPS ports: one RSA key per run, one cert per CN.

Uses the ``openssl`` command line (the ``cryptography`` package is not a dependency);
certificates are made lazily and cached, so a fleet of 1000 costs one key generation.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

DEFAULT_CN = "IP Camera"


class CertStore:
    def __init__(self) -> None:
        self._dir: Path | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _workdir(self) -> Path:
        if self._dir is None:
            if shutil.which("openssl") is None:
                raise RuntimeError("the openssl command is needed for emulated HTTPS ports")
            self._dir = Path(tempfile.mkdtemp(prefix="camaudit-lab-tls-"))
            subprocess.run(
                ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", str(self._dir / "key.pem")],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        return self._dir

    def context(self, cn: str | None) -> ssl.SSLContext:
        """Server context presenting a self-signed cert with subject ``CN=cn``."""
        name = cn or DEFAULT_CN
        ctx = self._contexts.get(name)
        if ctx is not None:
            return ctx
        work = self._workdir()
        cert = work / f"cert{len(self._contexts)}.pem"
        subj = "/CN=" + name.replace("\\", "\\\\").replace("/", "\\/").replace("=", "\\=")
        subprocess.run(
            ["openssl", "req", "-new", "-x509", "-key", str(work / "key.pem"), "-subj", subj,
             "-days", "3650", "-sha256", "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(work / "key.pem"))
        self._contexts[name] = ctx
        return ctx

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
