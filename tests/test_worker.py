"""The worker: pacing, concurrency, and what it publishes for every outcome.

The first tests drive it with a scripted channel on the embedded transport;
the test_it_* ones send through the provider simulator, and the dead-letter
ones run on RabbitMQ, where retries are TTL queues.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import gevent
import pytest
from gevent.event import Event

from broker.messages import DeadLetter, NotifyMessage, ResultEvent
from broker.transport import (
    Drop,
    EmbeddedTransport,
    PublishError,
    RabbitTransport,
    Topology,
    Transport,
)
from notifier.channels import Channel, SendError, Sent, build_channels
from notifier.config import NotifierSettings
from notifier.worker import Worker
from tests.conftest import free_port, fresh_topology
from tests.helpers.simulator import Simulator, start_simulator

FAST_RETRIES = (0.05, 0.1)
# The simulator's inbound webhooks point nowhere; no test here needs them.
HUB_URL = "http://127.0.0.1:9"


def notify(n: int = 1, channel: str = "sms", address: str = "+15551230001", **kw) -> NotifyMessage:
    values = dict(
        notification_id=n,
        alert_id=1,
        incident_id=7,
        responder_id=n,
        channel=channel,
        address=address,
        subject="CRITICAL chemical: Fire at the docks",
        body="Evacuate the north gate. Muster at the car park.",
        ack_url=f"https://tocsin.example/r/token{n}",
    )
    values.update(kw)
    return NotifyMessage(**values)


@dataclass
class Scripted(Channel):
    """A channel that answers from a script: Sent, an exception, or a callable."""

    script: list[object] = field(default_factory=list)
    sent: list[NotifyMessage] = field(default_factory=list)
    name: str = "sms"

    def send(self, msg: NotifyMessage) -> Sent:
        self.sent.append(msg)
        step = self.script.pop(0) if self.script else Sent(f"SM{msg.notification_id}", 1)
        if callable(step):
            step = step(msg)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, Sent)
        return step


class Collector:
    """Everything arriving in one queue, decoded, gathered by a consumer greenlet."""

    def __init__(self, transport: Transport, queue: str, decode: Callable, stop: Event) -> None:
        self.items: list = []
        self._decode = decode
        gevent.spawn(transport.consume, queue, self._add, stop=stop)

    def _add(self, body: bytes) -> None:
        self.items.append(self._decode(body))

    def wait(self, count: int, timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while len(self.items) < count:
            assert time.monotonic() < deadline, f"expected {count}, got {self.items!r}"
            gevent.sleep(0.02)
        return self.items


@dataclass
class Rig:
    transport: Transport
    events: Collector
    dead: Collector
    stop: Event

    def start(self, channels: dict[str, Channel], settings: NotifierSettings) -> Worker:
        worker = Worker(self.transport, channels, settings)
        gevent.spawn(worker.run, self.stop)
        return worker

    def statuses(self) -> list[tuple[int, str, int]]:
        return [(e.notification_id, e.status, e.attempt) for e in self.events.items]


def make_rig(transport: Transport) -> Rig:
    stop = Event()
    transport.declare()
    topology = transport.topology
    events = Collector(transport, topology.events_queue, ResultEvent.from_json, stop)
    dead = Collector(transport, topology.dead_queue, DeadLetter.from_json, stop)
    return Rig(transport, events, dead, stop)


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = make_rig(EmbeddedTransport(Topology(retry_delays=FAST_RETRIES)))
    yield rig
    rig.stop.set()
    gevent.sleep(0.1)


def settings(**kw) -> NotifierSettings:
    values = dict(sms_rate=1000.0, voice_rate=1000.0, email_rate=1000.0, push_rate=1000.0)
    values.update(kw)
    return NotifierSettings(**values)


# Outcomes


def test_it_reports_provider_id_segments_and_attempt_of_a_sent_message(rig):
    rig.start({"sms": Scripted([Sent("SM1", 2)])}, settings())
    rig.transport.publish_notify(notify(1))
    [event] = rig.events.wait(1)
    assert (event.status, event.provider_id, event.segments, event.attempt) == ("sent", "SM1", 2, 1)
    assert (event.notification_id, event.incident_id, event.channel) == (1, 7, "sms")


def test_it_reports_a_permanent_failure_once_and_never_retries_it(rig):
    channel = Scripted([SendError("Twilio 21211: invalid To", permanent=True)])
    rig.start({"sms": channel}, settings())
    rig.transport.publish_notify(notify(1))
    [event] = rig.events.wait(1)
    assert (event.status, event.error, event.attempt) == ("failed", "Twilio 21211: invalid To", 1)
    gevent.sleep(3 * max(FAST_RETRIES))
    assert len(channel.sent) == 1
    assert len(rig.events.items) == 1 and rig.dead.items == []


def test_it_retries_a_transient_failure_as_the_next_attempt(rig):
    channel = Scripted([SendError("Twilio 20429: too many requests"), Sent("SM1")])
    rig.start({"sms": channel}, settings())
    rig.transport.publish_notify(notify(1))
    rig.events.wait(2)
    assert rig.statuses() == [(1, "retrying", 1), (1, "sent", 2)]
    assert rig.events.items[0].error == "Twilio 20429: too many requests"
    assert [m.attempt for m in channel.sent] == [1, 2]
    assert rig.dead.items == []


def test_it_dead_letters_after_max_attempts_and_nothing_else(rig):
    channel = Scripted([SendError("Twilio unreachable")] * 10)
    rig.start({"sms": channel}, settings(max_attempts=3))
    msg = notify(1)
    rig.transport.publish_notify(msg)
    [letter] = rig.dead.wait(1)
    assert (letter.attempts, letter.error) == (3, "Twilio unreachable")
    assert letter.notify_message() == notify(1, attempt=3)
    assert rig.statuses() == [(1, "retrying", 1), (1, "retrying", 2)]
    gevent.sleep(3 * max(FAST_RETRIES))
    assert len(channel.sent) == 3 and len(rig.dead.items) == 1


def test_it_retries_an_unexpected_channel_error_instead_of_spinning_on_it(rig):
    channel = Scripted([KeyError("bug"), Sent("SM1")])
    rig.start({"sms": channel}, settings())
    rig.transport.publish_notify(notify(1))
    rig.events.wait(2)
    assert rig.statuses() == [(1, "retrying", 1), (1, "sent", 2)]
    assert "KeyError" in rig.events.items[0].error


class FlakyEvents(EmbeddedTransport):
    """Refuses the first result event, as a broker that is briefly down would."""

    refused = 0

    def publish_many(self, items):  # type: ignore[no-untyped-def]
        if not self.refused:
            self.refused += 1
            return [False] * len(items)
        return super().publish_many(items)


def test_it_leaves_the_message_unacked_when_the_result_cannot_be_published():
    rig = make_rig(FlakyEvents(Topology(retry_delays=FAST_RETRIES)))
    channel = Scripted()
    worker = rig.start({"sms": channel}, settings())
    with pytest.raises(PublishError, match="not confirmed"):
        worker.handle(notify(5).to_json())
    rig.transport.publish_notify(notify(1))
    [event] = rig.events.wait(1)
    rig.stop.set()
    # Sent twice (at least once), reported once: the first report never got out.
    assert [m.notification_id for m in channel.sent] == [5, 1]
    assert event.status == "sent"


def test_it_leaves_the_message_unacked_when_the_retry_cannot_be_published():
    class NoRetry(EmbeddedTransport):
        def publish_retry(self, msg: NotifyMessage) -> None:
            raise PublishError("broker down")

    transport = NoRetry()
    transport.declare()
    worker = Worker(transport, {"sms": Scripted([SendError("503")])}, settings())
    with pytest.raises(PublishError, match="broker down"):
        worker.handle(notify(1).to_json())


def test_it_drops_poison(rig):
    worker = Worker(rig.transport, {"sms": Scripted()}, settings())
    for body in (b"{not json", notify(1, channel="push").to_json()):
        with pytest.raises(Drop):
            worker.handle(body)


# Concurrency and pacing


def test_it_runs_as_many_sends_at_once_as_the_provider_takes(rig):
    in_flight, peak = [0], [0]

    def slow(msg: NotifyMessage) -> Sent:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        gevent.sleep(0.15)
        in_flight[0] -= 1
        return Sent(f"SM{msg.notification_id}")

    rig.start({"sms": Scripted([slow] * 9)}, settings(sms_concurrency=3))
    for n in range(9):
        rig.transport.publish_notify(notify(n))
    rig.events.wait(9)
    assert peak[0] == 3


def test_it_keeps_sends_at_the_configured_rate(rig):
    starts: list[float] = []

    def record(msg: NotifyMessage) -> Sent:
        starts.append(time.monotonic())
        return Sent("SM")

    before = time.monotonic()
    rig.start({"sms": Scripted([record] * 11)}, settings(sms_rate=20.0, sms_concurrency=5))
    for n in range(11):
        rig.transport.publish_notify(notify(n))
    rig.events.wait(11)
    # 11 sends at 20/s: the last cannot start before 10 slots of 50 ms.
    assert max(starts) - before >= 10 / 20 - 0.002


# Through the simulator (embedded transport) and on RabbitMQ


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    sim = start_simulator(HUB_URL, status_delay=5.0)
    yield sim
    sim.stop()


def sim_settings(sim: Simulator, **kw) -> NotifierSettings:
    values = dict(
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=sim.auth_token,
        twilio_from="+15005550006",
        twilio_api_url=sim.url,
        sms_rate=100.0,
    )
    values.update(kw)
    return NotifierSettings(**values)


@pytest.fixture
def rabbit_rig(amqp_url: str) -> Iterator[Rig]:
    topology = fresh_topology(retry_delays=FAST_RETRIES)
    transport = RabbitTransport(amqp_url, topology)
    rig = make_rig(transport)
    yield rig
    rig.stop.set()
    gevent.sleep(1)  # consumers notice stop within one poll interval
    transport.delete_all()
    transport.close()


def test_it_sends_sms_and_reports_the_sid_and_segments(sim, rig):
    sim.reset()
    settings = sim_settings(sim)
    rig.start(build_channels(["sms"], settings), settings)
    rig.transport.publish_notify(notify(1, body="Evacuate now. " * 30))
    [event] = rig.events.wait(1)
    [record] = sim.messages()
    assert (event.status, event.provider_id, event.attempt) == ("sent", record["sid"], 1)
    assert event.segments == 3
    assert record["validity_period"] == 900


@pytest.mark.rabbitmq
def test_it_reports_an_invalid_number_once_and_never_retries_it(sim, rabbit_rig):
    sim.reset()
    settings = sim_settings(sim)
    rabbit_rig.start(build_channels(["sms"], settings), settings)
    rabbit_rig.transport.publish_notify(notify(1, address="+15005550001"))
    [event] = rabbit_rig.events.wait(1)
    assert (event.status, event.attempt) == ("failed", 1)
    assert "21211" in event.error
    gevent.sleep(3 * sum(FAST_RETRIES) + 0.5)
    assert len(rabbit_rig.events.items) == 1 and rabbit_rig.dead.items == []
    assert sim.messages() == []


@pytest.mark.rabbitmq
def test_it_dead_letters_what_an_unreachable_provider_never_takes(rabbit_rig):
    # Twilio "down": the SMS channel points at a port nobody listens on.
    settings = NotifierSettings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_from="+15005550006",
        twilio_api_url=f"http://127.0.0.1:{free_port()}",
        sms_rate=100.0,
        max_attempts=3,
    )
    rabbit_rig.start(build_channels(["sms"], settings), settings)
    for n in (1, 2, 3):
        rabbit_rig.transport.publish_notify(notify(n))
    letters = rabbit_rig.dead.wait(3, timeout=20)
    gevent.sleep(3 * sum(FAST_RETRIES) + 0.5)  # nothing more comes: exactly one letter each
    assert sorted(letter.notify_message().notification_id for letter in letters) == [1, 2, 3]
    for letter in letters:
        assert letter.attempts == 3 and letter.notify_message().attempt == 3
        assert "Twilio unreachable" in letter.error
    assert sorted(rabbit_rig.statuses()) == [
        (n, "retrying", attempt) for n in (1, 2, 3) for attempt in (1, 2)
    ]
    topology = rabbit_rig.transport.topology
    waiting = [topology.notify_queue("sms"), *(q.name for q in topology.retry_queues)]
    assert [rabbit_rig.transport.queue_depth(q) for q in waiting] == [0] * len(waiting)


@pytest.fixture(scope="module")
def throttled_sim() -> Iterator[Simulator]:
    """Twilio with its API limit: 2 requests/s for the account, then 429 / 20429."""
    sim = start_simulator(HUB_URL, status_delay=5.0, rate_limit=2)
    yield sim
    sim.stop()


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def slow_retry_rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A rig on either transport whose retries wait long enough for Twilio's bucket to refill."""
    topology = fresh_topology(retry_delays=(0.3, 0.6))
    if request.param == "embedded":
        transport: Transport = EmbeddedTransport(topology)
    else:
        transport = RabbitTransport(request.getfixturevalue("amqp_url"), topology)
    rig = make_rig(transport)
    yield rig
    rig.stop.set()
    if isinstance(transport, RabbitTransport):
        gevent.sleep(1)  # consumers notice stop within one poll interval
        transport.delete_all()
        transport.close()


