"""Outbox relay: publish what the database promised, mark it only once confirmed.

Publishing happens outside any transaction (SQLite must not hold its write
lock across network I/O). A crash between publish and mark sends a message
twice; duplicates are acceptable, loss is not.
"""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event
from sqlalchemy import select, update

from broker.transport import PublishError, Transport
from coordinator.db import Database
from coordinator.models import Notification, Outbox, utcnow

log = logging.getLogger(__name__)

BATCH = 2000
IDLE_POLL = 1.0
MAX_BACKOFF = 5.0


class OutboxRelay:
    def __init__(self, db: Database, transport: Transport, wake: Event | None = None) -> None:
        self.db = db
        self.transport = transport
        self.wake = wake or Event()  # set after a commit that added outbox rows

    def publish_pending(self) -> int:
        """Publish one batch. Returns how many were confirmed; raises PublishError
        when the broker took none of a non-empty batch (it is away)."""
        rows = self.db.session.execute(
            select(Outbox.id, Outbox.exchange, Outbox.routing_key, Outbox.payload)
            .where(Outbox.published_at.is_(None))
            .order_by(Outbox.id)
            .limit(BATCH)
        ).all()
        self.db.remove()  # end the read transaction before network I/O
        if not rows:
            return 0
        exchanges = {"notify": self.transport.topology.notify_exchange}
        confirmed = self.transport.publish_many(
            [
                (exchanges[r.exchange], r.routing_key, r.payload.encode(), f"outbox-{r.id}")
                for r in rows
            ]
        )
        done = [r.id for r, ok in zip(rows, confirmed, strict=True) if ok]
        self._mark(done)
        if len(done) < len(rows):
            failed = [r.id for r, ok in zip(rows, confirmed, strict=True) if not ok]
            self._note_failure(failed, "the broker did not confirm")
            if not done:
                raise PublishError(f"the broker confirmed none of {len(rows)} messages")
        return len(done)

    def run(self, stop: Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            self.wake.clear()  # before reading: a commit after this point wakes the next wait
            try:
                published = self.publish_pending()
                backoff = 0.5
            except PublishError as exc:
                log.warning("relay: broker unavailable (%s); retrying in %.1f s", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("relay: unexpected error; retrying")
                self.db.remove()
                stop.wait(MAX_BACKOFF)
                continue
            if published == 0:
                self.wake.wait(IDLE_POLL)
            gevent.idle()

    def reclaim_unconfirmed(self) -> int:
        """Publish again what was handed over but never came back as a result.

        The embedded transport keeps messages in memory: after a restart of
        `tocsin run`, notifications still "queued" may have been lost with the
        process. Sending them again may duplicate one; not sending may lose it.
        """
        with self.db.write() as session:
            result = session.execute(
                update(Outbox)
                .where(
                    Outbox.published_at.is_not(None),
                    Outbox.notification_id.in_(
                        select(Notification.id).where(Notification.status == "queued")
                    ),
                )
                .values(published_at=None)
            )
        return result.rowcount

    def _mark(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.db.write() as session:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(published_at=utcnow(), attempts=Outbox.attempts + 1)
            )

    def _note_failure(self, outbox_ids: list[int], error: str) -> None:
        with self.db.write() as session:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(outbox_ids))
                .values(attempts=Outbox.attempts + 1, last_error=error[:500])
            )
