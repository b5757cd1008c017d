"""Delivery statuses: result events and Twilio receipts only move forward."""

import time

import gevent
import pytest
from gevent.event import Event
from sqlalchemy import event, select
from twilio.request_validator import RequestValidator

from broker.messages import ResultEvent
from broker.transport import Drop
from coordinator.events import EventConsumer, StatusWriter, update_status
from coordinator.extensions import socketio
from coordinator.models import Notification, as_utc
from tests.conftest import TWILIO_TOKEN, login
from tests.test_responses import first, incident  # noqa: F401  (fixture)


def status(tocsin, notification_id: int) -> str:
    value = tocsin.db.session.get(Notification, notification_id).status
    tocsin.db.remove()
    return value


def receipt(client, tocsin, notification_id: int, message_status: str):
    path = f"/hooks/twilio/status?n={notification_id}"
    form = {"MessageSid": "SM" + "2" * 32, "MessageStatus": message_status}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        tocsin.settings.public_url + path, form
    )
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def test_it_moves_statuses_forward_only(client, tocsin, incident):  # noqa: F811
    n = first(tocsin, "sms")
    consumer = EventConsumer(tocsin)
    consumer.handle(ResultEvent(n.id, incident.id, "sms", "sent", provider_id="SMabc").to_json())
    assert status(tocsin, n.id) == "sent"
    assert receipt(client, tocsin, n.id, "delivered").status_code == 204
    assert status(tocsin, n.id) == "delivered"
    # A late "sent" receipt and a repeated result event change nothing.
    assert receipt(client, tocsin, n.id, "sent").status_code == 204
    consumer.handle(ResultEvent(n.id, incident.id, "sms", "sent").to_json())
    assert status(tocsin, n.id) == "delivered"


def test_it_stamps_when_a_notification_was_sent_delivered_or_failed(client, tocsin, incident):  # noqa: F811
    sms, email = first(tocsin, "sms"), first(tocsin, "email")
    consumer = EventConsumer(tocsin)
    worker_said = time.time() - 2.0  # the worker published its event two seconds ago
    consumer.handle(ResultEvent(sms.id, incident.id, "sms", "sent", at=worker_said).to_json())
    receipt(client, tocsin, sms.id, "delivered")
    receipt(client, tocsin, sms.id, "delivered")  # a repeat moves no stamp
    consumer.handle(ResultEvent(email.id, incident.id, "email", "failed", error="x").to_json())
    n = tocsin.db.session.get(Notification, sms.id)
    sent, delivered = as_utc(n.sent_at), as_utc(n.delivered_at)
    assert sent.timestamp() == pytest.approx(worker_said, abs=0.01)
    assert delivered > sent and n.failed_at is None
    failed = tocsin.db.session.get(Notification, email.id)
    assert failed.failed_at is not None and failed.sent_at is None and failed.delivered_at is None
    tocsin.db.remove()


def test_an_undelivered_message_was_sent_and_then_failed(client, tocsin, incident):  # noqa: F811
    sms = first(tocsin, "sms")
    receipt(client, tocsin, sms.id, "undelivered")  # the "sent" receipt never came
    n = tocsin.db.session.get(Notification, sms.id)
    assert n.status == "undelivered"
    assert n.sent_at is not None and n.failed_at is not None and n.delivered_at is None
    tocsin.db.remove()


def test_it_refuses_unsigned_or_unknown_receipts(client, tocsin, incident):  # noqa: F811
    n = first(tocsin, "sms")
    unsigned = client.post(f"/hooks/twilio/status?n={n.id}", data={"MessageStatus": "delivered"})
    assert unsigned.status_code == 403
    assert receipt(client, tocsin, n.id, "teleported").status_code == 400
    assert status(tocsin, n.id) == "queued"


def test_it_drops_a_malformed_event(tocsin):
    with pytest.raises(Drop):
        EventConsumer(tocsin).handle(b'{"notification_id": "x"')


@pytest.fixture
def writer(tocsin):
    """A running StatusWriter, as the hub has; stopped (and drained) after the test."""
    stop = Event()
    tocsin.statuses = StatusWriter(tocsin)
    greenlet = gevent.spawn(tocsin.statuses.run, stop)
    gevent.sleep(0)
    yield tocsin.statuses
    stop.set()
    greenlet.join(timeout=5)
    tocsin.statuses = None


def all_notifications(tocsin) -> list[Notification]:
    rows = tocsin.db.session.scalars(select(Notification).order_by(Notification.id)).all()
    tocsin.db.remove()
    return list(rows)


def test_the_writer_batches_reports_into_few_transactions(tocsin, incident, writer):  # noqa: F811
    notifications = all_notifications(tocsin)
    commits = []
    event.listen(tocsin.db.engine, "commit", lambda _conn: commits.append(1))
    # Every notification: a worker says sent, the provider says sent again and delivered.
    jobs = [
        gevent.spawn(update_status, tocsin, n.id, status, provider_id=f"SM{n.id}")
        for status in ("sent", "sent", "delivered")
        for n in notifications
    ]
    gevent.joinall(jobs, raise_error=True)
    results = [job.value for job in jobs]
    count = len(notifications)
    assert results == [True] * count + [False] * count + [True] * count
    assert {n.status for n in all_notifications(tocsin)} == {"delivered"}
    assert all(n.provider_id == f"SM{n.id}" for n in all_notifications(tocsin))
    assert 1 <= len(commits) < count  # dozens of reports, a handful of transactions


def test_the_writer_tells_the_board_once_per_batch(app, tocsin, incident, writer):  # noqa: F811
    client = app.test_client()
    login(client)
    board = socketio.test_client(app, flask_test_client=client)
    assert board.emit("join", {"incident_id": incident.id}, callback=True) == {"ok": True}
    board.get_received()
    notifications = all_notifications(tocsin)
    gevent.joinall([gevent.spawn(update_status, tocsin, n.id, "sent") for n in notifications])
    batches = [e["args"][0] for e in board.get_received() if e["name"] == "notifications"]
    assert len(batches) < len(notifications)
    seen = sorted(p["id"] for batch in batches for p in batch)
    assert seen == [n.id for n in notifications]
    assert {p["status"] for batch in batches for p in batch} == {"sent"}


def test_a_bad_report_does_not_fail_its_batch(tocsin, incident, writer):  # noqa: F811
    good, other = all_notifications(tocsin)[:2]
    jobs = [
        gevent.spawn(update_status, tocsin, good.id, "sent"),
        gevent.spawn(update_status, tocsin, other.id, "sent", attempt="two"),  # cannot be applied
        gevent.spawn(update_status, tocsin, 10**9, "sent"),  # unknown: changes nothing
    ]
    gevent.joinall(jobs)
    assert jobs[0].value is True
    assert isinstance(jobs[1].exception, TypeError)  # its sender learns; the webhook gets a 500
    assert jobs[2].value is False
    assert status(tocsin, good.id) == "sent"
    assert status(tocsin, other.id) == "queued"


def test_reports_handed_in_as_the_writer_stops_are_still_written(tocsin, incident):  # noqa: F811
    stop = Event()
    tocsin.statuses = StatusWriter(tocsin, linger=0.2)
    greenlet = gevent.spawn(tocsin.statuses.run, stop)
    gevent.sleep(0)
    n = all_notifications(tocsin)[0]
    job = gevent.spawn(update_status, tocsin, n.id, "sent")
    gevent.sleep(0.05)  # the report waits in the writer's linger
    stop.set()
    greenlet.join(timeout=5)
    tocsin.statuses = None
    assert job.get(timeout=5) is True
    assert status(tocsin, n.id) == "sent"
