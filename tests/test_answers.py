"""One answer model on every channel: the first answer stops the responder's other
channels still in the outbox, every answer is recorded once and audited."""

import gevent
import pytest
from gevent.event import Event
from sqlalchemy import func, select

from broker.embedded import EmbeddedTransport
from broker.messages import NotifyMessage
from broker.topology import Topology
from coordinator.extensions import socketio
from coordinator.models import Alert, AuditEvent, Notification, Outbox, Response, User
from coordinator.relay import OutboxRelay
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import login
from tests.helpers import wait_until
from tests.test_responses import post_sms, sms_form
from tests.test_voice import call_form, twilio_post

FORM = IncidentForm(
    title="Warehouse fire, Avonmouth",
    kind="fire",
    severity="critical",
    lat="51.50",
    lon="-2.69",
    message="Smoke plume heading east. Keep windows shut.",
    agency_slugs=["council"],
    channels=["sms", "email", "push", "voice"],
)


@pytest.fixture
def alert_id(tocsin) -> int:
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        incident = declare_incident(session, FORM, user, tocsin.links)
        return incident.alerts[0].id


def notifications(tocsin, responder_id: int | None = None) -> dict[str, Notification]:
    """channel -> notification, of one responder (the first one alerted by default)."""
    rows = tocsin.db.session.scalars(select(Notification).order_by(Notification.id)).all()
    tocsin.db.remove()
    responder_id = responder_id or rows[0].responder_id
    return {n.channel: n for n in rows if n.responder_id == responder_id}


def count(tocsin, model, *where) -> int:
    value = tocsin.db.session.scalar(select(func.count()).select_from(model).where(*where))
    tocsin.db.remove()
    return value


def answer_by(client, tocsin, channel: str, mine: dict[str, Notification], what: str = "1"):
    """Answer as a responder would on this channel; returns the HTTP response."""
    if channel == "sms":
        return post_sms(client, tocsin, sms_form(mine["sms"].address, what))
    if channel == "voice":
        n = mine["voice"]
        return twilio_post(
            client, tocsin, f"/hooks/twilio/voice/keypress?n={n.id}", call_form(Digits=what)
        )
    path = tocsin.links.url_for(mine["email"].id).removeprefix(tocsin.settings.public_url)
    return client.post(path, data={"answer": {"1": "acknowledged", "2": "en_route"}[what]})


def published(transport: EmbeddedTransport) -> list[NotifyMessage]:
    """Every notify message the relay handed to the transport, taken off its queues."""
    taken: list[NotifyMessage] = []
    stop = Event()
    queues = [transport.topology.notify_queue(c) for c in ("sms", "email", "push", "voice")]
    consumers = [
        gevent.spawn(transport.consume, q, lambda b: taken.append(NotifyMessage.from_json(b)),
                     stop=stop)
        for q in queues
    ]  # fmt: skip
    wait_until(lambda: all(transport.queue_depth(q) == 0 for q in queues), what="queues drained")
    stop.set()
    gevent.joinall(consumers, timeout=5)
    return taken


def test_the_first_answer_cancels_the_channels_not_yet_sent(app, client, tocsin, alert_id):
    mine = notifications(tocsin)
    assert set(mine) == {"sms", "email", "push", "voice"}
    total = count(tocsin, Outbox)
    login(client, "observer")
    board = socketio.test_client(app, flask_test_client=client)
    incident_id = tocsin.db.session.get(Alert, alert_id).incident_id
    board.emit("join", {"incident_id": incident_id}, callback=True)
    board.get_received()

    assert answer_by(client, tocsin, "sms", mine).status_code == 200

    after = notifications(tocsin)
    assert {c: n.status for c, n in after.items()} == {
        "sms": "queued",  # the one answered reached them
        "email": "cancelled",
        "push": "cancelled",
        "voice": "cancelled",
    }
    others = [mine[c].id for c in ("email", "push", "voice")]
    withheld = tocsin.db.session.scalars(
        select(Outbox).where(Outbox.notification_id.in_(others))
    ).all()
    assert all(o.published_at is not None and o.last_error == "cancelled: answered"
               for o in withheld)  # fmt: skip
    events = [e for e in board.get_received() if e["name"] == "notifications"]
    assert sorted((x["id"], x["status"]) for x in events[0]["args"][0]) == [
        (i, "cancelled") for i in sorted(others)
    ]
    board.disconnect()

    transport = EmbeddedTransport(Topology())
    transport.declare()
    relay = OutboxRelay(tocsin.db, transport)
    assert relay.publish_pending() == total - 3
    sent = published(transport)
    assert len(sent) == total - 3
    assert not {m.notification_id for m in sent} & set(others)
    assert relay.reclaim_unconfirmed() == total - 3  # after a restart: never the cancelled
    audited = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "notification.cancelled")
    ).one()
    assert audited.detail["notification_ids"] == sorted(others)


def test_a_repeated_answer_changes_nothing(client, tocsin, alert_id):
    mine = notifications(tocsin)
    answer_by(client, tocsin, "sms", mine)
    before = (count(tocsin, Response), count(tocsin, AuditEvent), notifications(tocsin))
    again = answer_by(client, tocsin, "sms", mine)
    assert "already recorded ACKNOWLEDGED" in again.get_data(as_text=True)
    after = (count(tocsin, Response), count(tocsin, AuditEvent), notifications(tocsin))
    assert after[:2] == before[:2]
    assert {c: n.status for c, n in after[2].items()} == {c: n.status for c, n in before[2].items()}


def test_a_later_answer_is_recorded_but_cancels_nothing_more(client, tocsin, alert_id):
    mine = notifications(tocsin)
    answer_by(client, tocsin, "sms", mine)
    answer_by(client, tocsin, "sms", mine, "2")
    answers = tocsin.db.session.scalars(select(Response.answer).order_by(Response.id)).all()
    assert answers == ["acknowledged", "en_route"]
    assert count(tocsin, AuditEvent, AuditEvent.action == "notification.cancelled") == 1
    assert count(tocsin, AuditEvent, AuditEvent.action == "response.recorded") == 2


@pytest.mark.parametrize("first", ["sms", "voice", "link"])
def test_every_channel_gives_the_same_response(client, tocsin, alert_id, first):
    mine = notifications(tocsin)
    order = [first, *(c for c in ("sms", "voice", "link") if c != first)]
    for channel in order:
        reply = answer_by(client, tocsin, channel, mine)
        assert reply.status_code == 200, reply.get_data(as_text=True)
    rows = tocsin.db.session.scalars(select(Response)).all()
    assert [(r.responder_id, r.alert_id, r.answer, r.channel) for r in rows] == [
        (mine["sms"].responder_id, alert_id, "acknowledged", first)
    ]
    assert count(tocsin, AuditEvent, AuditEvent.action == "response.recorded") == 1
    # the first answer stopped every other channel of this responder, whichever it was
    answered = {"sms": "sms", "voice": "voice", "link": "email"}[first]
    statuses = {c: n.status for c, n in notifications(tocsin).items()}
    assert statuses.pop(answered) == "queued"
    assert set(statuses.values()) == {"cancelled"}


def test_an_answer_leaves_other_responders_alone(client, tocsin, alert_id):
    mine = notifications(tocsin)
    answer_by(client, tocsin, "sms", mine)
    statuses = tocsin.db.session.scalars(
        select(Notification.status).where(Notification.responder_id != mine["sms"].responder_id)
    ).all()
    assert statuses and set(statuses) == {"queued"}
    assert count(tocsin, Outbox, Outbox.published_at.is_not(None)) == 3
