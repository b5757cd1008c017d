"""The transport interface both implementations honour, and its errors.

Kept apart from ``broker.transport`` (which re-exports everything here) so that
``make_transport`` can import the implementations without an import cycle.

How to add a transport: subclass ``Transport``, implement every abstract method
with the guarantees written on it, and add it to the parametrized fixture of
``tests/test_transport_contract.py``; the contract suite is the definition.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import replace

from gevent.event import Event

from broker.messages import DeadLetter, NotifyMessage, ResultEvent
from broker.topology import Topology

Handler = Callable[[bytes], None]
# One message of publish_many: exchange, routing key, body, message id.
Outgoing = tuple[str, str, bytes, str | None]

# How long a consumer waits before requeueing a message whose handler failed:
# without it a failing handler would spin on the same message at full speed.
RETRY_DELAY = 0.5
# How often a consumer waiting for messages looks at its stop event.
POLL_INTERVAL = 0.5
# How long a stopping consumer lets running handlers finish before killing them.
DRAIN_TIMEOUT = 10.0


class BrokerError(Exception):
    """The broker could not be reached or refused an operation."""


class PublishError(BrokerError):
    """The broker did not confirm a message: it is down, nacked it, or could not route it.

    The caller still owns the message and should retry later (the outbox relay
    leaves the row unpublished).
    """


class Drop(Exception):
    """Raised by a handler for a message that can never be processed (poison).

    The consumer acks and discards it, with a log line, instead of requeueing it
    forever.
    """


class Transport(ABC):
    topology: Topology

    @abstractmethod
    def declare(self) -> None:
        """Create the topology's exchanges, queues and bindings; safe to call again.

        Raises BrokerError when the broker is unreachable.
        """

    @abstractmethod
    def publish(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None
    ) -> None:
        """Return only once the broker has taken responsibility for the message.

        Raises PublishError on any failure, unroutable messages included; the
        next call reconnects if the failure broke the connection.
        """

    def publish_many(self, items: Sequence[Outgoing]) -> list[bool]:
        """Publish ``items`` as fast as the transport can; say which ones the broker took.

        Never raises for a message: each result is True only if that message
        was confirmed (False when unroutable, nacked, or the broker is down).
        Messages of one routing key keep their order. Transports override this
        plain loop when they can do better.
        """
        return [self._published(*item) for item in items]

    @abstractmethod
    def consume(
        self,
        queue: str,
        handler: Handler,
        *,
        prefetch: int = 10,
        concurrency: int = 1,
        stop: Event | None = None,
    ) -> None:
        """Feed messages of ``queue`` to ``handler`` until ``stop`` is set.

        Handler returns: ack. Handler raises Drop: ack and discard. Handler raises
        anything else: log, wait RETRY_DELAY, requeue. Connection problems are
        logged and retried with back-off; they never end the call.

        Up to ``concurrency`` messages are handled at once, each in its own
        greenlet (prefetch is raised to at least that); with 1, in queue order.
        Once ``stop`` is set no new message starts, and the running handlers get
        a few seconds (DRAIN_TIMEOUT) to finish and be acked.
        """

    @abstractmethod
    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (not those being handled right now)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; call after the greenlets using the transport ended."""

    def publish_notify(self, msg: NotifyMessage) -> None:
        self.publish(
            self.topology.notify_exchange, msg.channel, msg.to_json(), message_id=msg.message_id
        )

    def publish_event(self, event: ResultEvent) -> None:
        self.publish(self.topology.events_exchange, event.channel, event.to_json())

    def publish_retry(self, msg: NotifyMessage) -> None:
        """Send ``msg`` back to its channel's queue as the next attempt, after a delay.

        The delay grows with ``msg.attempt`` (topology.retry_delays, the last
        one repeating). Confirmed like publish(); raises PublishError.
        """
        level = self.topology.retry_level(msg.attempt)
        again = replace(msg, attempt=msg.attempt + 1)
        key = self.topology.retry_key(msg.channel, level)
        self.publish(
            self.topology.retry_exchange, key, again.to_json(), message_id=again.message_id
        )

    def publish_dead(self, letter: DeadLetter, channel: str) -> None:
        """Park a notification given up on in the dead queue; raises PublishError."""
        self.publish(self.topology.dead_exchange, channel, letter.to_json())

    def _published(
        self, exchange: str, routing_key: str, body: bytes, message_id: str | None
    ) -> bool:
        try:
            self.publish(exchange, routing_key, body, message_id=message_id)
        except PublishError:
            return False
        return True

    def _check_consumer(self, queue: str, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._check_queue(queue)

    def _check_queue(self, queue: str) -> None:
        # Consuming a queue outside the topology is a programming error; failing
        # here beats a consumer that retries a 404 forever.
        if queue not in self.topology.queues:
            raise ValueError(f"{queue!r} is not a queue of {self.topology}")
