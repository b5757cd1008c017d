"""The hub's background loops: outbox relay and result-event consumer."""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from broker.embedded import EmbeddedTransport
from broker.transport import Transport
from coordinator.context import Tocsin
from coordinator.events import EventConsumer
from coordinator.queues import QueueMonitor
from coordinator.relay import OutboxRelay

log = logging.getLogger(__name__)


def start_hub_loops(t: Tocsin, transport: Transport, stop: Event) -> list[gevent.Greenlet]:
    relay = OutboxRelay(t.db, transport, t.outbox_written)
    if isinstance(transport, EmbeddedTransport):
        reclaimed = relay.reclaim_unconfirmed()
        if reclaimed:
            log.warning("re-sending %d notifications unconfirmed before the restart", reclaimed)
    monitor = QueueMonitor(t.db, transport)
    consumer = EventConsumer(t, on_result=monitor.note_result)
    return [
        gevent.spawn(relay.run, stop),
        gevent.spawn(
            transport.consume, transport.topology.events_queue, consumer.handle, stop=stop
        ),
    ]
