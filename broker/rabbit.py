"""RabbitMQ transport: confirmed persistent publishing and a reconnecting consumer.

pika's BlockingConnection must not be shared by greenlets running at the same
time. Publishers therefore come from a small pool: a greenlet takes one
connection (with its confirm channel), publishes, and puts it back, so a
connection is only ever used by one greenlet at a time and short-lived
greenlets (web requests) do not open one connection each. Each consume() call
has its own connection, and publish_many() one more (broker.rabbit_batch).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pika
import pika.exceptions
from gevent.event import Event
from pika.adapters.blocking_connection import BlockingChannel

from broker.amqp import (
    CONNECTION_ERRORS,
    close_quietly,
    connect,
    connection_parameters,
    declare_topology,
)
from broker.base import BrokerError, Handler, Outgoing, PublishError, Transport
from broker.rabbit_batch import BatchPublisher
from broker.rabbit_consumer import ConsumerSession
from broker.topology import Topology

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0
# Idle publisher connections kept for reuse; more concurrent publishers than
# this still work, their extra connections are closed after use.
MAX_IDLE_PUBLISHERS = 8
NOT_FOUND = 404


class _Publisher:
    """A connection with a channel in publisher-confirm mode."""

    def __init__(self, params: pika.URLParameters) -> None:
        self.connection = connect(params)
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def alive(self) -> bool:
        """Service heartbeats of an idle connection and tell whether it survived.

        A publisher idle for longer than two heartbeats has been dropped by the
        broker; finding that out here avoids a spurious PublishError.
        """
        try:
            self.connection.process_data_events(time_limit=0)
        except CONNECTION_ERRORS:
            return False
        return self.channel.is_open

    def close(self) -> None:
        close_quietly(self.connection)


class RabbitTransport(Transport):
    def __init__(self, url: str, topology: Topology | None = None) -> None:
        self.topology = topology or Topology()
        self._params = connection_parameters(url)
        self._idle: list[_Publisher] = []
        self._batches = BatchPublisher(self._params, self.topology.exchanges)

    def declare(self) -> None:
        with self._admin_channel() as channel:
            declare_topology(channel, self.topology)

    def publish(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None
    ) -> None:
        publisher = self._checkout()
        properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id
        )
        try:
            publisher.channel.basic_publish(
                exchange, routing_key, body, properties=properties, mandatory=True
            )
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            self._checkin(publisher)  # the channel stays usable after both
            raise PublishError(f"{exchange!r}/{routing_key!r}: {type(exc).__name__}") from exc
        except CONNECTION_ERRORS as exc:
            publisher.close()
            raise PublishError(f"{exchange!r}/{routing_key!r}: {exc!r}") from exc
        except BaseException:
            publisher.close()  # killed mid-publish: the connection state is unknown
            raise
        self._checkin(publisher)

    def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        """Pipelined on one connection with asynchronous confirms (see broker.rabbit_batch).

        An exchange outside the topology is refused without asking the broker.
        """
        return self._batches.publish_many(items)

    def consume(
        self,
        queue: str,
        handler: Handler,
        *,
        prefetch: int = 10,
        concurrency: int = 1,
        stop: Event | None = None,
    ) -> None:
        self._check_consumer(queue, concurrency)
        stop = stop or Event()
        delay = 0.0
        while not stop.is_set():
            session = ConsumerSession(
                self._params, self.topology, queue, handler, prefetch, concurrency, stop
            )
            try:
                session.run()
            except CONNECTION_ERRORS as exc:
                delay = next_delay(delay, session.connected)
                log.warning("%s: broker connection lost (%r); retry in %.1fs", queue, exc, delay)
                stop.wait(delay)

    def queue_depth(self, queue: str) -> int:
        try:
            with self._admin_channel() as channel:
                return channel.queue_declare(queue, passive=True).method.message_count
        except BrokerError as exc:
            if _reply_code(exc.__cause__) == NOT_FOUND:
                raise ValueError(f"no queue {queue!r}") from exc
            raise

    def delete_all(self) -> None:
        """Delete this topology's queues and exchanges (test cleanup)."""
        with self._admin_channel() as channel:
            for queue in (*self.topology.queues, *(q.name for q in self.topology.retry_queues)):
                channel.queue_delete(queue)
            for exchange in self.topology.exchanges:
                channel.exchange_delete(exchange)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self._batches.close()

    def _checkout(self) -> _Publisher:
        while self._idle:
            publisher = self._idle.pop()
            if publisher.alive():
                return publisher
            publisher.close()
        try:
            return _Publisher(self._params)
        except CONNECTION_ERRORS as exc:
            raise PublishError(f"cannot connect to RabbitMQ: {exc!r}") from exc

    def _checkin(self, publisher: _Publisher) -> None:
        if len(self._idle) < MAX_IDLE_PUBLISHERS:
            self._idle.append(publisher)
        else:
            publisher.close()

    @contextmanager
    def _admin_channel(self) -> Iterator[BlockingChannel]:
        """A short-lived connection for rare calls whose errors may close the channel."""
        connection = None
        try:
            connection = connect(self._params)
            yield connection.channel()
        except CONNECTION_ERRORS as exc:
            raise BrokerError(f"RabbitMQ: {exc!r}") from exc
        finally:
            close_quietly(connection)


def next_delay(previous: float, connected: bool) -> float:
    """Back off while reconnecting keeps failing; a session that got going starts over."""
    if previous and not connected:
        return min(previous * 2, BACKOFF_MAX)
    return BACKOFF_FIRST


def _reply_code(exc: BaseException | None) -> int | None:
    return exc.reply_code if isinstance(exc, pika.exceptions.ChannelClosedByBroker) else None