def test_it_retries_what_twilio_throttled_until_it_is_sent(throttled_sim, slow_retry_rig):
    sim, rig = throttled_sim, slow_retry_rig
    sim.reset()
    settings = sim_settings(sim, sms_rate=100.0, max_attempts=10)
    rig.start(build_channels(["sms"], settings), settings)
    try:
        for n in range(1, 5):
            rig.transport.publish_notify(notify(n))
        deadline = time.monotonic() + 15
        while sum(e.status == "sent" for e in rig.events.items) < 4:
            assert time.monotonic() < deadline, rig.statuses()
            gevent.sleep(0.05)
    finally:
        rig.stop.set()
    gevent.sleep(0.2)  # a stray late event would show up here
    retrying = [e for e in rig.events.items if e.status == "retrying"]
    sent = [e for e in rig.events.items if e.status == "sent"]
    assert retrying and all("20429" in e.error and "429" in e.error for e in retrying)
    assert sorted(e.notification_id for e in sent) == [1, 2, 3, 4]
    assert {e.provider_id for e in sent} == {m["sid"] for m in sim.messages()}
    assert rig.dead.items == []


def test_it_avoids_throttling_when_paced_at_the_providers_limit(throttled_sim, rig):
    sim = throttled_sim
    gevent.sleep(1.5)  # let the simulator's bucket fill after the previous test
    settings = sim_settings(sim, sms_rate=2.0)
    rig.start(build_channels(["sms"], settings), settings)
    for n in range(1, 5):
        rig.transport.publish_notify(notify(n))
    rig.events.wait(4)
    gevent.sleep(0.2)
    assert sorted(rig.statuses()) == [(n, "sent", 1) for n in range(1, 5)]
