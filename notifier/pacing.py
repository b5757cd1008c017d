"""Keep each sender within its provider's limits: a rate and a number of requests in flight.

Twilio queues what a long code cannot send at once and rejects a burst of
concurrent API calls with 429; pacing here keeps an incident's fan-out at the
rate the provider really delivers, so the retry machinery is for real faults.
Limits are per worker process: N workers sharing one sender need rate/N each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import gevent
from gevent.lock import BoundedSemaphore


class TokenBucket:
    """At most `burst` acquisitions at once, then `rate_per_second` on average.

    acquire() reserves the next free slot at once (no yield in between, so
    greenlets never race for one token) and sleeps until that slot: waiters
    are served in arrival order, and N acquisitions from a full bucket cannot
    complete before (N - burst) / rate seconds.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = gevent.sleep,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate must be positive, got {rate_per_second!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate_per_second)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)  # negative: slots already promised to waiters
        self._updated = clock()

    def reserve(self) -> float:
        """Take the next slot; return how many seconds to wait for it (0: now)."""
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait until a token is ours; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            try:
                self._sleep(wait)
            except BaseException:
                # Killed while waiting: the slot was never used, give it back.
                self._tokens += 1.0
                raise
        return wait


class Pacer:
    """`with pacer:` around one provider request: a concurrency slot, then a rate token.

    The slot is taken first so that the moment a request starts is the
    moment its token allows; taking the token first would let requests that
    queued for a slot start together, above the rate.
    """

    def __init__(self, rate: float, concurrency: int, *, burst: int = 1) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.bucket = TokenBucket(rate, burst)
        self.concurrency = concurrency
        self._slots = BoundedSemaphore(concurrency)

    def __enter__(self) -> Pacer:
        self._slots.acquire()
        try:
            self.bucket.acquire()
        except BaseException:
            self._slots.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._slots.release()
