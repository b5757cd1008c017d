"""Results from notifier workers and providers become notification statuses.

Statuses only move forward, so late or repeated reports change nothing. A
failure falls back to the responder's next contact point at once.

Reports arrive fast during a fan-out (a result event from the worker and two
receipts from the provider per SMS), so the hub applies them in batches: one
``StatusWriter`` greenlet takes every report waiting, reads the notifications
in one query, writes the changes in one statement and one transaction, and
tells the consoles in one message per incident. Whoever handed in a report
(an event consumer, a webhook request) waits until its batch is committed, so
an acknowledged event or a 204 to the provider still means "stored".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from gevent.queue import Empty, Queue
from sqlalchemy import select, update

from broker.messages import DeadLetter, MessageError, ResultEvent
from broker.transport import Drop
from coordinator import live
from coordinator.context import Tocsin
from coordinator.models import FAILED, STATUS_RANK, Alert, Notification, utcnow
from coordinator.models import DeadLetter as DeadLetterRow
from coordinator.services import audit
from coordinator.services.fallback import fall_back

log = logging.getLogger(__name__)

MAX_BATCH = 500  # reports per transaction
LINGER = 0.005  # seconds the writer waits after the first report for others to join it
POLL_INTERVAL = 0.5  # how often an idle writer looks at its stop event


@dataclass(frozen=True)
class StatusReport:
    """What a worker or a provider said about one notification."""

    notification_id: int
    status: str
    provider_id: str | None = None
    error: str | None = None
    attempt: int | None = None
    segments: int | None = None
    at: datetime | None = None  # when it happened, if the reporter said (a worker's event)


# The moments an after-action report measures, stamped the first time a status
# reaches them: an undelivered SMS was sent and then failed.
STAMPS = {
    "sent": ("sent_at",),
    "delivered": ("sent_at", "delivered_at"),
    "undelivered": ("sent_at", "failed_at"),
    "failed": ("failed_at",),
}


def advance(
    n: Any, status: str, *, provider_id: str | None, error: str | None, at: datetime | None = None
) -> bool:
    """Move n (a Notification or anything with its attributes) to status if that is
    forward, stamping when it got there. Returns whether anything changed."""
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(n.status, 0):
        return False
    now = utcnow()
    n.status = status
    n.provider_id = provider_id or n.provider_id
    n.error = error or n.error
    n.updated_at = now
    for stamp in STAMPS.get(status, ()):
        if getattr(n, stamp) is None:
            setattr(n, stamp, min(at, now) if at is not None else now)
    return True


@dataclass
class _State:
    """The columns of one notification that reports change, plus where it belongs."""

    id: int
    status: str
    attempts: int
    provider_id: str | None
    error: str | None
    segments: int | None
    responder_id: int
    channel: str
    incident_id: int
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    updated_at: Any = None

    def apply(self, r: StatusReport) -> bool:
        if r.status == "retrying":  # a transient failure: the status stays, the board learns why
            changed = (r.attempt or 0) > self.attempts
            self.attempts = max(self.attempts, r.attempt or 0)
            self.error = r.error or self.error
            return changed
        changed = advance(self, r.status, provider_id=r.provider_id, error=r.error, at=r.at)
        self.attempts = max(self.attempts, r.attempt or 0)
        self.segments = r.segments or self.segments
        return changed

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "attempts": self.attempts,
            "provider_id": self.provider_id,
            "error": self.error,
            "segments": self.segments,
            "updated_at": self.updated_at or utcnow(),
            "sent_at": self.sent_at,
            "delivered_at": self.delivered_at,
            "failed_at": self.failed_at,
        }

    def payload(self) -> dict[str, object]:
        return {
            "id": self.id,
            "responder_id": self.responder_id,
            "channel": self.channel,
            "status": self.status,
            "error": self.error,
        }


_STATE_COLUMNS = (
    Notification.id,
    Notification.status,
    Notification.attempts,
    Notification.provider_id,
    Notification.error,
    Notification.segments,
    Notification.sent_at,
    Notification.delivered_at,
    Notification.failed_at,
    Notification.responder_id,
    Notification.channel,
    Alert.incident_id,
)


def apply_reports(t: Tocsin, reports: Sequence[StatusReport]) -> list[bool]:
    """Apply reports in one transaction, in order; say for each whether it changed
    its notification. Consoles hear of every change once the batch is committed."""
    ids = {r.notification_id for r in reports}
    changed: list[bool] = []
    added: list[tuple[int, Notification]] = []
    with t.db.write() as session:
        states = {
            row.id: _State(**row._mapping)
            for row in session.execute(
                select(*_STATE_COLUMNS)
                .join(Alert, Alert.id == Notification.alert_id)
                .where(Notification.id.in_(ids))
            )
        }
        failed_before = {i for i, s in states.items() if s.status in FAILED}
        dirty: dict[int, _State] = {}
        for r in reports:
            state = states.get(r.notification_id)
            if state is None:
                log.warning("status %s for unknown notification %s", r.status, r.notification_id)
                changed.append(False)
                continue
            did = state.apply(r)
            changed.append(did)
            if did:
                dirty[state.id] = state
        if dirty:
            session.execute(update(Notification), [s.row() for s in dirty.values()])
        for state in dirty.values():
            if state.status in FAILED and state.id not in failed_before:
                nxt = fall_back(session, session.get(Notification, state.id), t.links)
                if nxt is not None:
                    added.append((state.incident_id, nxt))
    by_incident: dict[int, list[dict[str, object]]] = defaultdict(list)
    for state in dirty.values():
        by_incident[state.incident_id].append(state.payload())
    for incident_id, payloads in by_incident.items():
        live.notifications_changed(incident_id, payloads)
    for incident_id, nxt in added:
        live.notification_added(incident_id, nxt)
    if added:
        t.outbox_written.set()
    return changed


def update_status(
    t: Tocsin,
    notification_id: int,
    status: str,
    *,
    provider_id: str | None = None,
    error: str | None = None,
    attempt: int | None = None,
    segments: int | None = None,
    at: datetime | None = None,
) -> bool:
    """Apply one status report; returns whether the notification changed.

    Goes through the hub's StatusWriter when one runs (batched with every other
    report waiting), straight to the database otherwise.
    """
    report = StatusReport(notification_id, status, provider_id, error, attempt, segments, at)
    if t.statuses is not None:
        return t.statuses.apply(report)
    return apply_reports(t, [report])[0]


class StatusWriter:
    """Applies status reports in batches from one greenlet; see the module docstring."""

    def __init__(self, t: Tocsin, max_batch: int = MAX_BATCH, linger: float = LINGER) -> None:
        self.t = t
        self.max_batch = max_batch
        self.linger = linger
        self.running = False
        self._waiting: Queue[tuple[StatusReport, AsyncResult]] = Queue()

    def apply(self, report: StatusReport) -> bool:
        """Hand in one report and wait until it is committed; raises what writing raised."""
        if not self.running:
            return apply_reports(self.t, [report])[0]
        done: AsyncResult = AsyncResult()
        self._waiting.put((report, done))
        return done.get()

    def run(self, stop: Event) -> None:
        self.running = True
        try:
            while not stop.is_set():
                try:
                    first = self._waiting.get(timeout=POLL_INTERVAL)
                except Empty:
                    continue
                gevent.sleep(self.linger)
                self._write([first, *self._take(self.max_batch - 1)])
        finally:
            self.running = False
            while self._waiting.qsize():  # handed in before the writer stopped: still written
                self._write(self._take(self.max_batch))

    def _take(self, limit: int) -> list[tuple[StatusReport, AsyncResult]]:
        batch = []
        while len(batch) < limit:
            try:
                batch.append(self._waiting.get_nowait())
            except Empty:
                break
        return batch

    def _write(self, batch: list[tuple[StatusReport, AsyncResult]]) -> None:
        try:
            results = apply_reports(self.t, [report for report, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.exception("could not apply %s", batch[0][0])
                batch[0][1].set_exception(exc)
                return
            # One bad report must not fail the others: write them one by one.
            log.warning("a batch of %d status reports failed; writing them one by one", len(batch))
            for item in batch:
                self._write([item])
            return
        finally:
            self.t.db.remove()
        for (_, done), result in zip(batch, results, strict=True):
            done.set(result)


def record_dead_letter(t: Tocsin, letter: DeadLetter) -> None:
    """Keep a message the notifier gave up on; the notification has failed."""
    msg = letter.notify_message()
    with t.db.write() as session:
        n = session.get(Notification, msg.notification_id)
        if n is None:
            raise Drop(f"dead letter for unknown notification {msg.notification_id}")
        session.add(
            DeadLetterRow(
                notification_id=n.id,
                channel=msg.channel,
                payload=letter.message,
                error=letter.error,
                attempts=letter.attempts,
            )
        )
        error = f"gave up after {letter.attempts} attempts: {letter.error}"
        changed = advance(n, "failed", provider_id=None, error=error)
        n.attempts = max(n.attempts, letter.attempts)
        audit.record(
            session, "system:notifier", "notification.dead_lettered", n.alert.incident_id,
            notification_id=n.id, attempts=letter.attempts, error=letter.error,
        )  # fmt: skip
        if not changed:
            return  # already failed: the dead letter is kept, nothing else moves
        nxt = fall_back(session, n, t.links)
        incident_id = n.alert.incident_id
    _announce(t, incident_id, n, nxt)


def _announce(t: Tocsin, incident_id: int, n: Notification, nxt: Notification | None) -> None:
    live.notifications_changed(incident_id, [live.notification_payload(n)])
    if nxt is not None:
        live.notification_added(incident_id, nxt)
        t.outbox_written.set()


class EventConsumer:
    def __init__(self, t: Tocsin, on_result: Callable[[str], None] | None = None) -> None:
        self.t = t
        self.on_result = on_result or (lambda _channel: None)

    def handle(self, body: bytes) -> None:
        try:
            event = ResultEvent.from_json(body)
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        if event.status in ("sent", "failed"):
            self.on_result(event.channel)
        update_status(
            self.t,
            event.notification_id,
            event.status,
            provider_id=event.provider_id,
            error=event.error,
            attempt=event.attempt,
            segments=event.segments,
            at=datetime.fromtimestamp(event.at, UTC),
        )

    def handle_dead(self, body: bytes) -> None:
        try:
            letter = DeadLetter.from_json(body)
            letter.notify_message()
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        record_dead_letter(self.t, letter)
