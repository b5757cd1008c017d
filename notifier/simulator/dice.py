"""Every random choice of the simulator, from one seeded generator.

With a seed, the same order of requests gives the same answers, failures and
delays, so a flaky-looking run can be replayed.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading

# Responders mostly acknowledge, sometimes report unavailable, rarely something else.
ANSWERS = ("1", "2", "3")
ANSWER_WEIGHTS = (80, 15, 5)
# On a call, a responder sometimes asks to hear the message again ("9"), at most twice.
REPEAT_DIGIT = "9"
REPEAT_RATE = 0.1
MAX_REPEATS = 2
# Latency: lognormal around the median, clipped so one draw cannot stall a client.
LATENCY_SIGMA = 0.4
LATENCY_BOUNDS = (0.25, 4.0)
# A profile's answer delay: lognormal, clipped to a twentieth and twenty times the median
# (three sigmas of 1.0) and to six hours, so one draw cannot stall a drill forever.
DELAY_BOUNDS = (0.05, 20.0)
MAX_DELAY_SECONDS = 6 * 3600.0


class Dice:
    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # Who is silent depends on the number alone, so a silent responder stays silent.
        self._salt = str(seed) if seed is not None else random.SystemRandom().random().hex()

    def chance(self, rate: float) -> bool:
        with self._lock:
            return self._rng.random() < rate

    def pick(self, rates: dict[str, float], default: str) -> str:
        """One key of `rates`, each with its probability, else `default`."""
        with self._lock:
            roll = self._rng.random()
        for key, rate in rates.items():
            if roll < rate:
                return key
            roll -= rate
        return default

    def answer(self) -> str:
        with self._lock:
            return self._rng.choices(ANSWERS, weights=ANSWER_WEIGHTS)[0]

    def digit(self, repeats_so_far: int) -> str:
        if repeats_so_far < MAX_REPEATS and self.chance(REPEAT_RATE):
            return REPEAT_DIGIT
        return self.answer()

    def delay(self, base: float) -> float:
        """`base` seconds plus up to 50% jitter: how long a person takes to react."""
        with self._lock:
            return base * (1 + 0.5 * self._rng.random())

    def latency(self, median_ms: float) -> float:
        """Seconds of simulated network and provider latency for one request."""
        if median_ms <= 0:
            return 0.0
        with self._lock:
            factor = math.exp(self._rng.gauss(0.0, LATENCY_SIGMA))
        low, high = LATENCY_BOUNDS
        return median_ms / 1000 * min(max(factor, low), high)

    def silent(self, number: str, rate: float) -> bool:
        """Whether the responder at `number` never answers anything."""
        if rate <= 0:
            return False
        return self.share(number) < rate

    def share(self, key: str) -> float:
        """A number in [0, 1) fixed by `key` and the seed: the same number fails, the
        same person stays silent, however often they are reached."""
        digest = hashlib.sha256(f"{self._salt}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def available_answer(self) -> str:
        """Acknowledged or en route, in the proportions of ANSWER_WEIGHTS."""
        with self._lock:
            return self._rng.choices(ANSWERS[:2], weights=ANSWER_WEIGHTS[:2])[0]

    def lognormal(self, median: float, sigma: float) -> float:
        """Seconds a person of a profile takes to answer: median x e^(sigma x N(0, 1))."""
        with self._lock:
            factor = math.exp(self._rng.gauss(0.0, sigma))
        low, high = DELAY_BOUNDS
        return min(median * min(max(factor, low), high), MAX_DELAY_SECONDS)
