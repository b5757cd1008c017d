"""One consumer connection to RabbitMQ, from connect to loss or stop.

``RabbitTransport.consume`` runs sessions in a loop with back-off; a session
ends by returning (stop was set) or by raising a connection error.

pika services heartbeats and deliveries only inside its own calls. The session
therefore never runs a handler inside a pika callback: the callback only queues
the delivery, and the handler runs outside pika while, if it takes long, a
helper greenlet pumps the connection so the broker does not drop it.
"""

from __future__ import annotations

import logging
from collections import deque

import gevent
import pika
import pika.exceptions
import pika.frame
import pika.spec
from gevent.event import Event
from pika.adapters.blocking_connection import BlockingChannel

from broker.amqp import CONNECTION_ERRORS, close_quietly, connect, declare_topology
from broker.base import POLL_INTERVAL, RETRY_DELAY, Drop, Handler
from broker.topology import Topology

log = logging.getLogger(__name__)

# A handler running longer than this gets the connection pumped beside it.
PUMP_AFTER = 1.0
PUMP_INTERVAL = 0.2


class ConsumerSession:
    def __init__(
        self,
        params: pika.URLParameters,
        topology: Topology,
        queue: str,
        handler: Handler,
        prefetch: int,
        stop: Event,
    ) -> None:
        self.params, self.topology, self.queue = params, topology, queue
        self.handler, self.prefetch, self.stop = handler, prefetch, stop
        self.connected = False
        self._pending: deque[tuple[int, bytes]] = deque()
        self._cancelled = False

    def run(self) -> None:
        """Consume until stop is set; raises a CONNECTION_ERRORS member when the link breaks."""
        connection = connect(self.params)
        try:
            channel = connection.channel()
            declare_topology(channel, self.topology)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.add_on_cancel_callback(self._on_cancel)
            channel.basic_consume(self.queue, self._on_message)
            self.connected = True
            log.info("%s: consuming", self.queue)
            self._loop(connection, channel)
        finally:
            # Unacked deliveries go back to the queue when the channel closes.
            close_quietly(connection)

    def _loop(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        while not self.stop.is_set():
            if self._cancelled:
                raise pika.exceptions.ConsumerCancelled(f"{self.queue}: cancelled by broker")
            if not self._pending:
                connection.process_data_events(time_limit=POLL_INTERVAL)
                continue
            tag, body = self._pending.popleft()
            self._handle(connection, channel, tag, body)

    def _handle(
        self, connection: pika.BlockingConnection, channel: BlockingChannel, tag: int, body: bytes
    ) -> None:
        try:
            self._call_handler(connection, body)
        except Drop as exc:
            log.warning("%s: dropped poison message: %s; body %.200r", self.queue, exc, body)
        except Exception:
            log.exception("%s: handler failed; message requeued", self.queue)
            connection.sleep(RETRY_DELAY)
            channel.basic_nack(tag, requeue=True)
            return
        channel.basic_ack(tag)

    def _call_handler(self, connection: pika.BlockingConnection, body: bytes) -> None:
        done = Event()
        pump = gevent.spawn(_pump_until, connection, done)
        try:
            self.handler(body)
        finally:
            done.set()
            pump.join()

    def _on_message(
        self,
        _channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        _properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        self._pending.append((method.delivery_tag, body))

    def _on_cancel(self, _frame: pika.frame.Method) -> None:
        # The broker cancels a consumer when its queue is deleted or moves;
        # reconnecting (and redeclaring) is the way back.
        self._cancelled = True


def _pump_until(connection: pika.BlockingConnection, done: Event) -> None:
    """Service heartbeats while a slow handler runs; deliveries only get queued."""
    if done.wait(PUMP_AFTER):
        return
    while not done.is_set():
        try:
            connection.process_data_events(time_limit=PUMP_INTERVAL)
        except CONNECTION_ERRORS as exc:
            # The ack after the handler will fail too and trigger a reconnect.
            log.debug("heartbeat pump stopped: %r", exc)
            return
