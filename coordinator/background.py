"""The hub's background loops: outbox relay, status writer, result-event and
dead-letter consumers, queue monitor, escalation runner, drill runner (scheduled
drills and self-closing incidents)."""

from __future__ import annotations

import logging

import gevent
from gevent.event import Event

from broker.embedded import EmbeddedTransport
from broker.transport import Transport
from coordinator.context import Tocsin
from coordinator.events import EventConsumer, StatusWriter
from coordinator.queues import QueueMonitor
from coordinator.relay import OutboxRelay
from coordinator.reports.store import ReportBuilder
from coordinator.services.drills import DrillRunner
from coordinator.services.escalation import EscalationRunner

log = logging.getLogger(__name__)

# Result events handled at once: each waits for its batch of status reports to
# be committed before it is acknowledged, so this bounds the batch size.
EVENT_CONCURRENCY = 256


def start_hub_loops(t: Tocsin, transport: Transport, stop: Event) -> list[gevent.Greenlet]:
    monitor = QueueMonitor(t.db, transport)
    # a drill's messages are paced to what the workers were seen sending (relay.py)
    relay = OutboxRelay(t.db, transport, t.outbox_written, rate=monitor.rate)
    if isinstance(transport, EmbeddedTransport):
        reclaimed = relay.reclaim_unconfirmed()
        if reclaimed:
            log.warning("re-sending %d notifications unconfirmed before the restart", reclaimed)
    consumer = EventConsumer(t, on_result=monitor.note_result)
    t.statuses = StatusWriter(t)
    topology = transport.topology
    return [
        gevent.spawn(relay.run, stop),
        gevent.spawn(t.statuses.run, stop),
        gevent.spawn(
            transport.consume,
            topology.events_queue,
            consumer.handle,
            concurrency=EVENT_CONCURRENCY,
            stop=stop,
        ),
        gevent.spawn(transport.consume, topology.dead_queue, consumer.handle_dead, stop=stop),
        gevent.spawn(monitor.run, stop),
        gevent.spawn(EscalationRunner(t).run, stop),
        gevent.spawn(ReportBuilder(t).run, stop),  # after-action reports of closed incidents
        gevent.spawn(DrillRunner(t).run, stop),
    ]
