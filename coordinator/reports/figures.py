"""The after-action report's figures: one plain, JSON-serialisable object.

compute.py fills it from the database; the HTML page, the charts, the PDF and the
CSV only read it. Times are ISO 8601 strings in UTC, durations are seconds.
The raw rows (one per notification, one per answer) are NamedTuples, written to
JSON as lists, so a 15,000-notification drill stays a few megabytes.

Definitions (also on the page, docs/reports.md):
- median: the middle value (the mean of the two middle ones for an even count);
- p90: nearest rank, the smallest value that at least 90% of the values are at or below;
- slowest: the largest value.
"""

from __future__ import annotations

import gc
import json
import math
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, NamedTuple, Union, get_args, get_origin, get_type_hints

FORMAT = 1  # bump when the shape changes; a stored report of another format is rebuilt

# Time to answer, in bins: the distribution chart draws exactly these counts.
TTA_EDGES = (0, 30, 60, 120, 300, 600, 900, 1800, 3600)
TTA_BINS = (
    "under 30 s", "30 s to 1 min", "1 to 2 min", "2 to 5 min", "5 to 10 min",
    "10 to 15 min", "15 to 30 min", "30 to 60 min", "60 min or more",
)  # fmt: skip
# Minutes after the first alert at which the cumulative answers are tabled.
MARKS_MINUTES = (1, 2, 5, 10, 15, 30, 60)
# Channels whose providers confirm delivery; email and push stop at "sent".
RECEIPT_CHANNELS = ("sms", "voice")


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Tens of thousands of small objects made at once (a city drill's rows): the cyclic
    collector would walk them again and again while they are made, which costs about
    as much as making them. Rows hold no cycles; anything that does is collected after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def median(ordered: list[float]) -> float | None:
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p90(ordered: list[float]) -> float | None:
    """Nearest rank: the value at rank ceil(0.9 n) of the sorted values."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Stat:
    """Median, p90 and slowest of some durations (seconds)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    slowest: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        ordered = sorted(values)
        return cls(
            len(ordered),
            _round(median(ordered)),
            _round(p90(ordered)),
            _round(ordered[-1] if ordered else None),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def bin_counts(values: list[float]) -> list[int]:
    """How many values fall in each TTA_BINS bin (lower edge included)."""
    counts = [0] * len(TTA_BINS)
    for value in values:
        i = len(TTA_EDGES) - 1
        while i > 0 and value < TTA_EDGES[i]:
            i -= 1
        counts[i] += 1
    return counts


@dataclass
class Tally:
    """One row of the per-agency or per-channel table.

    Per agency: `responders` notified, `answered` = responders who gave any answer,
    `answered_rate` = answered / responders. Per channel: `responders` reached on the
    channel, `answered` = notifications an answer came back through, `answered_rate`
    = answered / sent. `delivered_rate` = delivered / sent on the channels whose
    providers confirm delivery (SMS, voice); None where none of those were sent.
    """

    key: str  # agency slug, channel name, or "all"
    name: str
    responders: int = 0
    simulated: int = 0  # of the responders
    notifications: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0
    receipt_sent: int = 0  # sent on SMS or voice: the delivered rate's denominator
    answered: int = 0
    delivered_rate: float | None = None
    answered_rate: float | None = None
    time_to_deliver: Stat = field(default_factory=Stat)
    time_to_answer: Stat = field(default_factory=Stat)
    tta_bins: list[int] = field(default_factory=list)
    answered_by: list[int] = field(default_factory=list)  # per agency, at MARKS_MINUTES
    answers: dict[str, int] = field(default_factory=dict)  # per agency: latest answer each
    escalation_steps: int = 0


@dataclass
class IncidentInfo:
    id: int
    title: str
    kind: str
    severity: str
    mode: str
    status: str
    origin: str
    created_at: str
    stood_down_at: str | None
    closed_at: str | None
    schedule: str | None = None  # the drill schedule's name


@dataclass
class AlertInfo:
    id: int
    kind: str  # alert, update, stand_down
    label: str  # First alert, Further alert, Update, Stand-down
    created_at: str
    message: str
    actor: str
    notifications: int = 0
    responders: int = 0


@dataclass
class EscalationRun:
    at: str
    agency: str  # name
    position: int
    target: str
    channels: list[str]
    responders: int
    notifications: int


@dataclass
class QuorumFigure:
    alert_id: int
    label: str
    needed: dict[str, int]
    deadline_at: str | None
    met_at: str | None
    seconds_to_met: float | None  # from the alert's creation


@dataclass
class Failure:
    reason: str  # Notification.error, contact addresses taken out
    channel: str
    count: int


@dataclass
class Silent:
    """Someone notified who never answered (no contact address: the report is shared)."""

    responder_id: int
    name: str
    agency: str
    team: str
    simulated: bool
    reached: str  # last status per channel: "sms delivered, email sent"


@dataclass
class Event:
    at: str
    kind: str  # see timeline.KINDS
    agency: str  # "" when the event is not one agency's
    text: str
    actor: str


class NotificationRow(NamedTuple):
    id: int
    alert_id: int
    alert_kind: str
    responder_id: int
    responder: str
    simulated: bool
    agency: str
    team: str
    channel: str
    status: str
    via: str  # "alert", "escalation step 2", "fallback from 17", "replay of 17"
    step: int | None
    previous_id: int | None
    attempts: int
    created_at: str
    sent_at: str | None
    delivered_at: str | None
    failed_at: str | None
    error: str


class AnswerRow(NamedTuple):
    id: int
    alert_id: int
    alert_kind: str
    responder_id: int
    responder: str
    simulated: bool
    agency: str
    team: str
    answer: str
    channel: str  # how the answer came: sms, voice, link, push
    notification_id: int | None
    notification_channel: str
    received_at: str
    eta_minutes: int | None
    seconds_since_notified: float | None  # since their first notification of the alert
    first: bool  # their first answer to this alert: the one time to answer counts


@dataclass
class Figures:
    incident: IncidentInfo
    built_at: str
    draft: bool  # the incident was not closed when these were computed
    started_at: str  # the first alert (the incident's declaration when it has none)
    alerts: list[AlertInfo] = field(default_factory=list)
    total: Tally = field(default_factory=lambda: Tally("all", "All agencies"))
    agencies: list[Tally] = field(default_factory=list)
    channels: list[Tally] = field(default_factory=list)
    escalations: list[EscalationRun] = field(default_factory=list)
    quorums: list[QuorumFigure] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    never_answered: list[Silent] = field(default_factory=list)
    timeline: list[Event] = field(default_factory=list)
    notifications: list[NotificationRow] = field(default_factory=list)
    answers: list[AnswerRow] = field(default_factory=list)
    # Small per-agency figures for drills compared and the public page (store.py keeps
    # them beside the report, so those pages never parse whole reports).
    summary: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(_plain(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Figures:
        with no_cyclic_gc():
            return _build(cls, json.loads(text))

    def agency(self, key: str) -> Tally | None:
        return next((a for a in self.agencies if a.key == key), None)


# --- plain values and back ---------------------------------------------------------


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):  # a row: its values are plain already
        return list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _hints(tp: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once (thousands of timeline events share them)."""
    return get_type_hints(tp)


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(tp, type) and is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in hints})
    if isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):
        return tp(*value)
    origin = get_origin(tp)
    if origin is list:
        (item,) = get_args(tp)
        if isinstance(item, type) and issubclass(item, tuple):
            return list(map(item._make, value))  # rows: the fast path
        return [_build(item, v) for v in value]
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _build(inner[0], value) if len(inner) == 1 else value
    return value
