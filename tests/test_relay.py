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
