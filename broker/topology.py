"""Names and shape of Tocsin's exchanges, queues and bindings.

One description serves both transports, so the embedded one routes exactly as
RabbitMQ does. The prefix lets test runs (and several deployments sharing one
vhost) live side by side without seeing each other's messages.

Retries: a notify message whose send failed transiently waits in a retry queue
of its channel, one queue per back-off level, whose message TTL is the delay;
on expiry RabbitMQ dead-letters it back to ``tocsin.notify`` with the channel
as routing key, so it reappears in ``notify.<channel>``. A message given up
goes to ``notify.dead`` instead.

A queue's TTL is one of its arguments, and redeclaring a queue with other
arguments fails with 406 PRECONDITION_FAILED. The delay is therefore part of
the retry queue's name and of its binding key: changing ``retry_delays``
declares new queues instead of failing, and a message still waiting in an old
queue comes back as usual (the old queue then stays empty; delete it by hand).
The binding key names the delay too, so the old queue, still bound, does not
get a copy of new retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.messages import CHANNELS

DIRECT = "direct"
TOPIC = "topic"

# Binding key that matches every routing key on a topic exchange.
ALL_KEYS = "#"

# Seconds a message waits after its 1st, 2nd, ... failure; the last repeats.
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)


@dataclass(frozen=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True)
class RetryQueue:
    """Messages wait ``delay`` seconds here, then go back to notify.<channel>."""

    name: str
    channel: str
    delay: float
    routing_key: str

    @property
    def ttl_ms(self) -> int:
        return _ms(self.delay)


@dataclass(frozen=True)
class Topology:
    prefix: str = ""
    retry_delays: tuple[float, ...] = RETRY_DELAYS

    def __post_init__(self) -> None:
        delays = tuple(self.retry_delays)
        if not delays or any(_ms(d) < 1 for d in delays):
            raise ValueError(f"retry_delays must be one or more delays >= 1 ms, got {delays!r}")
        object.__setattr__(self, "retry_delays", delays)  # a list would break hashing

    @property
    def notify_exchange(self) -> str:
        """Direct exchange; the routing key is the channel (sms, voice, ...)."""
        return f"{self.prefix}tocsin.notify"

    @property
    def events_exchange(self) -> str:
        """Topic exchange so that a later consumer can pick events by channel."""
        return f"{self.prefix}tocsin.events"

    @property
    def retry_exchange(self) -> str:
        """Direct exchange; the routing key is ``retry_key(channel, level)``."""
        return f"{self.prefix}tocsin.retry"

    @property
    def dead_exchange(self) -> str:
        """Direct exchange; the routing key is the channel, every channel ends in one queue."""
        return f"{self.prefix}tocsin.dead"

    def notify_queue(self, channel: str) -> str:
        return f"{self.prefix}notify.{channel}"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}coordinator.events"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}notify.dead"

    def retry_level(self, attempt: int) -> int:
        """The back-off level after the failure of try ``attempt`` (1-based, capped)."""
        return max(1, min(attempt, len(self.retry_delays)))

    def retry_queue(self, channel: str, level: int) -> str:
        return f"{self.prefix}notify.{channel}.retry.{level}.{self._level_ms(level)}ms"

    def retry_key(self, channel: str, level: int) -> str:
        return f"{channel}.{level}.{self._level_ms(level)}ms"

    @property
    def exchanges(self) -> dict[str, str]:
        """Exchange name -> exchange type."""
        return {
            self.notify_exchange: DIRECT,
            self.events_exchange: TOPIC,
            self.retry_exchange: DIRECT,
            self.dead_exchange: DIRECT,
        }

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues consumers read; retry queues are only ever waited in."""
        return (*(self.notify_queue(c) for c in CHANNELS), self.events_queue, self.dead_queue)

    @property
    def retry_queues(self) -> tuple[RetryQueue, ...]:
        return tuple(
            RetryQueue(self.retry_queue(c, level), c, delay, self.retry_key(c, level))
            for c in CHANNELS
            for level, delay in enumerate(self.retry_delays, start=1)
        )

    @property
    def bindings(self) -> tuple[Binding, ...]:
        notify = tuple(Binding(self.notify_exchange, self.notify_queue(c), c) for c in CHANNELS)
        retry = tuple(
            Binding(self.retry_exchange, q.name, q.routing_key) for q in self.retry_queues
        )
        dead = tuple(Binding(self.dead_exchange, self.dead_queue, c) for c in CHANNELS)
        events = Binding(self.events_exchange, self.events_queue, ALL_KEYS)
        return (*notify, events, *retry, *dead)

    def _level_ms(self, level: int) -> int:
        if not 1 <= level <= len(self.retry_delays):
            raise ValueError(f"retry level {level} outside 1..{len(self.retry_delays)}")
        return _ms(self.retry_delays[level - 1])


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
