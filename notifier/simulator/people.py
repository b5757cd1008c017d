"""The people behind profiled addresses (profiles.py): what each one does when reached.

A person decides once what to do about a call-out, at the first message that
reaches them, and sticks to it: someone alerted by SMS, push and email at once
answers once, through whichever message they saw first, and an escalation's
call a few minutes later finds them as they were. So a profile's answer rate
is the share of people who answer, whatever the channels, not of messages.
The decision holds until SETTLE_SECONDS after their answer went out, or for
QUIET_SECONDS when they do not answer (longer than the escalation steps);
a message after that is a new call-out and they decide afresh.

- A failing number (fail_share, fixed by the number) never gets SMS or calls:
  messages end undelivered, calls failed. It decides nothing, so the person
  may still answer through another contact point.
- A silent person (silent_share, fixed by the person) never answers anything.
- Everyone else answers with probability answer_rate, after a lognormal delay
  (delay_median_s, delay_sigma); unavailable_share of the answers say
  "unavailable", the rest acknowledged or en route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from notifier.simulator.dice import Dice
from notifier.simulator.profiles import Match

SETTLE_SECONDS = 60.0  # after an answer: the other channels' copies have arrived by then
QUIET_SECONDS = 10 * 60.0  # who does not answer stays silent through the escalation steps
UNAVAILABLE = "3"
STATS = ("people", "silent", "no_answer", "answered", "unavailable", "failed_messages")


@dataclass(frozen=True)
class Decision:
    answer: str | None  # "1" acknowledged, "2" en route, "3" unavailable; None: no answer
    delay: float  # seconds after the message that made it
    until: float  # clock time when the person is ready for the next call-out


class People:
    def __init__(self, dice: Dice, clock: Callable[[], float] = time.monotonic) -> None:
        self.dice = dice
        self.clock = clock
        self._lock = threading.Lock()
        self._decisions: dict[str, Decision] = {}
        self._stats: dict[str, dict[str, int]] = {}

    def number_fails(self, match: Match, number: str) -> bool:
        fails = self.dice.share(f"fail:{number}") < match.profile.fail_share
        if fails:
            self._count(match, "failed_messages")
        return fails

    def decide(self, match: Match) -> tuple[Decision, bool]:
        """The person's decision, and whether this message made it (True) or an
        earlier one did (False: they already reacted to that one)."""
        now = self.clock()
        with self._lock:
            earlier = self._decisions.get(match.person)
            if earlier is not None and now < earlier.until:
                return earlier, False
        decision = self._draw(match, now)
        with self._lock:
            self._decisions[match.person] = decision
        return decision, True

    def reset(self) -> None:
        with self._lock:
            self._decisions.clear()
            self._stats.clear()

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(counts) for name, counts in self._stats.items()}

    def _draw(self, match: Match, now: float) -> Decision:
        profile = match.profile
        self._count(match, "people")
        quiet = now + QUIET_SECONDS
        if self.dice.share(f"silent:{match.person}") < profile.silent_share:
            self._count(match, "silent")
            return Decision(None, 0.0, quiet)
        if not self.dice.chance(profile.answer_rate):
            self._count(match, "no_answer")
            return Decision(None, 0.0, quiet)
        self._count(match, "answered")
        if self.dice.chance(profile.unavailable_share):
            self._count(match, "unavailable")
            answer = UNAVAILABLE
        else:
            answer = self.dice.available_answer()
        delay = self.dice.lognormal(profile.delay_median_s, profile.delay_sigma)
        return Decision(answer, delay, now + delay + SETTLE_SECONDS)

    def _count(self, match: Match, key: str) -> None:
        with self._lock:
            counts = self._stats.setdefault(match.profile.name, dict.fromkeys(STATS, 0))
            counts[key] += 1
