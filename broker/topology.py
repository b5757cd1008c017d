"""Names and shape of Tocsin's exchanges, queues and bindings.

One description serves both transports, so the embedded one routes exactly as
RabbitMQ does. The prefix lets test runs (and several deployments sharing one
vhost) live side by side without seeing each other's messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.messages import CHANNELS

DIRECT = "direct"
TOPIC = "topic"

# Binding key that matches every routing key on a topic exchange.
ALL_KEYS = "#"


@dataclass(frozen=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True)
class Topology:
    prefix: str = ""

    @property
    def notify_exchange(self) -> str:
        """Direct exchange; the routing key is the channel (sms, voice, ...)."""
        return f"{self.prefix}tocsin.notify"

    @property
    def events_exchange(self) -> str:
        """Topic exchange so that a later consumer can pick events by channel."""
        return f"{self.prefix}tocsin.events"

    def notify_queue(self, channel: str) -> str:
        return f"{self.prefix}notify.{channel}"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}coordinator.events"

    @property
    def exchanges(self) -> dict[str, str]:
        """Exchange name -> exchange type."""
        return {self.notify_exchange: DIRECT, self.events_exchange: TOPIC}

    @property
    def queues(self) -> tuple[str, ...]:
        return (*(self.notify_queue(c) for c in CHANNELS), self.events_queue)

    @property
    def bindings(self) -> tuple[Binding, ...]:
        notify = tuple(Binding(self.notify_exchange, self.notify_queue(c), c) for c in CHANNELS)
        return (*notify, Binding(self.events_exchange, self.events_queue, ALL_KEYS))
