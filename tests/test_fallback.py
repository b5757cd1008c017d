"""A failed channel moves on to the responder's next contact point at once."""

import pytest
from sqlalchemy import select

from broker.messages import DeadLetter, NotifyMessage, ResultEvent
from coordinator.events import EventConsumer
from coordinator.models import (
    ContactPoint,
    Notification,
    Outbox,
    Response,
    User,
)
from coordinator.models import (
    DeadLetter as DeadLetterRow,
)
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import login
from tests.test_voice import call_form, twilio_post

FORM = IncidentForm(
    title="Flash flood in Easton",
    kind="flood",
    severity="major",
    lat="51.46",
    lon="-2.56",
    message="Basements flooding on Stapleton Road.",
    agency_slugs=["council"],
    channels=["sms"],
)


@pytest.fixture
def sms(tocsin) -> Notification:
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        declare_incident(session, FORM, user, tocsin.links)
    n = tocsin.db.session.scalars(select(Notification).order_by(Notification.id)).first()
    tocsin.db.remove()
    return n


def notifications_of(tocsin, responder_id: int) -> list[tuple[str, str, int | None]]:
    rows = tocsin.db.session.scalars(
        select(Notification)
        .where(Notification.responder_id == responder_id)
        .order_by(Notification.id)
    ).all()
    tocsin.db.remove()
    return [(n.channel, n.status, n.previous_id) for n in rows]


def test_it_falls_back_when_an_sms_is_undelivered(client, tocsin, sms):
    form = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert twilio_post(client, tocsin, f"/hooks/twilio/status?n={sms.id}", form).status_code == 204
    assert notifications_of(tocsin, sms.responder_id) == [
        ("sms", "undelivered", None),
        ("push", "queued", sms.id),  # the demo's second contact point
    ]
    # The next one is in the outbox, ready for the relay.
    assert tocsin.db.session.scalar(select(Outbox.routing_key).order_by(Outbox.id.desc())) == "push"


def test_it_falls_back_after_a_permanent_error_and_a_missed_call(client, tocsin, sms):
    consumer = EventConsumer(tocsin)
    consumer.handle(ResultEvent(sms.id, 1, "sms", "failed", error="Twilio 21211").to_json())
    push = tocsin.db.session.scalars(
        select(Notification).where(Notification.previous_id == sms.id)
    ).one()
    consumer.handle(ResultEvent(push.id, 1, "push", "failed", error="ntfy 400").to_json())
    email = tocsin.db.session.scalars(
        select(Notification).where(Notification.previous_id == push.id)
    ).one()
    consumer.handle(ResultEvent(email.id, 1, "email", "failed", error="smtp").to_json())
    voice = tocsin.db.session.scalars(
        select(Notification).where(Notification.previous_id == email.id)
    ).one()
    tocsin.db.remove()
    assert voice.channel == "voice"
    form = call_form(CallStatus="no-answer")
    twilio_post(client, tocsin, f"/hooks/twilio/call-status?n={voice.id}", form)
    # Every contact point was tried: nothing more to send, nothing invented.
    assert [c for c, _, _ in notifications_of(tocsin, sms.responder_id)] == [
        "sms",
        "push",
        "email",
        "voice",
    ]
    assert notifications_of(tocsin, sms.responder_id)[-1][1] == "failed"


def test_it_does_not_fall_back_for_someone_who_answered(client, tocsin, sms):
    tocsin.db.session.add(
        Response(
            alert_id=sms.alert_id,
            responder_id=sms.responder_id,
            channel="sms",
            answer="acknowledged",
        )
    )
    tocsin.db.session.commit()
    EventConsumer(tocsin).handle(ResultEvent(sms.id, 1, "sms", "failed").to_json())
    assert [c for c, _, _ in notifications_of(tocsin, sms.responder_id)] == ["sms"]


def test_it_shows_retries_without_moving_the_status(tocsin, sms):
    EventConsumer(tocsin).handle(
        ResultEvent(sms.id, 1, "sms", "retrying", error="Twilio 20429", attempt=2).to_json()
    )
    n = tocsin.db.session.get(Notification, sms.id)
    assert (n.status, n.attempts, n.error) == ("queued", 2, "Twilio 20429")


def test_it_gives_the_first_contact_point_to_someone_without_the_chosen_channel(tocsin, sms):
    with tocsin.db.write() as session:
        session.execute(ContactPoint.__table__.delete().where(ContactPoint.channel == "email"))
        user = session.scalars(select(User).where(User.username == "commander")).one()
        form = IncidentForm(**{**FORM.__dict__, "channels": ["email"]})
        incident = declare_incident(session, form, user, tocsin.links)
    channels = tocsin.db.session.scalars(
        select(Notification.channel)
        .join(Notification.alert)
        .where(Notification.alert.has(incident_id=incident.id))
    ).all()
    assert channels and set(channels) == {"sms"}


def test_it_keeps_dead_letters_and_sends_them_again(client, tocsin, sms):
    payload = tocsin.db.session.scalar(
        select(Outbox.payload).where(Outbox.notification_id == sms.id)
    )
    letter = DeadLetter(message=payload, error="Twilio 503 after retries", attempts=5)
    EventConsumer(tocsin).handle_dead(letter.to_json())
    row = tocsin.db.session.scalars(select(DeadLetterRow)).one()
    assert (row.notification_id, row.attempts, row.channel) == (sms.id, 5, "sms")
    assert notifications_of(tocsin, sms.responder_id)[:2] == [
        ("sms", "failed", None),
        ("push", "queued", sms.id),
    ]

    login(client, "observer")
    page = client.get("/dead-letters").get_data(as_text=True)
    assert "Twilio 503 after retries" in page and "Send again" not in page
    assert client.post(f"/dead-letters/{row.id}/replay").status_code in (400, 403)

    client.post("/logout")
    login(client, "dispatcher")
    page = client.get("/dead-letters").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        client.post(f"/dead-letters/{row.id}/replay", data={"csrf_token": token}).status_code == 302
    )
    again = tocsin.db.session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert (again.channel, again.address, again.previous_id, again.status) == (
        "sms",
        sms.address,
        sms.id,
        "queued",
    )
    outbox = tocsin.db.session.scalar(
        select(Outbox.payload).where(Outbox.notification_id == again.id)
    )
    assert NotifyMessage.from_json(outbox).attempt == 1
    tocsin.db.remove()
    client.post(f"/dead-letters/{row.id}/replay", data={"csrf_token": token})
    assert "already sent again by dispatcher" in client.get("/dead-letters").get_data(as_text=True)
    assert client.post("/dead-letters/999/replay", data={"csrf_token": token}).status_code == 404


def test_it_drops_malformed_dead_letters(tocsin):
    from broker.transport import Drop

    with pytest.raises(Drop):
        EventConsumer(tocsin).handle_dead(b'{"message": "{}", "error": "x", "attempts": 1}')
