"""The contract every transport honours, run against each of them.

The embedded transport stands in for RabbitMQ in ``tocsin run``; passing the
same suite is what makes code tested on one trustworthy on the other.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator

import gevent
import pytest
from gevent.event import Event

from broker.embedded import EmbeddedTransport
from broker.messages import CHANNELS, DeadLetter, MessageError, NotifyMessage, ResultEvent
from broker.rabbit import RabbitTransport
from broker.topology import Topology
from broker.transport import Drop, PublishError, Transport, make_transport
from tests.helpers import wait_until

# Short back-off so that retries come back within a test.
RETRY_DELAYS = (0.2, 0.6)


def unique_topology() -> Topology:
    return Topology(prefix=f"t{uuid.uuid4().hex[:8]}.", retry_delays=RETRY_DELAYS)


def notify(channel: str = "sms", notification_id: int = 1, attempt: int = 1) -> NotifyMessage:
    return NotifyMessage(
        notification_id=notification_id,
        alert_id=2,
        incident_id=3,
        responder_id=4,
        channel=channel,
        address="+15550100",
        subject="Flood, Riverside",
        body="Report to the east gate",
        ack_url="https://tocsin.example/a/xyz",
        attempt=attempt,
    )


class Consumers:
    """Consumer greenlets of one test; all stopped at teardown."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.running: list[tuple[Event, gevent.Greenlet]] = []

    def start(
        self, queue: str, handler: Callable[[bytes], None] | None = None, concurrency: int = 1
    ) -> tuple[list[bytes], Event, gevent.Greenlet]:
        seen: list[bytes] = []

        def record(body: bytes) -> None:
            seen.append(body)
            if handler:
                handler(body)

        stop = Event()
        greenlet = gevent.spawn(
            self.transport.consume, queue, record, concurrency=concurrency, stop=stop
        )
        self.running.append((stop, greenlet))
        return seen, stop, greenlet

    def stop_all(self) -> None:
        for stop, _ in self.running:
            stop.set()
        greenlets = [g for _, g in self.running]
        gevent.joinall(greenlets, timeout=5)
        gevent.killall([g for g in greenlets if not g.dead])
        for greenlet in greenlets:
            if greenlet.exception:
                raise greenlet.exception


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    topology = unique_topology()
    if request.param == "embedded":
        transport: Transport = EmbeddedTransport(topology)
    else:
        transport = RabbitTransport(request.getfixturevalue("amqp_url"), topology)
    transport.declare()
    yield transport
    transport.close()
    if isinstance(transport, RabbitTransport):
        transport.delete_all()


@pytest.fixture
def consumers(transport: Transport) -> Iterator[Consumers]:
    running = Consumers(transport)
    yield running
    running.stop_all()


def test_it_routes_each_channel_to_its_queue(transport: Transport, consumers: Consumers) -> None:
    for n, channel in enumerate(CHANNELS):
        transport.publish_notify(notify(channel, notification_id=n))
    seen = {c: consumers.start(transport.topology.notify_queue(c))[0] for c in CHANNELS}
    wait_until(lambda: all(seen.values()), what="one message per channel")
    for channel, bodies in seen.items():
        assert [NotifyMessage.from_json(b).channel for b in bodies] == [channel]
    assert transport.queue_depth(transport.topology.events_queue) == 0


def test_it_keeps_messages_until_a_consumer_starts(
    transport: Transport, consumers: Consumers
) -> None:
    queue = transport.topology.notify_queue("email")
    bodies = [notify("email", n).to_json() for n in range(3)]
    for body in bodies:
        transport.publish(transport.topology.notify_exchange, "email", body)
    wait_until(lambda: transport.queue_depth(queue) == 3, what="3 messages queued")

    seen, _, _ = consumers.start(queue)

    wait_until(lambda: len(seen) == 3)
    assert seen == bodies
    wait_until(lambda: transport.queue_depth(queue) == 0)


def test_it_raises_publish_error_when_unroutable(transport: Transport) -> None:
    topology = transport.topology
    with pytest.raises(PublishError):
        transport.publish(topology.notify_exchange, "fax", b"{}")
    with pytest.raises(PublishError):
        transport.publish(f"{topology.prefix}no.such.exchange", "sms", b"{}")

    transport.publish_notify(notify("sms"))  # a failed publish leaves the transport usable

    wait_until(lambda: transport.queue_depth(topology.notify_queue("sms")) == 1)


