"""Size apprise's process-wide worker pools to our concurrency.

apprise 2.x runs every notification through shared ThreadPoolExecutors made
with the default size (min(32, CPUs + 4): 6 on a 2-core machine). Under gevent
those threads are greenlets, so 200 concurrent pushes queue behind 6 workers:
about 24 pushes/s at 200 ms per request. apprise has no setting for the size,
so we install pools of our own size before its lazy creation does.
"""

from __future__ import annotations

import concurrent.futures as cf

import apprise.apprise as apprise_module

_sized: int = 0


def size_pools(workers: int) -> None:
    """Make apprise's shared pools at least `workers` wide (idempotent, grows only)."""
    global _sized
    if workers <= _sized:
        return
    with apprise_module._shared_executor_lock, apprise_module._coordinator_executor_lock:
        apprise_module._shared_executor = cf.ThreadPoolExecutor(max_workers=workers)
        apprise_module._coordinator_executor = cf.ThreadPoolExecutor(max_workers=workers)
    _sized = workers
