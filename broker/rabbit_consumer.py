"""One consumer connection to RabbitMQ, from connect to loss or stop.

``RabbitTransport.consume`` runs sessions in a loop with back-off; a session
ends by returning (stop was set) or by raising a connection error.

pika is not greenlet-safe, and it services heartbeats and deliveries only
inside its own calls. The session's greenlet therefore owns the connection: it
pumps it all the time and alone acks and nacks. Handlers run in greenlets of
their own, at most ``concurrency`` at once; each one leaves its outcome in
``_done`` and wakes the pump with pika's ``add_callback_threadsafe`` (the one
BlockingConnection call meant for other threads), and the pump acks it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress

import gevent
import pika
import pika.exceptions
import pika.frame
import pika.spec
from gevent.event import Event
from gevent.pool import Group
from pika.adapters.blocking_connection import BlockingChannel

from broker.amqp import CONNECTION_ERRORS, close_quietly, connect, declare_topology
from broker.base import DRAIN_TIMEOUT, POLL_INTERVAL, RETRY_DELAY, Drop, Handler
from broker.topology import Topology

log = logging.getLogger(__name__)

ACK = "ack"
REQUEUE = "requeue"
KILLED = "killed"  # no outcome: the delivery stays unacked and comes back


class ConsumerSession:
    def __init__(
        self,
        params: pika.URLParameters,
        topology: Topology,
        queue: str,
        handler: Handler,
        prefetch: int,
        concurrency: int,
        stop: Event,
    ) -> None:
        self.params, self.topology, self.queue = params, topology, queue
        self.handler, self.stop = handler, stop
        self.prefetch, self.concurrency = max(prefetch, concurrency), concurrency
        self.connected = False
        self._pending: deque[tuple[int, bytes]] = deque()
        self._unacked = _Unacked()
        self._done: deque[tuple[int, str]] = deque()
        self._handlers = Group()
        self._running = 0  # handlers started and not returned yet
        self._in_flight = 0  # handlers started and not settled yet
        self._cancelled = False

    def run(self) -> None:
        """Consume until stop is set; raises a CONNECTION_ERRORS member when the link breaks."""
        connection = connect(self.params)
        wake_on_stop = _waker(connection)
        self.stop.rawlink(wake_on_stop)
        try:
            channel = connection.channel()
            declare_topology(channel, self.topology)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.add_on_cancel_callback(self._on_cancel)
            channel.basic_consume(self.queue, self._on_message)
            self.connected = True
            log.info("%s: consuming", self.queue)
            self._loop(connection, channel)
            self._drain(connection, channel)
        finally:
            self.stop.unlink(wake_on_stop)
            # Unacked deliveries go back to the queue when the connection
            # closes; a handler still running has lost its connection, and its
            # message will be redelivered, so its result no longer matters.
            close_quietly(connection)
            self._handlers.kill()

    def _loop(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        while not self.stop.is_set():
            if self._cancelled:
                raise pika.exceptions.ConsumerCancelled(f"{self.queue}: cancelled by broker")
            while self._pending and self._running < self.concurrency:
                tag, body = self._pending.popleft()
                self._running += 1
                self._in_flight += 1
                self._handlers.spawn(self._handle, connection, tag, body)
            self._settle(channel)
            connection.process_data_events(time_limit=POLL_INTERVAL)

    def _drain(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        """Stop is set: start nothing new; ack what the running handlers finish in time."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            self._settle(channel)
            if not self._in_flight or time.monotonic() >= deadline:
                return
            connection.process_data_events(time_limit=POLL_INTERVAL)

    def _settle(self, channel: BlockingChannel) -> None:
        acks: list[int] = []
        while self._done:
            tag, outcome = self._done.popleft()
            self._in_flight -= 1
            if outcome == ACK:
                acks.append(tag)
            elif outcome == REQUEUE:
                channel.basic_nack(tag, requeue=True)
                self._unacked.settled(tag)
        self._unacked.ack(channel, acks)

    def _handle(self, connection: pika.BlockingConnection, tag: int, body: bytes) -> None:
        """Runs in a handler greenlet: never touches the channel."""
        outcome = KILLED
        try:
            outcome = self._outcome(body)
        finally:
            self._running -= 1
            self._done.append((tag, outcome))
            _wake(connection)

    def _outcome(self, body: bytes) -> str:
        try:
            self.handler(body)
        except Drop as exc:
            log.warning("%s: dropped poison message: %s; body %.200r", self.queue, exc, body)
        except Exception:
            log.exception("%s: handler failed; message requeued", self.queue)
            self.stop.wait(RETRY_DELAY)
            return REQUEUE
        return ACK

    def _on_message(
        self,
        _channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        _properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        self._pending.append((method.delivery_tag, body))
        self._unacked.delivered(method.delivery_tag)

    def _on_cancel(self, _frame: pika.frame.Method) -> None:
        # The broker cancels a consumer when its queue is deleted or moves;
        # reconnecting (and redeclaring) is the way back.
        self._cancelled = True


class _Unacked:
    """Delivery tags in order, to ack a run of the oldest with one multiple=True ack.

    Every ack goes through the hub (~0.2 ms); at 1,000 messages/s one ack per
    message keeps the pump busy and slows every handler's timers.
    """

    def __init__(self) -> None:
        self._tags: deque[int] = deque()  # unsettled, and some settled out of order
        self._settled: set[int] = set()  # settled tags still in _tags

    def delivered(self, tag: int) -> None:
        self._tags.append(tag)

    def settled(self, tag: int) -> None:
        self._settled.add(tag)

    def ack(self, channel: BlockingChannel, tags: list[int]) -> None:
        to_ack = set(tags)
        last = None
        while self._tags and (self._tags[0] in to_ack or self._tags[0] in self._settled):
            tag = self._tags.popleft()
            self._settled.discard(tag)
            if tag in to_ack:
                to_ack.remove(tag)
                last = tag
        if last is not None:
            channel.basic_ack(last, multiple=True)  # every older delivery is settled
        for tag in to_ack:
            channel.basic_ack(tag)
            self._settled.add(tag)


def _wake(connection: pika.BlockingConnection) -> None:
    """Make the pump's process_data_events return now: it does once it ran any callback."""
    # Fails once the session is over; a handler's message will then be redelivered.
    with suppress(*CONNECTION_ERRORS):
        connection.add_callback_threadsafe(_nothing)


def _waker(connection: pika.BlockingConnection) -> Callable[[Event], None]:
    # Event callbacks run in the hub, which must not block: wake from a greenlet.
    return lambda _stop: gevent.spawn(_wake, connection)


def _nothing() -> None:
    pass