def test_it_redelivers_when_the_handler_fails(
    transport: Transport, consumers: Consumers, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[bytes] = []

    def flaky(body: bytes) -> None:
        attempts.append(body)
        if len(attempts) == 1:
            raise RuntimeError("provider timed out")

    queue = transport.topology.notify_queue("voice")
    transport.publish_notify(notify("voice"))
    seen, stop, greenlet = consumers.start(queue, flaky)

    wait_until(lambda: len(attempts) == 2, what="redelivery")
    stop.set()
    greenlet.join(timeout=5)
    assert attempts[0] == attempts[1] == notify("voice").to_json()
    assert "handler failed; message requeued" in caplog.text
    assert transport.queue_depth(queue) == 0


def test_it_discards_a_message_the_handler_drops(
    transport: Transport, consumers: Consumers, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse_poison(body: bytes) -> None:
        if body == b"poison":
            raise Drop("not a notify message")

    topology = transport.topology
    queue = topology.notify_queue("push")
    for body in (b"poison", b"good"):
        transport.publish(topology.notify_exchange, "push", body)
    seen, stop, greenlet = consumers.start(queue, refuse_poison)
    wait_until(lambda: b"good" in seen)
    stop.set()
    greenlet.join(timeout=5)

    # A fresh consumer would get the poison again had it been requeued.
    seen_later, _, _ = consumers.start(queue)
    transport.publish(topology.notify_exchange, "push", b"sentinel")
    wait_until(lambda: b"sentinel" in seen_later)
    assert seen + seen_later == [b"poison", b"good", b"sentinel"]
    assert "dropped poison message: not a notify message" in caplog.text


def test_it_stops_consuming_when_stop_is_set(transport: Transport, consumers: Consumers) -> None:
    queue = transport.topology.notify_queue("sms")
    seen, stop, greenlet = consumers.start(queue)
    transport.publish_notify(notify("sms"))
    wait_until(lambda: len(seen) == 1)

    stop.set()

    wait_until(lambda: greenlet.dead, what="consume() returned")
    assert greenlet.successful()
    transport.publish_notify(notify("sms", notification_id=2))
    wait_until(lambda: transport.queue_depth(queue) == 1)
    assert len(seen) == 1


def test_it_round_trips_result_events(transport: Transport, consumers: Consumers) -> None:
    sent = ResultEvent(notification_id=7, incident_id=3, channel="email", status="sent")
    failed = ResultEvent(7, 3, "sms", "failed", provider_id="SM1", error="21211 invalid number")
    transport.publish_event(sent)
    transport.publish_event(failed)

    seen, _, _ = consumers.start(transport.topology.events_queue)

    wait_until(lambda: len(seen) == 2)
    assert [ResultEvent.from_json(b) for b in seen] == [sent, failed]


def test_it_publishes_from_many_greenlets_at_once(
    transport: Transport, consumers: Consumers
) -> None:
    bodies = {b"m-%d" % n for n in range(40)}
    publishers = [
        gevent.spawn(transport.publish, transport.topology.notify_exchange, "sms", body)
        for body in bodies
    ]
    gevent.joinall(publishers, timeout=10, raise_error=True)
    seen, _, _ = consumers.start(transport.topology.notify_queue("sms"))
    wait_until(lambda: len(seen) == len(bodies))
    assert set(seen) == bodies


def test_it_declares_idempotently(transport: Transport) -> None:
    transport.publish_notify(notify("sms"))
    transport.declare()
    wait_until(lambda: transport.queue_depth(transport.topology.notify_queue("sms")) == 1)


def test_it_refuses_to_consume_a_queue_outside_the_topology(transport: Transport) -> None:
    with pytest.raises(ValueError, match="not a queue"):
        transport.consume("elsewhere", lambda body: None, stop=Event())


# Concurrent consumers.


class Overlap:
    """A handler that takes a while and counts how many run at the same time."""

    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds = seconds
        self.running = 0
        self.peak = 0
        self.finished: list[bytes] = []

    def __call__(self, body: bytes) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            gevent.sleep(self.seconds)
        finally:
            self.running -= 1
        self.finished.append(body)


def publish_sms(transport: Transport, count: int, prefix: bytes = b"m") -> list[bytes]:
    bodies = [b"%s-%d" % (prefix, n) for n in range(count)]
    for body in bodies:
        transport.publish(transport.topology.notify_exchange, "sms", body)
    return bodies


def assert_nothing_left(transport: Transport, consumers: Consumers, queue: str) -> None:
    """Unacked messages return to the queue when their consumer stops; none may."""
    consumers.stop_all()
    assert transport.queue_depth(queue) == 0
    seen, _, _ = consumers.start(queue)
    transport.publish(transport.topology.notify_exchange, "sms", b"sentinel")
    wait_until(lambda: seen, what="the sentinel")
    assert seen == [b"sentinel"]


def test_it_handles_up_to_concurrency_messages_at_once(
    transport: Transport, consumers: Consumers
) -> None:
    queue = transport.topology.notify_queue("sms")
    bodies = publish_sms(transport, 20)
    handler = Overlap()

    consumers.start(queue, handler, concurrency=5)

    wait_until(lambda: len(handler.finished) == 20, what="20 messages handled")
    assert handler.peak == 5
    assert sorted(handler.finished) == sorted(bodies)
    assert_nothing_left(transport, consumers, queue)


def test_it_acks_every_message_once_under_concurrency(
    transport: Transport, consumers: Consumers, caplog: pytest.LogCaptureFixture
) -> None:
    queue = transport.topology.notify_queue("sms")
    bodies = publish_sms(transport, 300)
    durations = random.Random(7)
    handled: list[bytes] = []

    def uneven(body: bytes) -> None:  # finishing out of order, as provider calls do
        gevent.sleep(durations.uniform(0, 0.02))
        handled.append(body)

    consumers.start(queue, uneven, concurrency=16)

    wait_until(lambda: len(handled) == 300, what="300 messages handled")
    assert sorted(handled) == sorted(bodies)  # no message twice
    assert_nothing_left(transport, consumers, queue)
    assert "broker connection lost" not in caplog.text  # e.g. a channel closed by a double ack


def test_it_redelivers_a_failed_message_under_concurrency(
    transport: Transport, consumers: Consumers, caplog: pytest.LogCaptureFixture
) -> None:
    queue = transport.topology.notify_queue("sms")
    bodies = publish_sms(transport, 8)
    failures: list[bytes] = []
    handler = Overlap(seconds=0.05)

    def flaky(body: bytes) -> None:
        if body == b"m-3" and not failures:
            failures.append(body)
            raise RuntimeError("provider returned 503")
        handler(body)

    consumers.start(queue, flaky, concurrency=4)

    wait_until(lambda: len(handler.finished) == 8, what="every message handled once")
    assert failures == [b"m-3"]
    assert sorted(handler.finished) == sorted(bodies)
    assert "handler failed; message requeued" in caplog.text
    assert_nothing_left(transport, consumers, queue)


def test_it_lets_running_handlers_finish_when_stopped(
    transport: Transport, consumers: Consumers
) -> None:
    queue = transport.topology.notify_queue("sms")
    publish_sms(transport, 3)
    handler = Overlap(seconds=0.5)
    _, stop, greenlet = consumers.start(queue, handler, concurrency=3)
    wait_until(lambda: handler.running == 3, what="3 handlers running")

    stop.set()

    greenlet.join(timeout=5)
    assert greenlet.successful()
    assert len(handler.finished) == 3
    assert_nothing_left(transport, consumers, queue)


# Retry and dead-letter queues.


def test_it_brings_a_retried_message_back_later_with_the_next_attempt(
    transport: Transport, consumers: Consumers
) -> None:
    topology = transport.topology
    arrivals: list[tuple[float, NotifyMessage]] = []
    consumers.start(
        topology.notify_queue("sms"),
        lambda body: arrivals.append((time.monotonic(), NotifyMessage.from_json(body))),
    )

    for attempt, level in [(1, 1), (2, 2), (3, 2)]:  # the last level repeats
        sent = time.monotonic()
        transport.publish_retry(notify("sms", attempt=attempt))
        if level == 2:  # long enough to see it waiting
            assert transport.queue_depth(topology.retry_queue("sms", 2)) == 1
        wait_until(lambda n=attempt: len(arrivals) == n, what=f"retry of attempt {attempt}")
        arrived, message = arrivals[-1]
        assert message == notify("sms", attempt=attempt + 1)
        assert arrived - sent >= RETRY_DELAYS[level - 1] * 0.9

    assert transport.queue_depth(topology.retry_queue("sms", 1)) == 0
    assert transport.queue_depth(topology.retry_queue("sms", 2)) == 0


def test_it_parks_a_dead_letter_in_the_dead_queue(
    transport: Transport, consumers: Consumers
) -> None:
    letter = DeadLetter(notify("push").to_json().decode(), error="503 after 4 tries", attempts=4)

    transport.publish_dead(letter, "push")

    seen, _, _ = consumers.start(transport.topology.dead_queue)
    wait_until(lambda: seen, what="the dead letter")
    assert [DeadLetter.from_json(b) for b in seen] == [letter]
    assert DeadLetter.from_json(seen[0]).notify_message() == notify("push")
    assert transport.queue_depth(transport.topology.notify_queue("push")) == 0


# Publishing many at once.


def test_it_publishes_many_and_says_which_were_confirmed(
    transport: Transport, consumers: Consumers
) -> None:
    exchange = transport.topology.notify_exchange
    items = [
        (exchange, "sms" if n % 3 else "email", b"many-%d" % n, f"id-{n}") for n in range(1000)
    ]
    unroutable = [
        (exchange, "fax", b"nowhere", None),
        (f"{transport.topology.prefix}no.such.exchange", "sms", b"nowhere", None),
    ]

    results = transport.publish_many([*items[:500], *unroutable, *items[500:]])

    assert results == [True] * 500 + [False, False] + [True] * 500
    for channel in ("sms", "email"):
        seen, _, _ = consumers.start(transport.topology.notify_queue(channel))
        expected = [body for _, key, body, _ in items if key == channel]
        wait_until(lambda s=seen, e=expected: len(s) == len(e), what=f"{channel} messages")
        assert seen == expected  # in order
    assert transport.publish_many([]) == []


# Messages and configuration: independent of the transport.


@pytest.mark.parametrize("channel", CHANNELS)
def test_it_round_trips_notify_messages_as_json(channel: str) -> None:
    message = notify(channel)
    assert NotifyMessage.from_json(message.to_json()) == message
    assert message.message_id == "notification-1-1"


def test_it_round_trips_result_events_as_json() -> None:
    event = ResultEvent(1, 2, "voice", "failed", provider_id="CA1", error="busy", at=12.5)
    assert ResultEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"notification_id": 1}',
        notify().to_json().replace(b'"attempt":1', b'"attempt":1,"extra":2'),
        notify().to_json().replace(b'"channel":"sms"', b'"channel":"fax"'),
        notify().to_json().replace(b'"alert_id":2', b'"alert_id":"2"'),
        notify().to_json().replace(b'"alert_id":2', b'"alert_id":true'),
        notify().to_json().replace(b'"address":"+15550100"', b'"address":null'),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-object",
        "missing",
        "unknown",
        "channel",
        "str-id",
        "bool-id",
        "null",
    ],
)
def test_it_rejects_malformed_notify_bodies(body: bytes) -> None:
    with pytest.raises(MessageError):
        NotifyMessage.from_json(body)


