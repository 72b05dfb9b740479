"""Serve emulated devices on 127.0.0.1 from a background thread — for unit tests, no root needed.

    with LoopbackLab([spec1, spec2]) as lab:
        port = lab.port("cam1", 80)   # the ephemeral port standing in for spec port 80

Only loopback sockets, ephemeral ports, no multicast: safe anywhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from types import TracebackType

from ..spec import DeviceSpec
from .runtime import DeviceRuntime
from .server import Bound, close_all, open_device, serve, shutdown
from .tls import CertStore


class LoopbackLab:
    def __init__(self, specs: Iterable[DeviceSpec]) -> None:
        self.specs = list(specs)
        self.devices: dict[str, DeviceRuntime] = {}
        self._bound: list[Bound] = []
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._certs = CertStore()

    def port(self, device: str, spec_port: int) -> int:
        """Real port of ``device``'s service configured on ``spec_port``."""
        return self.devices[device].port(spec_port)

    def __enter__(self) -> LoopbackLab:
        try:
            for spec in self.specs:
                dev, bound = open_device(spec, bind_ip="127.0.0.1", iface=None, port_map=lambda p: 0,
                                         certs=self._certs)  # fmt: skip
                self.devices[spec.name] = dev
                self._bound.extend(bound)
        except BaseException:
            close_all(self._bound)
            self._certs.close()
            raise
        self._thread = threading.Thread(target=self._run, name="loopback-lab", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            handles = await serve(self._bound)
        except BaseException as exc:  # surfaced to __enter__
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await shutdown(handles)
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        close_all(self._bound)
        self._certs.close()
