"""What waits per channel and when the last recipient will have it."""

import gevent
from gevent.event import Event

from broker.embedded import EmbeddedTransport
from broker.topology import Topology
from coordinator.extensions import socketio
from coordinator.queues import REPEAT_EVERY, QueueMonitor
from coordinator.relay import OutboxRelay
from tests.conftest import login
from tests.helpers import wait_until
from tests.test_responses import incident  # noqa: F401  (fixture)


def test_it_counts_outbox_and_broker_queue_and_estimates_the_last(tocsin, incident):  # noqa: F811
    transport = EmbeddedTransport(Topology())
    transport.declare()
    monitor = QueueMonitor(tocsin.db, transport)
    before = monitor.snapshot()
    # in the outbox
    assert before["sms"] == {"queued": 12, "rate": 0.0, "eta_seconds": None, "drill_waiting": 0}

    OutboxRelay(tocsin.db, transport).publish_pending()
    for _ in range(20):
        monitor.note_result("sms")
    after = monitor.snapshot()
    assert after["sms"]["queued"] == 12  # now in the broker queue
    assert after["sms"]["rate"] > 0
    assert after["sms"]["eta_seconds"] == 12 / monitor.rate("sms")
    assert after["voice"] == {"queued": 0, "rate": 0.0, "eta_seconds": None, "drill_waiting": 0}


def test_a_drills_held_back_messages_are_not_a_live_backlog(tocsin, incident):  # noqa: F811
    from tests.test_relay import _declare

    _declare(tocsin, "drill")  # fire and police: 12 SMS, 12 emails
    transport = EmbeddedTransport(Topology())
    transport.declare()
    relay = OutboxRelay(tocsin.db, transport, drill_queue_min=5)
    relay.publish_pending()  # the live incident's 12 SMS
    relay.publish_pending()  # nothing of the drill: the SMS queue already holds 12
    figures = QueueMonitor(tocsin.db, transport).snapshot()["sms"]
    assert (figures["queued"], figures["drill_waiting"]) == (12, 12)


def test_it_sends_the_figures_to_every_console(app, client, tocsin, incident):  # noqa: F811
    login(client, "observer")
    console = socketio.test_client(app, flask_test_client=client)
    console.emit("join", {"incident_id": incident.id}, callback=True)
    monitor = QueueMonitor(tocsin.db, EmbeddedTransport(Topology()), interval=0.01)
    monitor.transport.declare()
    stop = Event()
    loop = gevent.spawn(monitor.run, stop)
    received: list[dict] = []

    def queues_arrived() -> bool:
        received.extend(e["args"][0] for e in console.get_received() if e["name"] == "queues")
        return bool(received)

    wait_until(queues_arrived, what="a queues event from the monitor loop")
    stop.set()
    loop.join()
    assert received[0]["email"] == {
        "queued": 12,
        "rate": 0.0,
        "eta_seconds": None,
        "drill_waiting": 0,
    }
    console.disconnect()


def test_it_sends_unchanged_figures_only_now_and_then(app, client, tocsin, incident):  # noqa: F811
    class Counted(QueueMonitor):
        taken = 0

        def snapshot(self):  # type: ignore[no-untyped-def]
            self.taken += 1
            return super().snapshot()

    login(client, "observer")
    console = socketio.test_client(app, flask_test_client=client)
    console.emit("join", {"incident_id": incident.id}, callback=True)
    monitor = Counted(tocsin.db, EmbeddedTransport(Topology()), interval=0.01)
    monitor.transport.declare()
    stop = Event()
    loop = gevent.spawn(monitor.run, stop)
    received: list[dict] = []

    def sent_twice() -> bool:
        received.extend(e["args"][0] for e in console.get_received() if e["name"] == "queues")
        return len(received) >= 2

    wait_until(sent_twice, what="the figures sent again although unchanged")
    stop.set()
    loop.join()
    # Nothing changed: the second send is the periodic repeat, not one per look.
    assert received[0] == received[1]
    assert monitor.taken >= REPEAT_EVERY + 1
    console.disconnect()
