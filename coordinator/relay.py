"""Outbox relay: publish what the database promised, mark it only once confirmed.

Publishing happens outside any transaction (SQLite must not hold its write
lock across network I/O). A crash between publish and mark sends a message
twice; duplicates are acceptable, loss is not.

Live alerts go first. A drill of a whole city puts thousands of messages in the
outbox; handed to the broker at once, they would queue ahead of a live alert
declared a minute later (at one SMS a second, for over an hour). So live rows
are always published first, and a channel's drill rows only while its broker
queue holds less than TOCSIN_DRILL_QUEUE_SECONDS of work at the rate its workers
were last seen sending (at least DRILL_QUEUE_MIN messages): a live alert then
waits behind a few seconds of drill messages, whatever the provider's pace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
from gevent.event import Event
from sqlalchemy import select, update

from broker.base import BrokerError
from broker.env import env_float
from broker.messages import CHANNELS
from broker.transport import PublishError, Transport
from coordinator.db import Database
from coordinator.models import Notification, Outbox, utcnow

log = logging.getLogger(__name__)

BATCH = 2000
IDLE_POLL = 1.0
MAX_BACKOFF = 5.0
DRILL_QUEUE_SECONDS = 5.0  # TOCSIN_DRILL_QUEUE_SECONDS
DRILL_QUEUE_MIN = 20  # drill messages a channel's queue may hold before any rate is known


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        wake: Event | None = None,
        *,
        rate: Callable[[str], float] | None = None,
        drill_queue_seconds: float | None = None,
        drill_queue_min: int = DRILL_QUEUE_MIN,
    ) -> None:
        self.db = db
        self.transport = transport
        self.wake = wake or Event()  # set after a commit that added outbox rows
        # messages/s a channel's workers sent lately (the queue monitor's figure)
        self.rate = rate or (lambda _channel: 0.0)
        self.drill_queue_seconds = (
            drill_queue_seconds
            if drill_queue_seconds is not None
            else env_float("TOCSIN_DRILL_QUEUE_SECONDS", DRILL_QUEUE_SECONDS)
        )
        self.drill_queue_min = drill_queue_min

    def publish_pending(self) -> int:
        """Publish one batch, live rows first. Returns how many were confirmed;
        raises PublishError when the broker took none of a non-empty batch (it is away)."""
        rows = self._pending(drill=False, limit=BATCH)
        if not rows:  # queue depths are read after the live rows went in
            rows = self._drill_rows(BATCH)
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

    def _pending(self, *, drill: bool, limit: int, channel: str | None = None) -> list:  # type: ignore[type-arg]
        query = (
            select(Outbox.id, Outbox.exchange, Outbox.routing_key, Outbox.payload)
            .where(Outbox.published_at.is_(None), Outbox.drill.is_(drill))
            .order_by(Outbox.id)
            .limit(limit)
        )
        if channel is not None:
            query = query.where(Outbox.routing_key == channel)
        return list(self.db.session.execute(query).all())

    def _drill_rows(self, room: int) -> list:  # type: ignore[type-arg]
        """Drill rows for the channels whose broker queue has room for them."""
        waiting = self.db.session.execute(
            select(Outbox.id).where(Outbox.published_at.is_(None), Outbox.drill.is_(True)).limit(1)
        ).first()
        if waiting is None:
            return []
        rows: list = []  # type: ignore[type-arg]
        for channel in CHANNELS:
            limit = self.drill_queue_limit(channel)
            allowance = min(room - len(rows), limit - self._depth(channel, limit))
            if allowance > 0:
                rows += self._pending(drill=True, limit=allowance, channel=channel)
        return rows

    def drill_queue_limit(self, channel: str) -> int:
        """How many messages the channel's broker queue may hold for drills to be added."""
        return max(self.drill_queue_min, round(self.rate(channel) * self.drill_queue_seconds))

    def _depth(self, channel: str, full: int) -> int:
        """Messages waiting in the channel's broker queue; a broker that cannot say
        counts as full, so drill rows wait for it rather than crowd it."""
        try:
            return self.transport.queue_depth(self.transport.topology.notify_queue(channel))
        except (BrokerError, ValueError):
            return full

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
