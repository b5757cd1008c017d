"""Messages that cross the broker, shared by coordinator and notifier.

A notify message carries everything a stateless worker needs to send one
notification; a result event carries what happened back to the coordinator,
which alone writes the database.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any, Self

CHANNELS = ("sms", "voice", "email", "push")
# What every message of a drill starts with, on every channel: nobody may take an
# exercise for a real call-out (the words UK emergency services use on air).
EXERCISE_MARKER = "EXERCISE EXERCISE EXERCISE"


class MessageError(ValueError):
    """A message body that cannot be decoded into the expected shape."""


def _decode(cls: type, data: bytes | str) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"{cls.__name__}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MessageError(f"{cls.__name__}: expected an object")
    names = {f.name for f in fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise MessageError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    _check_types(cls, raw)
    return raw


# JSON types accepted per field annotation. A wrongly typed field must fail at
# decoding (the worker drops the message) rather than deep in a channel, where
# it would look like a transient failure and be retried forever.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "str | None": (str, type(None)),
    "int | None": (int, type(None)),
    "bool": (bool,),
}


def _check_types(cls: type, raw: dict[str, Any]) -> None:
    for f in fields(cls):
        expected = _JSON_TYPES.get(str(f.type))
        if f.name not in raw or expected is None:
            continue
        value = raw[f.name]
        wrong_bool = isinstance(value, bool) and bool not in expected
        if wrong_bool or not isinstance(value, expected):
            raise MessageError(f"{cls.__name__}: {f.name} must be {f.type}, got {value!r:.50}")


class _Json:
    def to_json(self) -> bytes:
        # Fields are flat JSON values, so __dict__ is the same as asdict() and
        # much cheaper for the thousands of messages of one alert.
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        try:
            return cls(**_decode(cls, data))
        except TypeError as exc:  # missing required fields
            raise MessageError(f"{cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class NotifyMessage(_Json):
    """One notification to send. Each channel renders subject, body and details
    in its own way (an SMS fits its segments, a call reads the text aloud)."""

    notification_id: int
    alert_id: int
    incident_id: int
    responder_id: int
    channel: str
    address: str
    subject: str  # the headline: "CRITICAL chemical: Fire at the docks"
    body: str  # the commander's message
    ack_url: str  # the answer page; POST answer=<acknowledged|en_route|on_scene|unavailable>
    status_url: str = ""  # where the provider posts delivery receipts, if it does
    details: str = ""  # more lines for long channels (email): place, time, drill or live
    voice_url: str = ""  # voice only: the TwiML the call fetches (reads, takes keypresses)
    attempt: int = 1
    exercise: bool = False  # a drill: every channel starts its text with EXERCISE_MARKER
    # A simulated responder (`tocsin drill city`): sent to the provider simulator only.
    simulated: bool = False

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise MessageError(f"NotifyMessage: unknown channel {self.channel!r}")

    @property
    def message_id(self) -> str:
        return f"notification-{self.notification_id}-{self.attempt}"

    @property
    def title(self) -> str:
        """The subject as a channel shows it first (email subject, push title)."""
        return f"{EXERCISE_MARKER} {self.subject}" if self.exercise else self.subject


@dataclass(frozen=True)
class ResultEvent(_Json):
    """What a worker learned about one notification.

    status is one of: sent (the provider accepted it), failed (permanent: it
    will not be sent), retrying (a transient failure; attempt says which try
    failed and the message waits in a retry queue).
    """

    notification_id: int
    incident_id: int
    channel: str
    status: str
    provider_id: str | None = None
    error: str | None = None
    attempt: int = 1
    segments: int | None = None  # SMS: how many segments the provider bills
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class DeadLetter(_Json):
    """A notification given up after its last transient failure; the console
    lists these and can send them again."""

    message: str  # the NotifyMessage JSON as last tried
    error: str
    attempts: int
    at: float = field(default_factory=time.time)

    def notify_message(self) -> NotifyMessage:
        return NotifyMessage.from_json(self.message)
