"""In-process transport for ``tocsin run``: relay, workers and event consumer are
greenlets of one process, so gevent queues stand in for RabbitMQ.

It keeps RabbitMQ's semantics that callers depend on (routing by key, unroutable
raises, failed handlers requeue, Drop discards, retry queues hold a message for
their delay and then route it back to its channel) so code tested here behaves
the same in production. It is not durable: messages still queued, or waiting
for a retry, when the process exits are gone.
"""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.queue import Empty, Queue

from broker.base import (
    DRAIN_TIMEOUT,
    POLL_INTERVAL,
    RETRY_DELAY,
    Drop,
    Handler,
    PublishError,
    Transport,
)
from broker.topology import ALL_KEYS, TOPIC, Binding, RetryQueue, Topology

log = logging.getLogger(__name__)


class EmbeddedTransport(Transport):
    def __init__(self, topology: Topology | None = None) -> None:
        self.topology = topology or Topology()
        self._queues: dict[str, Queue[bytes]] = {}
        self._bindings: dict[str, list[Binding]] = {}
        self._retry: dict[str, RetryQueue] = {}

    def declare(self) -> None:
        self._retry = {q.name: q for q in self.topology.retry_queues}
        for name in (*self.topology.queues, *self._retry):
            self._queues.setdefault(name, Queue())
        for exchange in self.topology.exchanges:
            self._bindings[exchange] = [b for b in self.topology.bindings if b.exchange == exchange]

    def publish(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None
    ) -> None:
        if exchange not in self._bindings:
            raise PublishError(f"no exchange {exchange!r} (declare() not called?)")
        queues = [b.queue for b in self._bindings[exchange] if self._matches(b, routing_key)]
        if not queues:
            raise PublishError(f"unroutable: exchange {exchange!r}, routing key {routing_key!r}")
        for queue in queues:
            self._queues[queue].put(body)
            if queue in self._retry:
                gevent.spawn_later(self._retry[queue].delay, self._expire, self._retry[queue])

    def consume(
        self,
        queue: str,
        handler: Handler,
        *,
        prefetch: int = 10,
        concurrency: int = 1,
        stop: Event | None = None,
    ) -> None:
        """``prefetch`` has no meaning in-process: a message is taken when a handler is free."""
        self._check_consumer(queue, concurrency)
        source = self._queue(queue)
        stop = stop or Event()
        handlers = Pool(concurrency)
        try:
            while not stop.is_set():
                handlers.wait_available()
                try:
                    body = source.get(timeout=POLL_INTERVAL)
                except Empty:
                    continue
                handlers.spawn(self._handle, queue, source, body, handler, stop)
            handlers.join(timeout=DRAIN_TIMEOUT)
        finally:
            handlers.kill()  # a killed handler puts its message back

    def queue_depth(self, queue: str) -> int:
        return self._queue(queue).qsize()

    def close(self) -> None:
        """Nothing to release; queued messages stay for a later consumer."""

    def _handle(
        self, name: str, source: Queue[bytes], body: bytes, handler: Handler, stop: Event
    ) -> None:
        try:
            handler(body)
        except Drop as exc:
            log.warning("%s: dropped poison message: %s; body %.200r", name, exc, body)
        except Exception:
            log.exception("%s: handler failed; message requeued", name)
            stop.wait(RETRY_DELAY)
            source.put(body)
        except BaseException:
            # The handler was killed mid-message: keep the message.
            source.put(body)
            raise

    def _expire(self, retry: RetryQueue) -> None:
        """A retry queue's TTL ran out for its oldest message: dead-letter it back."""
        body = self._queues[retry.name].get_nowait()  # every message waits the same delay
        try:
            self.publish(self.topology.notify_exchange, retry.channel, body)
        except PublishError:
            log.exception("%s: cannot route a retried message back; dropped", retry.name)

    def _queue(self, name: str) -> Queue[bytes]:
        try:
            return self._queues[name]
        except KeyError:
            raise ValueError(f"no queue {name!r} (declare() not called?)") from None

    def _matches(self, binding: Binding, routing_key: str) -> bool:
        # Only the "#" pattern is used on topic exchanges; other patterns would
        # need RabbitMQ's word matching here too.
        if binding.routing_key == routing_key:
            return True
        return (
            binding.routing_key == ALL_KEYS and self.topology.exchanges[binding.exchange] == TOPIC
        )
