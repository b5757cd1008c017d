"""The transport API that coordinator and notifier code against.

``make_transport`` picks the implementation from configuration: no AMQP URL
means the in-process transport of ``tocsin run``; an ``amqp://`` URL means
RabbitMQ.
"""

from __future__ import annotations

from broker.base import BrokerError, Drop, Handler, Outgoing, PublishError, Transport
from broker.embedded import EmbeddedTransport
from broker.rabbit import RabbitTransport
from broker.topology import Topology

__all__ = [
    "BrokerError",
    "Drop",
    "EmbeddedTransport",
    "Handler",
    "Outgoing",
    "PublishError",
    "RabbitTransport",
    "Topology",
    "Transport",
    "make_transport",
]

AMQP_SCHEMES = ("amqp://", "amqps://")


def make_transport(amqp_url: str | None, topology: Topology | None = None) -> Transport:
    if not amqp_url:
        return EmbeddedTransport(topology)
    if amqp_url.startswith(AMQP_SCHEMES):
        return RabbitTransport(amqp_url, topology)
    scheme = amqp_url.partition(":")[0]  # never echo the URL: it may hold a password
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r}: use amqp://user:password@host:5672/vhost "
        "(or amqps://), or leave it empty for the embedded in-process transport"
    )