def test_it_rejects_malformed_result_events() -> None:
    with pytest.raises(MessageError):
        ResultEvent.from_json(b'{"notification_id": 1, "incident_id": 2, "channel": "sms"}')
    with pytest.raises(MessageError):
        ResultEvent.from_json(
            b'{"notification_id":1,"incident_id":2,"channel":"sms",'
            b'"status":"sent","at":"yesterday"}'
        )


def test_it_makes_the_transport_named_by_the_url() -> None:
    topology = unique_topology()
    assert isinstance(make_transport(None), EmbeddedTransport)
    assert isinstance(make_transport("", topology), EmbeddedTransport)
    rabbit = make_transport("amqp://guest:guest@127.0.0.1:5672/%2F", topology)
    assert isinstance(rabbit, RabbitTransport)
    assert rabbit.topology is topology
    with pytest.raises(ValueError, match="unsupported broker URL") as raised:
        make_transport("redis://user:s3cret@localhost")
    assert "s3cret" not in str(raised.value)


def test_it_names_the_topology_with_the_prefix() -> None:
    topology = Topology(prefix="t1.")
    assert topology.notify_exchange == "t1.tocsin.notify"
    assert topology.events_exchange == "t1.tocsin.events"
    assert topology.notify_queue("sms") == "t1.notify.sms"
    assert topology.events_queue == "t1.coordinator.events"
    assert topology.retry_exchange == "t1.tocsin.retry"
    assert topology.dead_exchange == "t1.tocsin.dead"
    assert topology.dead_queue == "t1.notify.dead"
    assert len(topology.queues) == len(CHANNELS) + 2


def test_it_names_retry_queues_by_channel_level_and_delay() -> None:
    topology = Topology(prefix="t1.", retry_delays=(0.2, 1.5))
    assert topology.retry_queue("sms", 1) == "t1.notify.sms.retry.1.200ms"
    assert topology.retry_key("sms", 2) == "sms.2.1500ms"
    assert [topology.retry_level(attempt) for attempt in (1, 2, 3, 9)] == [1, 2, 2, 2]
    assert len(topology.retry_queues) == len(CHANNELS) * 2
    assert Topology().retry_delays == (1.0, 5.0, 30.0, 120.0)
    with pytest.raises(ValueError, match="retry level 3"):
        topology.retry_queue("sms", 3)
    with pytest.raises(ValueError, match="retry_delays"):
        Topology(retry_delays=())
