"""What the report accumulates per agency and per channel while rows stream past."""

from __future__ import annotations

from dataclasses import dataclass, field

from coordinator.models import FAILED
from coordinator.reports.figures import RECEIPT_CHANNELS, Stat, Tally, bin_counts, rate

SENT = ("sent", "delivered", "undelivered")  # as the board counts "sent"


@dataclass
class Person:
    name: str
    simulated: bool
    agency: str  # slug
    team: str

    @property
    def shown(self) -> str:
        return f"{self.name} (simulated)" if self.simulated else self.name


@dataclass
class Accumulator:
    """What one agency or channel accumulates while the rows stream past."""

    tally: Tally
    responders: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)  # responders (agency), notifications (channel)
    ttd: list[float] = field(default_factory=list)
    tta: list[float] = field(default_factory=list)

    def add(self, status: str, channel: str, responder_id: int) -> None:
        t = self.tally
        self.responders.add(responder_id)
        t.notifications += 1
        if status in SENT:
            t.sent += 1
            if channel in RECEIPT_CHANNELS:
                t.receipt_sent += 1
        t.delivered += status == "delivered"
        t.failed += status in FAILED
        t.cancelled += status == "cancelled"

    def finish(self, simulated: set[int], per_responder: bool) -> Tally:
        t = self.tally
        t.responders = len(self.responders)
        t.simulated = len(self.responders & simulated)
        t.answered = len(self.answered)
        t.delivered_rate = rate(t.delivered, t.receipt_sent)
        t.answered_rate = rate(t.answered, t.responders if per_responder else t.sent)
        t.time_to_deliver = Stat.of(self.ttd)
        t.time_to_answer = Stat.of(self.tta)
        t.tta_bins = bin_counts(self.tta)
        return t


def how_sent(step: int | None, previous_id: int | None, fallback: bool) -> str:
    """What sent the notification: the alert, an escalation step, a fallback after a
    failure, or a dispatcher sending a dead letter again."""
    if step is not None:
        return f"escalation step {step}"
    if previous_id is not None:
        return f"{'fallback from' if fallback else 'sent again after'} {previous_id}"
    return "alert"
