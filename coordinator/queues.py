"""Queue depth and time to the last recipient, per channel, for every console.

A commander must see "SMS: 4,120 queued, last in ~41 s": waiting messages are
the outbox rows not yet published plus the broker queue; the rate is what the
workers reported over the last seconds. A drill's rows that the relay holds back
behind live alerts (coordinator/relay.py) are counted apart, as drill_waiting,
so a city's exercise does not look like a live backlog.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from gevent.event import Event
from sqlalchemy import func, select

from broker.base import BrokerError
from broker.messages import CHANNELS
from broker.transport import Transport
from coordinator.db import Database
from coordinator.extensions import socketio
from coordinator.models import Outbox

log = logging.getLogger(__name__)
CONSOLES = "consoles"  # the Socket.IO room every signed-in console joins
WINDOW = 10.0  # seconds of results that make the rate
REPEAT_EVERY = 10  # unchanged figures are sent again after this many intervals


class QueueMonitor:
    def __init__(self, db: Database, transport: Transport, interval: float = 1.0) -> None:
        self.db = db
        self.transport = transport
        self.interval = interval
        self._results: dict[str, deque[float]] = {c: deque() for c in CHANNELS}

    def note_result(self, channel: str) -> None:
        """A worker finished with one message of this channel (sent or failed)."""
        if channel in self._results:
            self._results[channel].append(time.monotonic())

    def rate(self, channel: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        results = self._results[channel]
        while results and results[0] < now - WINDOW:
            results.popleft()
        if not results:
            return 0.0
        span = max(now - results[0], 1.0)
        return len(results) / span

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        """Per channel: queued (live outbox rows + the broker queue, which holds at
        most a few seconds of drill messages: relay.py), rate, eta_seconds, drill_waiting."""
        unpublished: dict[tuple[str, bool], int] = {
            (channel, drill): count
            for channel, drill, count in self.db.session.execute(
                select(Outbox.routing_key, Outbox.drill, func.count())
                .where(Outbox.published_at.is_(None))
                .group_by(Outbox.routing_key, Outbox.drill)
            )
        }
        self.db.remove()
        now = time.monotonic()
        report: dict[str, dict[str, float | int | None]] = {}
        for channel in CHANNELS:
            queued = unpublished.get((channel, False), 0) + self._depth(channel)
            rate = self.rate(channel, now)
            eta = queued / rate if rate > 0 else None
            report[channel] = {
                "queued": queued,
                "rate": round(rate, 1),
                "eta_seconds": eta,
                "drill_waiting": unpublished.get((channel, True), 0),
            }
        return report

    def run(self, stop: Event) -> None:
        """Send the figures when they change, and every REPEAT_EVERY intervals
        anyway for consoles that joined since: each send goes to every console,
        and an idle hub should not spend its time telling 500 of them nothing new."""
        last: dict | None = None
        unchanged = 0
        while not stop.wait(self.interval):
            try:
                figures = self.snapshot()
                unchanged = unchanged + 1 if figures == last else 0
                if unchanged % REPEAT_EVERY == 0:
                    socketio.emit("queues", figures, to=CONSOLES)
                last = figures
            except Exception:
                log.exception("queue monitor failed; trying again")
                self.db.remove()

    def _depth(self, channel: str) -> int:
        try:
            return self.transport.queue_depth(self.transport.topology.notify_queue(channel))
        except BrokerError:
            return 0  # the broker is away: the outbox count still shows what waits
