"""Run callables later, off the request thread.

One timer thread and a small pool instead of a thread per pending callback:
a drill that sends thousands of messages leaves thousands of heap entries,
not thousands of sleeping threads.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("tocsin.simulator")


class Scheduler:
    def __init__(self, workers: int = 8) -> None:
        self._heap: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()  # tie-breaker: equal due times keep their order
        self._cond = threading.Condition()
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-post")
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), fn))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
        # Pending posts are dropped; one already on the wire finishes within its timeout.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._due():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            self._pool.submit(self._guarded, fn)

    def _due(self) -> bool:
        return bool(self._heap) and self._heap[0][0] <= time.monotonic()

    @staticmethod
    def _guarded(fn: Callable[[], object]) -> None:
        # A failing callback must not kill the pool worker or vanish silently.
        try:
            fn()
        except Exception:
            log.exception("scheduled callback failed")
