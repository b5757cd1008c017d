"""Per-account request limits, as Twilio enforces them."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """A token bucket per key: `rate` requests a second, in bursts of up to one second's worth.

    Requests over the limit are refused, not queued, so clients see what Twilio
    shows them: a 429 they must back off from and retry.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        return allowed
