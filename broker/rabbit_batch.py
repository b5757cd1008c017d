"""Publishing many messages at once: one connection, asynchronous confirms.

A BlockingConnection waits for the confirm of each message before sending the
next (~1,000-1,350 msg/s here), too slow for the outbox relay after a burst.
``BatchPublisher`` uses pika's GeventConnection instead: up to WINDOW messages
are in flight on one confirm channel, and the broker's acks (often one for many
messages) are matched to the items by delivery tag. One channel keeps the
order of the messages.

pika calls the ``_on_*`` callbacks from the gevent hub, between the publishing
greenlet's own pika calls (which never yield); they only record outcomes and
wake that greenlet. Heartbeats of the idle connection are serviced by the hub.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Collection, Sequence
from contextlib import suppress

import gevent
import pika
import pika.channel
import pika.exceptions
import pika.frame
import pika.spec
from gevent.event import AsyncResult, Event
from gevent.lock import Semaphore
from pika.adapters.gevent_connection import GeventConnection

from broker.amqp import CONNECTION_ERRORS
from broker.base import Outgoing

log = logging.getLogger(__name__)

# Unconfirmed messages in flight. Measured here (2 shared cores, 20,000 messages):
# 1,000 ~22,000 msg/s, 2,000 ~21,000, 5,000 ~33,000. When the connection breaks,
# up to this many messages may have reached the broker yet be reported False,
# and be published again by the caller: duplicates, so no bigger than needed.
WINDOW = 2000
OPEN_TIMEOUT = 5.0
# No confirm at all for this long: the unconfirmed messages count as not published.
STALL_TIMEOUT = 10.0

_Content = tuple[str, str, bytes, str | None]

# pika's gevent ioloop, shared by every connection of a hub (thread): each new
# one opens a pipe that pika never closes (closing it would destroy the hub).
_IOLOOPS: dict[object, object] = {}


class BatchPublisher:
    """One batch at a time; concurrent callers wait their turn."""

    def __init__(self, params: pika.URLParameters, exchanges: Collection[str]) -> None:
        self._params = params
        self._exchanges = frozenset(exchanges)
        self._lock = Semaphore()
        self._connection: GeventConnection | None = None
        self._channel: pika.channel.Channel | None = None
        self._next_tag = 1
        self._batch: _Batch | None = None

    def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        with self._lock:
            batch = _Batch(items)
            try:
                self._run(batch)
            finally:
                self._batch = None
                if not batch.settled():
                    self.close()  # lost, stalled or killed: start the next batch afresh
            return batch.results()

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with suppress(*CONNECTION_ERRORS):
                connection.close()

    def _run(self, batch: _Batch) -> None:
        # An exchange outside the topology would make the broker close the
        # channel, failing every message in flight with it: refuse it alone.
        todo = [i for i, item in enumerate(batch.items) if item[0] in self._exchanges]
        if not todo:
            return
        try:
            channel = self._open()
        except CONNECTION_ERRORS as exc:
            log.warning("publish_many: cannot reach RabbitMQ: %r", exc)
            self.close()  # a half-open connection or channel is no use
            return
        self._batch = batch
        batch.first_tag = self._next_tag
        for index in todo:
            if not batch.wait_below(WINDOW):
                return
            exchange, routing_key, body, message_id = batch.items[index]
            properties = pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id
            )
            try:
                channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
            except CONNECTION_ERRORS as exc:
                log.warning("publish_many: channel lost: %r", exc)
                return
            self._next_tag += 1
            batch.sent(index)
        batch.wait_below(1)

    def _open(self) -> pika.channel.Channel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        if self._connection is None or not self._connection.is_open:
            self.close()
            self._connection = self._connect()
        self._channel = self._open_channel(self._connection)
        self._next_tag = 1
        return self._channel

    def _connect(self) -> GeventConnection:
        opened: AsyncResult = AsyncResult()
        connection = GeventConnection(
            self._params,
            on_open_callback=opened.set,
            on_open_error_callback=lambda _c, exc: opened.set_exception(_error(exc)),
            on_close_callback=self._on_connection_closed,
            custom_ioloop=_IOLOOPS.get(gevent.get_hub()),  # type: ignore[arg-type]
        )
        _IOLOOPS.setdefault(gevent.get_hub(), connection.ioloop)
        try:
            _wait(opened)
        except BaseException:
            with suppress(*CONNECTION_ERRORS):
                connection.close()
            raise
        return connection

    def _open_channel(self, connection: GeventConnection) -> pika.channel.Channel:
        opened: AsyncResult = AsyncResult()
        channel = connection.channel(on_open_callback=opened.set)
        _wait(opened)
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        selected: AsyncResult = AsyncResult()
        channel.confirm_delivery(self._on_confirm, callback=selected.set)
        _wait(selected)
        return channel

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        if self._batch is not None:
            ack = isinstance(method, pika.spec.Basic.Ack)
            self._batch.confirm(method.delivery_tag, method.multiple, ack)

    def _on_return(
        self,
        _channel: pika.channel.Channel,
        method: pika.spec.Basic.Return,
        properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        # RabbitMQ sends the return of an unroutable message before its ack.
        if self._batch is not None:
            self._batch.returned((method.exchange, method.routing_key, body, properties.message_id))

    def _on_channel_closed(self, channel: pika.channel.Channel, exc: BaseException) -> None:
        if channel is self._channel:
            log.warning("publish_many: channel closed: %r", exc)
            self._channel = None
            if self._batch is not None:
                self._batch.fail()

    def _on_connection_closed(self, connection: GeventConnection, exc: BaseException) -> None:
        if connection is self._connection:
            log.warning("publish_many: connection lost: %r", exc)
            self._connection = self._channel = None
            if self._batch is not None:
                self._batch.fail()


class _Batch:
    """Outcomes of one publish_many call, filled in as the broker confirms."""

    def __init__(self, items: Sequence[Outgoing]) -> None:
        self.items = items
        self.first_tag = 1
        self._outcomes: list[bool | None] = [None] * len(items)  # None: not confirmed (yet)
        self._sent: list[int] = []  # item index of each delivery tag, from first_tag on
        self._low = 0  # every position in _sent below this one is settled
        self._unconfirmed = 0
        self._returned: set[int] = set()
        self._by_content: dict[_Content, deque[int]] = {}
        self._failed = False
        self._progress = Event()

    def results(self) -> list[bool]:
        return [outcome is True for outcome in self._outcomes]

    def settled(self) -> bool:
        return self._unconfirmed == 0 and not self._failed

    def sent(self, index: int) -> None:
        self._sent.append(index)
        exchange, routing_key, body, message_id = self.items[index]
        content = (exchange, routing_key, body, message_id)
        self._by_content.setdefault(content, deque()).append(index)
        self._unconfirmed += 1

    def wait_below(self, limit: int) -> bool:
        """Wait until fewer than ``limit`` messages are unconfirmed; False if that cannot be."""
        while self._unconfirmed >= limit and not self._failed:
            self._progress.clear()
            if not self._progress.wait(STALL_TIMEOUT):
                log.warning("publish_many: no confirm for %.0f s; giving up", STALL_TIMEOUT)
                return False
        return not self._failed

    def confirm(self, tag: int, multiple: bool, ack: bool) -> None:
        position = tag - self.first_tag  # negative: a tag of an earlier batch
        if multiple:
            for earlier in range(self._low, min(position + 1, len(self._sent))):
                self._settle(earlier, ack)
        elif 0 <= position < len(self._sent):
            self._settle(position, ack)
        while self._low < len(self._sent) and self._outcomes[self._sent[self._low]] is not None:
            self._low += 1
        self._progress.set()

    def returned(self, content: _Content) -> None:
        candidates = self._by_content.get(content, deque())
        while candidates:
            index = candidates.popleft()
            if self._outcomes[index] is None:
                self._returned.add(index)
                return

    def fail(self) -> None:
        self._failed = True
        self._progress.set()

    def _settle(self, position: int, ack: bool) -> None:
        index = self._sent[position]
        if self._outcomes[index] is None:
            self._outcomes[index] = ack and index not in self._returned
            self._unconfirmed -= 1


def _wait(result: AsyncResult) -> object:
    try:
        return result.get(timeout=OPEN_TIMEOUT)
    except gevent.Timeout:
        raise pika.exceptions.AMQPConnectionError("no answer from RabbitMQ in time") from None


def _error(exc: BaseException | str) -> BaseException:
    return exc if isinstance(exc, BaseException) else pika.exceptions.AMQPConnectionError(exc)
