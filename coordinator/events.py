"""Results from notifier workers and providers become notification statuses.

Statuses only move forward, so late or repeated events change nothing. A
failure falls back to the responder's next contact point at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from broker.messages import DeadLetter, MessageError, ResultEvent
from broker.transport import Drop
from coordinator import live
from coordinator.context import Tocsin
from coordinator.models import FAILED, STATUS_RANK, Notification, utcnow
from coordinator.models import DeadLetter as DeadLetterRow
from coordinator.services import audit
from coordinator.services.alerts import fall_back

log = logging.getLogger(__name__)


def advance(n: Notification, status: str, *, provider_id: str | None, error: str | None) -> bool:
    """Move n to status if that is forward. Returns whether anything changed."""
    if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(n.status, 0):
        return False
    n.status = status
    n.provider_id = provider_id or n.provider_id
    n.error = error or n.error
    n.updated_at = utcnow()
    return True


def update_status(
    t: Tocsin,
    notification_id: int,
    status: str,
    *,
    provider_id: str | None = None,
    error: str | None = None,
    attempt: int | None = None,
    segments: int | None = None,
) -> bool:
    """Apply one status report; returns whether the notification changed."""
    with t.db.write() as session:
        n = session.get(Notification, notification_id)
        if n is None:
            log.warning("status %s for unknown notification %s", status, notification_id)
            return False
        if status == "retrying":  # a transient failure: the status stays, the board learns why
            changed = (attempt or 0) > n.attempts
            n.attempts = max(n.attempts, attempt or 0)
            n.error = error or n.error
        else:
            changed = advance(n, status, provider_id=provider_id, error=error)
            n.attempts = max(n.attempts, attempt or 0)
            n.segments = segments or n.segments
        if not changed:  # late or repeated: nothing to write, nothing to show
            return False
        nxt = fall_back(session, n, t.links) if n.status in FAILED else None
        incident_id = n.alert.incident_id
    _announce(t, incident_id, n, nxt)
    return True


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
    live.notification_changed(incident_id, n)
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
        )

    def handle_dead(self, body: bytes) -> None:
        try:
            letter = DeadLetter.from_json(body)
            letter.notify_message()
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        record_dead_letter(self.t, letter)
