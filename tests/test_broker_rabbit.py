"""RabbitMQ-only behaviour: failing fast, surviving restarts, slow handlers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import pytest
from gevent.event import Event

from broker.base import BrokerError
from broker.rabbit import RabbitTransport, next_delay
from broker.transport import PublishError
from tests.conftest import free_port
from tests.helpers import wait_until
from tests.helpers.rabbit import need_rabbitmqctl, rabbitmqctl
from tests.test_transport_contract import unique_topology

pytestmark = pytest.mark.rabbitmq


def publish_when_back(transport: RabbitTransport, body: bytes, timeout: float = 20) -> None:
    """What the outbox relay does: keep the message and retry until confirmed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            transport.publish(transport.topology.notify_exchange, "sms", body)
            return
        except PublishError:
            assert time.monotonic() < deadline, "broker did not come back"
            gevent.sleep(0.1)


@pytest.fixture
def rabbit(amqp_url: str) -> Iterator[RabbitTransport]:
    transport = RabbitTransport(amqp_url, unique_topology())
    transport.declare()
    yield transport
    transport.close()
    transport.delete_all()


def consume_in_background(
    transport: RabbitTransport, queue: str
) -> tuple[list[bytes], Event, gevent.Greenlet]:
    seen: list[bytes] = []
    stop = Event()
    return seen, stop, gevent.spawn(transport.consume, queue, seen.append, stop=stop)


@pytest.mark.parametrize(
    ("previous", "connected", "expected"),
    [(0.0, False, 0.5), (0.5, False, 1.0), (4.0, False, 5.0), (5.0, False, 5.0), (5.0, True, 0.5)],
)
def test_it_backs_off_between_reconnects(previous: float, connected: bool, expected: float) -> None:
    assert next_delay(previous, connected) == expected


def test_it_fails_fast_when_the_broker_is_down() -> None:
    transport = RabbitTransport(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    started = time.monotonic()

    with pytest.raises(PublishError):
        transport.publish("tocsin.notify", "sms", b"{}")
    with pytest.raises(BrokerError):
        transport.declare()

    assert time.monotonic() - started < 5


def test_it_survives_a_broker_restart(
    rabbit: RabbitTransport, caplog: pytest.LogCaptureFixture
) -> None:
    need_rabbitmqctl()
    topology = rabbit.topology
    seen, stop, consumer = consume_in_background(rabbit, topology.notify_queue("sms"))
    before = [b"before-%d" % n for n in range(5)]
    for body in before:
        rabbit.publish(topology.notify_exchange, "sms", body)
    rabbit.publish(topology.notify_exchange, "email", b"queued")  # nobody consumes email yet
    wait_until(lambda: set(before) <= set(seen), what="messages before the restart")

    try:
        rabbitmqctl("stop_app")
        with pytest.raises(PublishError):
            rabbit.publish(topology.notify_exchange, "sms", b"refused")
    finally:
        rabbitmqctl("start_app")

    after = [b"after-%d" % n for n in range(5)]
    for body in after:
        publish_when_back(rabbit, body)
    try:
        wait_until(lambda: set(after) <= set(seen), timeout=20, what="consumer reconnected")
        assert b"refused" not in seen
        assert "broker connection lost" in caplog.text
        assert not consumer.dead  # the same consume() call reconnected by itself
        assert rabbit.queue_depth(topology.notify_queue("email")) == 1  # durable across restart
    finally:
        stop.set()
        consumer.join(timeout=5)


def test_it_keeps_a_slow_handler_connected(amqp_url: str) -> None:
    # With 1 s heartbeats the broker drops a connection silent for ~2-3 s; the
    # handler below takes longer, so only the heartbeat pump keeps it alive.
    transport = RabbitTransport(f"{amqp_url}?heartbeat=1", unique_topology())
    transport.declare()
    topology = transport.topology
    handled: list[bytes] = []

    def slow(body: bytes) -> None:
        if body == b"slow":
            gevent.sleep(3.5)
        handled.append(body)

    stop = Event()
    consumer = gevent.spawn(transport.consume, topology.events_queue, slow, stop=stop)
    try:
        transport.publish(topology.events_exchange, "sms", b"slow")
        transport.publish(topology.events_exchange, "sms", b"next")
        wait_until(lambda: b"next" in handled, timeout=10)
        # The publisher connection sat idle meanwhile; it must still work.
        transport.publish(topology.events_exchange, "sms", b"last")
        wait_until(lambda: b"last" in handled)
        assert handled == [b"slow", b"next", b"last"]  # nothing redelivered
    finally:
        stop.set()
        consumer.join(timeout=5)
        transport.close()
        transport.delete_all()
