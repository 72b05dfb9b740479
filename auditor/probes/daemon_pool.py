"""A thread pool whose workers are daemon threads.

``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit, so a
blocking network call in flight (a zeep request waiting out its timeout on a silent
camera) would hold a stopped scan open for that long. Probe calls are read-only and
bounded; abandoning one at exit is correct, so these workers do not hold the process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_STOP = object()


class DaemonThreadPool(Executor):
    def __init__(self, max_workers: int, thread_name_prefix: str = "camaudit-worker") -> None:
        self._max = max_workers
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            if not self._threads:  # all workers at first use; idle ones just wait on the queue
                for i in range(self._max):
                    worker = threading.Thread(target=self._work, name=f"{self._prefix}-{i}", daemon=True)
                    self._threads.append(worker)
                    worker.start()
            future: Future[Any] = Future()
            self._queue.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting coroutine
                    future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(_STOP)
        if wait:
            for t in threads:
                t.join()
