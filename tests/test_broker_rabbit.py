"""RabbitMQ-only behaviour: failing fast, surviving restarts and lost connections,
slow handlers, changing retry delays."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import suppress
from urllib.parse import urlparse

import gevent
import pytest
from gevent.event import Event
from gevent.server import StreamServer

from broker.base import BrokerError
from broker.rabbit import RabbitTransport, next_delay
from broker.topology import Topology
from broker.transport import PublishError
from tests.conftest import free_port
from tests.helpers import wait_until
from tests.helpers.rabbit import need_rabbitmqctl, rabbitmqctl
from tests.test_transport_contract import notify, unique_topology

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
    assert transport.publish_many([("tocsin.notify", "sms", b"{}", None)] * 500) == [False] * 500

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
    assert rabbit.publish_many([(topology.notify_exchange, "sms", b"many-before", None)]) == [True]
    wait_until(lambda: set(before) <= set(seen), what="messages before the restart")

    try:
        rabbitmqctl("stop_app")
        with pytest.raises(PublishError):
            rabbit.publish(topology.notify_exchange, "sms", b"refused")
        assert rabbit.publish_many([(topology.notify_exchange, "sms", b"refused", None)]) == [False]
    finally:
        rabbitmqctl("start_app")

    after = [b"after-%d" % n for n in range(5)]
    for body in after:
        publish_when_back(rabbit, body)
    # The batch publisher's connection broke in the restart; it reconnects by itself.
    assert rabbit.publish_many([(topology.notify_exchange, "sms", b"many-after", None)]) == [True]
    try:
        wait_until(lambda: set(after) <= set(seen), timeout=20, what="consumer reconnected")
        wait_until(lambda: b"many-after" in seen)
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


class Relay:
    """A TCP relay to RabbitMQ whose connections a test can cut, as a network failure would."""

    def __init__(self, amqp_url: str) -> None:
        self.target = urlparse(amqp_url)
        self.sockets: list[socket.socket] = []
        self.server = StreamServer(("127.0.0.1", 0), self._relay)
        self.server.start()
        auth = f"{self.target.username}:{self.target.password}@"
        self.url = self.target._replace(netloc=f"{auth}127.0.0.1:{self.server.server_port}")

    def cut(self) -> None:
        for sock in self.sockets:
            with suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def stop(self) -> None:
        self.cut()
        self.server.stop()

    def _relay(self, client: socket.socket, _address: object) -> None:
        with socket.create_connection((self.target.hostname, self.target.port or 5672)) as broker:
            self.sockets += [client, broker]
            pipes = [gevent.spawn(_pipe, client, broker), gevent.spawn(_pipe, broker, client)]
            gevent.joinall(pipes, count=1)
            gevent.killall(pipes)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)


def test_it_drops_the_results_of_handlers_cut_off_by_a_lost_connection(
    amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay = Relay(amqp_url)
    transport = RabbitTransport(relay.url.geturl(), unique_topology())
    transport.declare()
    queue = transport.topology.notify_queue("sms")
    gate = Event()
    started: list[bytes] = []
    finished: list[bytes] = []

    def wait_for_gate(body: bytes) -> None:
        started.append(body)
        gate.wait()
        finished.append(body)

    bodies = [b"m-%d" % n for n in range(4)]
    for body in bodies:
        transport.publish(transport.topology.notify_exchange, "sms", body)
    stop = Event()
    consumer = gevent.spawn(transport.consume, queue, wait_for_gate, concurrency=4, stop=stop)
    try:
        wait_until(lambda: len(started) == 4, what="4 handlers running")

        relay.cut()

        wait_until(lambda: len(started) == 8, what="redelivered after the reconnection")
        assert finished == []  # cut-off handlers were stopped, their messages came back
        gate.set()
        wait_until(lambda: len(finished) == 4)
        assert sorted(started) == sorted(bodies * 2)
        assert sorted(finished) == bodies
        assert "broker connection lost" in caplog.text
    finally:
        stop.set()
        consumer.join(timeout=5)
        transport.close()
        relay.stop()
    assert consumer.successful()
    cleanup = RabbitTransport(amqp_url, transport.topology)
    assert cleanup.queue_depth(queue) == 0  # acked once, on the new connection
    cleanup.delete_all()


def test_it_declares_new_retry_queues_when_the_delays_change(amqp_url: str) -> None:
    prefix = unique_topology().prefix
    before = RabbitTransport(amqp_url, Topology(prefix, retry_delays=(0.2, 0.6)))
    after = RabbitTransport(amqp_url, Topology(prefix, retry_delays=(0.3,)))
    try:
        before.declare()
        after.declare()  # same names would fail with 406 PRECONDITION_FAILED

        after.publish_retry(notify("sms", attempt=3))

        assert after.queue_depth(after.topology.retry_queue("sms", 1)) == 1
        for level in (1, 2):  # still bound, but other keys: no copy
            assert before.queue_depth(before.topology.retry_queue("sms", level)) == 0
        queue = after.topology.notify_queue("sms")
        wait_until(lambda: after.queue_depth(queue) == 1, what="the retry back in notify.sms")
    finally:
        for transport in (before, after):
            transport.close()
            transport.delete_all()


def test_it_reports_what_was_confirmed_when_publish_many_loses_its_connection(
    amqp_url: str,
) -> None:
    relay = Relay(amqp_url)
    transport = RabbitTransport(relay.url.geturl(), unique_topology())
    direct = RabbitTransport(amqp_url, transport.topology)
    transport.declare()
    queue = transport.topology.notify_queue("sms")
    exchange = transport.topology.notify_exchange
    items = [(exchange, "sms", b"m-%d" % n, None) for n in range(50_000)]
    try:
        batch = gevent.spawn(transport.publish_many, items)
        wait_until(lambda: direct.queue_depth(queue) >= 1000, what="publishing under way")

        relay.cut()

        results = batch.get(timeout=15)
        assert True in results and False in results
        assert direct.queue_depth(queue) >= results.count(True)  # each confirmed one arrived
        assert transport.publish_many([(exchange, "sms", b"after", None)]) == [True]
    finally:
        transport.close()
        relay.stop()
        direct.delete_all()
