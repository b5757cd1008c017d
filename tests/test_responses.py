"""Answers: SMS replies (signed webhooks), answer links and live board updates."""

import hashlib
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from coordinator.extensions import socketio
from coordinator.links import SALT
from coordinator.models import Notification, Response, User
from coordinator.services.alerts import IncidentForm, declare_incident
from tests.conftest import TWILIO_TOKEN, login

FORM = IncidentForm(
    title="Flood on the Portway",
    kind="flood",
    severity="major",
    lat="51.47",
    lon="-2.62",
    message="Road closed. Boats to Sea Mills.",
    agency_slugs=["fire", "police"],
    channels=["sms", "email"],
)


@pytest.fixture
def incident(tocsin):
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        incident = declare_incident(session, FORM, user, tocsin.links)
    return incident


def first(tocsin, channel: str) -> Notification:
    n = tocsin.db.session.scalars(
        select(Notification).where(Notification.channel == channel).order_by(Notification.id)
    ).first()
    tocsin.db.remove()
    return n


def response_count(tocsin) -> int:
    count = tocsin.db.session.scalar(select(func.count()).select_from(Response))
    tocsin.db.remove()
    return count


def post_sms(client, tocsin, form: dict, signature: str | None = None):
    url = tocsin.settings.public_url + "/hooks/twilio/sms"
    if signature is None:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return client.post("/hooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})


def sms_form(address: str, body: str) -> dict:
    return {"MessageSid": "SM" + "1" * 32, "From": address, "To": "+15005550006", "Body": body}


def test_it_records_an_sms_reply_once(client, tocsin, incident):
    n = first(tocsin, "sms")
    reply = post_sms(client, tocsin, sms_form(n.address, " 1 "))
    assert reply.status_code == 200
    assert "recorded ACKNOWLEDGED" in reply.get_data(as_text=True)
    again = post_sms(client, tocsin, sms_form(n.address, "ack"))
    assert "already recorded ACKNOWLEDGED" in again.get_data(as_text=True)
    r = tocsin.db.session.scalars(select(Response)).one()
    assert (r.responder_id, r.answer, r.channel) == (n.responder_id, "acknowledged", "sms")


def test_it_refuses_a_forged_webhook(client, tocsin, incident):
    n = first(tocsin, "sms")
    assert post_sms(client, tocsin, sms_form(n.address, "1"), signature="forged").status_code == 403
    no_header = client.post("/hooks/twilio/sms", data=sms_form(n.address, "1"))
    assert no_header.status_code == 403
    assert response_count(tocsin) == 0


def test_it_rejects_a_malformed_webhook(client, tocsin, incident):
    reply = post_sms(client, tocsin, {"MessageSid": "SMx", "Body": "1"})
    assert reply.status_code == 400
    assert "From and Body are required" in reply.get_data(as_text=True)
    assert response_count(tocsin) == 0


def test_it_explains_reply_codes_for_an_unknown_answer(client, tocsin, incident):
    n = first(tocsin, "sms")
    reply = post_sms(client, tocsin, sms_form(n.address, "maybe later"))
    assert "Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE" in reply.get_data(as_text=True)
    assert response_count(tocsin) == 0


def test_it_tells_a_stranger_there_is_no_alert(client, tocsin, incident):
    reply = post_sms(client, tocsin, sms_form("+15550199999", "1"))
    assert "no open alert" in reply.get_data(as_text=True)
    assert response_count(tocsin) == 0


def test_it_only_records_an_answer_link_on_post(client, tocsin, incident):
    n = first(tocsin, "email")
    path = tocsin.links.url_for(n.id).removeprefix(tocsin.settings.public_url)
    page = client.get(path)
    assert page.status_code == 200
    assert FORM.message in page.get_data(as_text=True)
    assert response_count(tocsin) == 0  # a mail scanner opening the link records nothing
    done = client.post(path, data={"answer": "en_route", "eta_minutes": "12"})
    assert "Recorded: <b>En route</b>" in done.get_data(as_text=True)
    client.post(path, data={"answer": "en_route", "eta_minutes": "12"})
    r = tocsin.db.session.scalars(select(Response)).one()
    assert (r.answer, r.eta_minutes, r.channel) == ("en_route", 12, "link")


@pytest.mark.parametrize(
    "data", [{"answer": "maybe"}, {"answer": "en_route", "eta_minutes": "soon"}, {}]
)
def test_it_rejects_a_bad_answer_and_records_nothing(client, tocsin, incident, data):
    n = first(tocsin, "email")
    path = tocsin.links.url_for(n.id).removeprefix(tocsin.settings.public_url)
    page = client.post(path, data=data)
    assert page.status_code == 400
    assert "Nothing was recorded" in page.get_data(as_text=True)
    assert response_count(tocsin) == 0


def test_it_refuses_forged_and_expired_links(client, tocsin, incident):
    n = first(tocsin, "email")
    token = tocsin.links.url_for(n.id).rsplit("/", 1)[1]
    forged = client.post(f"/r/{token[:-2]}xx", data={"answer": "acknowledged"})
    assert forged.status_code == 400
    assert "not valid" in forged.get_data(as_text=True)

    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 48 * 3600

    signer = TwoDaysAgo(tocsin.settings.secret_key, salt=SALT, digest_method=hashlib.sha256)
    old = signer.sign(str(n.id)).decode()
    expired = client.post(f"/r/{old}", data={"answer": "acknowledged"})
    assert expired.status_code == 400
    assert "expired" in expired.get_data(as_text=True)
    assert response_count(tocsin) == 0


def test_it_pushes_answers_and_statuses_to_the_board_live(app, client, tocsin, incident):
    login(client)
    board = socketio.test_client(app, flask_test_client=client)
    assert board.emit("join", {"incident_id": incident.id}, callback=True) == {"ok": True}
    board.get_received()
    n = first(tocsin, "sms")
    post_sms(client, tocsin, sms_form(n.address, "2"))
    events = {e["name"]: e["args"][0] for e in board.get_received()}
    assert [(r["responder_id"], r["answer"]) for r in events["responses"]] == [
        (n.responder_id, "en_route")
    ]
    board.disconnect()


def test_it_keeps_strangers_out_of_the_incident_room(app, client, incident):
    stranger = socketio.test_client(app, flask_test_client=client)
    reply = stranger.emit("join", {"incident_id": incident.id}, callback=True)
    assert reply == {"ok": False, "error": "sign in first"}
    stranger.disconnect()


def test_it_gives_a_joining_board_the_state_so_far(client, tocsin, incident):
    n = first(tocsin, "sms")
    post_sms(client, tocsin, sms_form(n.address, "3"))
    login(client, "observer")
    state = client.get(f"/incidents/{incident.id}/state").get_json()
    assert len(state["notifications"]) == 24
    cancelled = [x for x in state["notifications"] if x["status"] == "cancelled"]
    assert [(x["responder_id"], x["channel"]) for x in cancelled] == [(n.responder_id, "email")]
    assert {x["status"] for x in state["notifications"]} == {"queued", "cancelled"}
    assert [(r["responder_id"], r["answer"]) for r in state["responses"]] == [
        (n.responder_id, "unavailable")
    ]
    assert client.get("/incidents/999/state").status_code == 404


def test_a_reply_is_never_guessed_between_a_live_alert_and_an_exercise(client, tocsin, incident):
    from dataclasses import replace

    n = first(tocsin, "sms")  # the live incident's, to the same number as the drill's
    with tocsin.db.write() as session:
        drill = declare_incident(session, replace(FORM, mode="drill"), None, tocsin.links)
        drill_alert = drill.alerts[0].id
    unclear = post_sms(client, tocsin, sms_form(n.address, "1"))
    assert "not recorded" in unclear.get_data(as_text=True) and response_count(tocsin) == 0

    live = post_sms(client, tocsin, sms_form(n.address, "L1"))
    assert "recorded ACKNOWLEDGED" in live.get_data(as_text=True)
    exercise = post_sms(client, tocsin, sms_form(n.address, "x 3"))
    text = exercise.get_data(as_text=True)
    assert "EXERCISE EXERCISE EXERCISE" in text and "recorded UNAVAILABLE" in text
    answers = {(r.alert_id, r.answer) for r in tocsin.db.session.scalars(select(Response)).all()}
    assert answers == {(n.alert_id, "acknowledged"), (drill_alert, "unavailable")}


def test_a_plain_reply_answers_the_only_open_alert_even_a_drill(client, tocsin):
    from dataclasses import replace

    with tocsin.db.write() as session:
        declare_incident(session, replace(FORM, mode="drill"), None, tocsin.links)
    n = first(tocsin, "sms")
    reply = post_sms(client, tocsin, sms_form(n.address, "2"))
    assert reply.get_data(as_text=True).count("recorded EN ROUTE") == 1
    assert "EXERCISE EXERCISE EXERCISE" in reply.get_data(as_text=True)
