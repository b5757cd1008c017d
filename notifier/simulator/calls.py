"""One outbound call in progress: what the client asked for and where the call has got to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from notifier.simulator.base import API_VERSION, Settings
from notifier.simulator.dice import Dice
from notifier.simulator.twiml import Verb

# Twilio posts only the progress events a client asked for, and "completed" by default.
EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass
class Call:
    resource: dict[str, Any]
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status_callback: str | None = None
    callback_method: str = "POST"
    events: frozenset[str] = frozenset({"completed"})
    machine_detection: bool = False
    # Progress, touched only by the call's own steps (one at a time) ...
    sequence: int = 0
    answered_at: float | None = None
    verbs: list[Verb] = field(default_factory=list)
    position: int = 0
    document_url: str | None = None
    documents: int = 0
    repeats: int = 0
    # A profiled number (profiles.py): the person's key at the first <Gather>, or none.
    profiled: bool = False
    planned: str | None = None
    # ... except these two, which Voice guards with its lock: which <Gather> waits for keys.
    generation: int = 0
    waiting: int | None = None

    @property
    def sid(self) -> str:
        return str(self.resource["sid"])

    @property
    def to(self) -> str:
        return str(self.resource["to"])

    def params(self, status: str, account_sid: str) -> dict[str, str]:
        """The parameters Twilio sends with every request about this call."""
        origin, to = str(self.resource["from"]), self.to
        params = {
            "CallSid": self.sid,
            "AccountSid": account_sid,
            "From": origin,
            "To": to,
            "Caller": origin,
            "Called": to,
            "CallStatus": status,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
        }
        if self.machine_detection and self.answered_at is not None:
            params["AnsweredBy"] = "human"
        return params

    def progress_params(
        self, status: str, account_sid: str, timestamp: str, duration: str | None
    ) -> dict[str, str]:
        """A status callback's parameters; the first callback of a call is number 0."""
        self.sequence += 1
        params = self.params(status, account_sid)
        params.update(
            CallbackSource="call-progress-events",
            SequenceNumber=str(self.sequence - 1),
            Timestamp=timestamp,
        )
        if duration is not None:
            params["CallDuration"] = duration
        return params


def draw_outcome(to: str, settings: Settings, dice: Dice) -> str:
    """How a call ends before anyone talks, or "answered": silent responders never pick up."""
    if dice.silent(to, settings.silence_rate):
        return "no-answer"
    rates = {
        "failed": settings.call_fail_rate,
        "busy": settings.call_busy_rate,
        "no-answer": settings.call_no_answer_rate,
    }
    return dice.pick(rates, "answered")


def requested_events(values: list[str]) -> frozenset[str]:
    """StatusCallbackEvent values, repeated or space-separated, as Twilio accepts them."""
    events = {word for value in values for word in value.split() if word in EVENTS}
    return frozenset(events) or frozenset({"completed"})
