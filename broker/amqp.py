"""pika plumbing shared by RabbitMQ publishers, consumers and admin calls."""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import parse_qs, urlparse

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from broker.topology import RetryQueue, Topology

# What a lost or refused connection can raise. pika wraps most socket errors,
# but not all of them (e.g. name resolution in some paths).
CONNECTION_ERRORS = (pika.exceptions.AMQPError, OSError)

QUORUM = {"x-queue-type": "quorum"}

# Fail fast on a dead broker: the relay keeps the message and retries, which is
# better than a publish that hangs. A URL query string overrides each of these.
_FAIL_FAST = {
    "connection_attempts": 1,
    "socket_timeout": 2.0,
    "stack_timeout": 4.0,
    "blocked_connection_timeout": 5.0,
}


def connection_parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    given = parse_qs(urlparse(url).query)
    for name, value in _FAIL_FAST.items():
        if name not in given:
            setattr(params, name, value)
    return params


def connect(params: pika.URLParameters) -> pika.BlockingConnection:
    return pika.BlockingConnection(params)


def close_quietly(connection: pika.BlockingConnection | None) -> None:
    """Close a connection that may already be broken; closing must not raise."""
    if connection is None or not connection.is_open:
        return
    with suppress(*CONNECTION_ERRORS):
        connection.close()


def declare_topology(channel: BlockingChannel, topology: Topology) -> None:
    # Redeclaring a queue with other arguments fails with 406: consumed queues
    # keep minimal arguments, and a retry queue's name says its delay (see
    # broker.topology), so changing the delays declares new queues.
    for name, kind in topology.exchanges.items():
        channel.exchange_declare(name, exchange_type=kind, durable=True)
    for name in topology.queues:
        channel.queue_declare(name, durable=True, arguments=QUORUM)
    for retry in topology.retry_queues:
        channel.queue_declare(retry.name, durable=True, arguments=retry_arguments(topology, retry))
    for binding in topology.bindings:
        channel.queue_bind(binding.queue, binding.exchange, routing_key=binding.routing_key)


def retry_arguments(topology: Topology, retry: RetryQueue) -> dict[str, object]:
    """A quorum queue that holds each message for its TTL, then dead-letters it back.

    Quorum dead-lettering is at most once unless the strategy says otherwise; a
    notification lost between two tries would be lost for good. At-least-once
    needs reject-publish overflow (RabbitMQ 3.10+).
    """
    return {
        **QUORUM,
        "x-message-ttl": retry.ttl_ms,
        "x-dead-letter-exchange": topology.notify_exchange,
        "x-dead-letter-routing-key": retry.channel,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
