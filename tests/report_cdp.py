"""A minimal Chrome DevTools Protocol client for the report's browser test.

Starts Debian's headless chromium with a fresh profile, talks CDP over the websocket on
127.0.0.1, and keeps every other connection impossible (all host names resolve to nothing,
every proxyable request goes to a closed loopback port): the report must not need the
network, and the test machine must not touch it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-default-browser-check", "--disable-domain-reliability", "--disable-breakpad",
    "--disable-client-side-phishing-detection", "--disable-default-apps", "--disable-extensions",
    "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    # Belt and braces: nothing resolves and every proxied request hits a closed loopback port.
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(RuntimeError):
    pass


class Chromium:
    """``with Chromium() as browser: page = browser.page()`` — one headless browser, one tab."""

    def __init__(self, executable: str | None = None, *, width: int = 1400, height: int = 1000,
                 timeout: float = 20.0, loopback: bool = False) -> None:
        """``loopback``: also reach servers the test runs on 127.0.0.1 (nothing else)."""
        self.loopback = loopback
        self.executable = executable or find_chromium()
        if not self.executable:
            raise CDPError("chromium not installed")
        self.width, self.height, self.timeout = width, height, timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None
        self._ws: Any = None
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        import websocket  # websocket-client, from the test extra

        self._profile = tempfile.mkdtemp(prefix="camaudit-chromium-")
        flags = list(CHROMIUM_FLAGS)
        if self.loopback:
            flags = [f for f in flags if not f.startswith("--host-resolver-rules=")]
            flags += ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-bypass-list=127.0.0.1"]
        self._proc = subprocess.Popen(
            [self.executable, *flags, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise CDPError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an env proxy
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=self.timeout,
                                               suppress_origin=True)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except OSError:
                pass
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == ident:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str) -> dict[str, Any]:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise CDPError(f"no {method} event")

    def load(self, path: Path) -> None:
        self.load_url(path.resolve().as_uri())

    def load_url(self, url: str) -> None:
        """Navigate to ``url`` (a file, or a server the test runs on loopback) and wait for load."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations land here)."""
        out = []
        for ev in self.events:
            p = ev.get("params", {})
            if ev["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif ev["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def dialogs(self) -> list[dict[str, Any]]:
        """Dialogs the page opened (a hostile value that ran would call alert())."""
        return [ev for ev in self.events if ev["method"] == "Page.javascriptDialogOpening"]

    def assert_self_contained(self, page: Path) -> None:
        """The report file loaded cleanly: no error, nothing fetched but itself, no dialog, no image."""
        assert self.errors() == []
        assert self.requests() == [page.resolve().as_uri()]
        assert self.dialogs() == []
        assert self.eval("document.querySelectorAll('img').length") == 0

    def requests(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events
                if ev["method"] == "Network.requestWillBeSent"]

    def screenshot(self, out: Path, *, full_page: bool = False, y: float = 0.0, height: float | None = None) -> None:
        clip = None
        if full_page or height is not None:
            total = self.eval("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": y, "width": self.width, "height": height or total - y, "scale": 1}
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": clip is not None}
        if clip:
            params["clip"] = clip
        data = self.send("Page.captureScreenshot", **params)["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))


def chromium_skip_reason() -> str | None:
    """Why the browser test cannot run here, or None. In CI it must run, so CI never skips."""
    if find_chromium() and _has_websocket():
        return None
    if os.environ.get("CI"):
        return None  # let the test fail loudly
    if not find_chromium():
        return "chromium is not installed (apt-get install chromium); CI installs it"
    return "websocket-client is not installed (pip install -e '.[test]')"


def _has_websocket() -> bool:
    try:
        import websocket  # noqa: F401
    except ImportError:
        return False
    return True
