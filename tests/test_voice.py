"""Voice calls: the TwiML a call reads, keypresses as answers, call outcomes."""

from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from coordinator.models import Notification, Response, User
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import TWILIO_TOKEN

FORM = IncidentForm(
    title="Tanker fire on the A4",
    kind="fire",
    severity="critical",
    lat="51.44",
    lon="-2.60",
    message="Road closed both ways.",
    agency_slugs=["fire"],
    channels=["voice"],
)


@pytest.fixture
def call(tocsin) -> Notification:
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        declare_incident(session, FORM, user, tocsin.links)
        n = session.scalars(select(Notification).order_by(Notification.id)).first()
    return n


def twilio_post(client, tocsin, path: str, form: dict, signature: str | None = None):
    url = tocsin.settings.public_url + path
    signature = signature or RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def call_form(**extra) -> dict:
    return {"CallSid": "CA" + "3" * 32, "AccountSid": "AC" + "0" * 32, **extra}


def test_it_reads_the_alert_twice_and_asks_for_a_key(client, tocsin, call):
    assert call.channel == "voice"
    reply = twilio_post(client, tocsin, f"/hooks/twilio/voice?n={call.id}", call_form())
    assert reply.status_code == 200
    root = ElementTree.fromstring(reply.data)
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action").endswith(f"/hooks/twilio/voice/keypress?n={call.id}")
    said = [s.text for s in gather.findall("Say")]
    assert sum(FORM.message in text for text in said) == 2
    assert "Press 1 to acknowledge" in said[-1]


@pytest.mark.parametrize(
    ("digit", "answer"), [("1", "acknowledged"), ("2", "en_route"), ("3", "unavailable")]
)
def test_it_records_a_keypress_as_an_answer(client, tocsin, call, digit, answer):
    path = f"/hooks/twilio/voice/keypress?n={call.id}"
    reply = twilio_post(client, tocsin, path, call_form(Digits=digit))
    assert b"Recorded" in reply.data and b"<Hangup" in reply.data
    twilio_post(client, tocsin, path, call_form(Digits=digit))  # a retried webhook
    responses = tocsin.db.session.scalars(select(Response)).all()
    assert [(r.answer, r.channel, r.responder_id) for r in responses] == [
        (answer, "voice", call.responder_id)
    ]


def test_it_repeats_on_9_and_explains_other_keys(client, tocsin, call):
    path = f"/hooks/twilio/voice/keypress?n={call.id}"
    again = ElementTree.fromstring(twilio_post(client, tocsin, path, call_form(Digits="9")).data)
    assert sum(FORM.message in s.text for s in again.find("Gather").findall("Say")) == 2
    other = twilio_post(client, tocsin, path, call_form(Digits="7")).get_data(as_text=True)
    assert "not an answer" in other
    assert tocsin.db.session.scalars(select(Response)).all() == []


def test_it_refuses_unsigned_voice_webhooks(client, tocsin, call):
    path = f"/hooks/twilio/voice/keypress?n={call.id}"
    assert (
        twilio_post(client, tocsin, path, call_form(Digits="1"), signature="bad").status_code == 403
    )
    assert tocsin.db.session.scalars(select(Response)).all() == []
    unknown = twilio_post(client, tocsin, "/hooks/twilio/voice?n=99999", call_form())
    assert unknown.status_code == 400


def test_a_drill_call_says_exercise_before_and_after_the_alert(client, tocsin):
    from dataclasses import replace

    with tocsin.db.write() as session:
        incident = declare_incident(session, replace(FORM, mode="drill"), None, tocsin.links)
        n = session.scalars(
            select(Notification).where(Notification.alert_id == incident.alerts[0].id)
        ).first()
    reply = twilio_post(client, tocsin, f"/hooks/twilio/voice?n={n.id}", call_form())
    root = ElementTree.fromstring(reply.data)
    said = [s.text for s in root.iter("Say")]
    readings = [text for text in said if FORM.message in text]
    assert len(readings) == 2
    for text in readings:
        before, _, after = text.partition(FORM.message)
        assert "EXERCISE EXERCISE EXERCISE" in before and "EXERCISE EXERCISE EXERCISE" in after
    assert said[-1].startswith("EXERCISE EXERCISE EXERCISE")  # the goodbye too
    pressed = twilio_post(
        client, tocsin, f"/hooks/twilio/voice/keypress?n={n.id}", call_form(Digits="1")
    )
    assert ElementTree.fromstring(pressed.data).find("Say").text.startswith("EXERCISE")
