"""Event consumer: results from notifier workers become notification statuses.

Statuses only move forward, so late or repeated events change nothing.
"""

from __future__ import annotations

import logging

from broker.messages import MessageError, ResultEvent
from broker.transport import Drop
from coordinator import live
from coordinator.db import Database
from coordinator.models import STATUS_RANK, Notification, utcnow

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
    db: Database,
    notification_id: int,
    status: str,
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> bool:
    with db.write() as session:
        n = session.get(Notification, notification_id)
        if n is None:
            log.warning("status %s for unknown notification %s", status, notification_id)
            return False
        changed = advance(n, status, provider_id=provider_id, error=error)
        incident_id = n.alert.incident_id
    if changed:
        live.notification_changed(incident_id, n)
    return changed


class EventConsumer:
    def __init__(self, db: Database) -> None:
        self.db = db

    def handle(self, body: bytes) -> None:
        try:
            event = ResultEvent.from_json(body)
        except MessageError as exc:
            raise Drop(str(exc)) from exc
        update_status(
            self.db,
            event.notification_id,
            event.status,
            provider_id=event.provider_id,
            error=event.error,
        )
