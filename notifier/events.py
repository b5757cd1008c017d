"""Result events published in batches over one confirmed channel.

Hundreds of sends finish every second; a confirmed publish per sending
greenlet would need a broker connection each (opening and closing them cost
more CPU than the sends). Each sender still waits for its own confirmation,
so a message is acked only after its result is safe with the broker.
"""

from __future__ import annotations

import gevent
from gevent.event import AsyncResult
from gevent.queue import Empty, Queue

from broker.messages import ResultEvent
from broker.transport import PublishError, Transport

BATCH = 500


class EventPublisher:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._queue: Queue[tuple[ResultEvent, AsyncResult]] = Queue()
        self._loop: gevent.Greenlet | None = None

    def publish(self, event: ResultEvent) -> None:
        """Return once the broker confirmed the event; raise PublishError if it did not."""
        if self._loop is None or self._loop.dead:
            self._loop = gevent.spawn(self._run)
        confirmed = AsyncResult()
        self._queue.put((event, confirmed))
        if not confirmed.get():
            raise PublishError(
                f"result event for notification {event.notification_id} not confirmed"
            )

    def _run(self) -> None:
        exchange = self.transport.topology.events_exchange
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except Empty:
                    break
            items = [(exchange, event.channel, event.to_json(), None) for event, _ in batch]
            try:
                results = self.transport.publish_many(items)
            except Exception:  # noqa: BLE001 - every waiter must hear back, whatever happened
                results = [False] * len(batch)
            for (_, confirmed), ok in zip(batch, results, strict=True):
                confirmed.set(ok)
