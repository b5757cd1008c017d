"""The outbox relay: publish, mark only after confirmation, never lose a row."""

import pytest
from sqlalchemy import select, update

from broker.embedded import EmbeddedTransport
from broker.rabbit import RabbitTransport
from broker.topology import Topology
from broker.transport import PublishError
from coordinator.models import Notification, Outbox
from coordinator.relay import OutboxRelay
from tests.conftest import free_port
from tests.test_responses import incident  # noqa: F401  (fixture)


def outbox(tocsin) -> list[Outbox]:
    rows = tocsin.db.session.scalars(select(Outbox).order_by(Outbox.id)).all()
    tocsin.db.remove()
    return list(rows)


def test_it_publishes_in_order_and_marks_rows(tocsin, incident):  # noqa: F811
    transport = EmbeddedTransport(Topology())
    transport.declare()
    published = OutboxRelay(tocsin.db, transport).publish_pending()
    rows = outbox(tocsin)
    assert published == len(rows) == 24  # fire and police: 12 responders, SMS and email
    assert all(r.published_at is not None and r.attempts == 1 for r in rows)
    sms = transport.queue_depth(transport.topology.notify_queue("sms"))
    email = transport.queue_depth(transport.topology.notify_queue("email"))
    assert sms == email == len(rows) // 2
    assert OutboxRelay(tocsin.db, transport).publish_pending() == 0  # nothing twice


def test_it_keeps_rows_when_the_broker_refuses(tocsin, incident):  # noqa: F811
    down = RabbitTransport(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", Topology("x."))
    with pytest.raises(PublishError):
        OutboxRelay(tocsin.db, down).publish_pending()
    rows = outbox(tocsin)
    assert all(r.published_at is None for r in rows)
    assert rows[0].attempts == 1 and rows[0].last_error
    down.close()


def test_it_sends_again_what_an_embedded_restart_may_have_lost(tocsin, incident):  # noqa: F811
    first = EmbeddedTransport(Topology())
    first.declare()
    relay = OutboxRelay(tocsin.db, first)
    total = relay.publish_pending()
    with tocsin.db.write() as session:  # one result came back before the "crash"
        done = session.scalars(select(Notification).order_by(Notification.id)).first()
        session.execute(
            update(Notification).where(Notification.id == done.id).values(status="sent")
        )
    assert relay.reclaim_unconfirmed() == total - 1
    second = EmbeddedTransport(Topology())
    second.declare()
    assert OutboxRelay(tocsin.db, second).publish_pending() == total - 1


def _declare(tocsin, mode: str) -> int:
    from coordinator.services.alerts import IncidentForm, declare_incident

    form = IncidentForm(
        title=f"{mode} fire", kind="fire", severity="major", lat="51.45", lon="-2.59",
        message="Attend.", agency_slugs=["fire", "police"], mode=mode, channels=["sms", "email"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, form, None, tocsin.links).id


def _published(tocsin) -> dict[bool, int]:
    rows = outbox(tocsin)
    return {
        drill: sum(1 for r in rows if r.drill is drill and r.published_at is not None)
        for drill in (False, True)
    }


def test_live_alerts_go_first_and_drills_only_fill_short_queues(tocsin):
    _declare(tocsin, "drill")  # the drill was declared first
    _declare(tocsin, "live")
    transport = EmbeddedTransport(Topology())
    transport.declare()
    relay = OutboxRelay(tocsin.db, transport, drill_queue_min=4)
    published = relay.publish_pending()
    # every live message, and drill ones only up to 4 waiting per channel
    assert _published(tocsin) == {False: 24, True: 0}
    assert published == 24
    sms_queue = transport.topology.notify_queue("sms")
    assert transport.queue_depth(sms_queue) == 12
    # workers drain the queues: now the drill's messages go, 4 per channel at a time
    for channel in ("sms", "email"):
        queue = transport.topology.notify_queue(channel)
        while transport.queue_depth(queue):
            transport._queue(queue).get_nowait()
    assert relay.publish_pending() == 8
    assert _published(tocsin) == {False: 24, True: 8}
    assert relay.publish_pending() == 0  # the queues are full again for drills
    first_drill_sms = transport._queue(sms_queue).peek_nowait()
    assert b'"exercise":true' in first_drill_sms


def test_a_drill_may_fill_a_queue_with_a_few_seconds_of_its_workers_pace(tocsin):
    transport = EmbeddedTransport(Topology())
    rates = {"sms": 30.0, "email": 2.0}
    relay = OutboxRelay(
        tocsin.db, transport, rate=lambda c: rates.get(c, 0.0), drill_queue_seconds=5
    )
    # 5 s of work at the rate last seen; never fewer than the minimum before any rate is known
    assert relay.drill_queue_limit("sms") == 150
    assert relay.drill_queue_limit("email") == relay.drill_queue_limit("push") == 20
    transport.declare()
    _declare(tocsin, "drill")  # 12 SMS and 12 emails
    rates["sms"] = 1.0  # a long code: 1 SMS a second
    relay.drill_queue_min = 3
    assert relay.publish_pending() == 5 + 10  # 5 s of SMS, 5 s of email at 2/s
