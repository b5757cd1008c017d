"""One alert travels end to end on both transports, and answers come back live."""

import re

import pytest
from sqlalchemy import select

from coordinator.extensions import socketio
from coordinator.models import Response
from tests.conftest import login
from tests.helpers import wait_until
from tests.helpers.system import start_system


@pytest.fixture(params=["embedded", "rabbitmq"])
def system(request, tmp_path):
    amqp_url = request.getfixturevalue("amqp_url") if request.param == "rabbitmq" else None
    system = start_system(f"sqlite:///{tmp_path / 'e2e.db'}", amqp_url)
    yield system
    system.shutdown()
    if amqp_url:
        system.transport.delete_all()


def test_it_alerts_responders_and_shows_their_answer_live(system):
    commander = system.browser()
    incident_id = system.declare(commander, ["fire", "ambulance"])
    notifications = system.notifications()
    sms = [n for n in notifications if n.channel == "sms"]
    emails = [n for n in notifications if n.channel == "email"]
    assert len(sms) == len(emails) == 9  # 2 fire teams and 1 ambulance team of 3

    sent = system.sim.wait_for("messages", len(sms))
    assert sorted(m["to"] for m in sent) == sorted(n.address for n in sms)
    assert all("Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE" in m["body"] for m in sent)
    mails = system.sim.wait_for("emails", len(emails))
    assert sorted(a for m in mails for a in m["to"]) == sorted(n.address for n in emails)
    assert all("Multi-vehicle, people trapped." in m["body"] for m in mails)

    # Worker results and Twilio delivery receipts come back into the database.
    def settled():
        statuses = {(n.channel, n.status) for n in system.notifications()}
        return statuses == {("sms", "delivered"), ("email", "sent")}

    wait_until(settled, what="every SMS delivered and every email sent")

    # A commander's board is open when the responder answers by SMS.
    client = system.app.test_client()
    login(client)
    board = socketio.test_client(system.app, flask_test_client=client)
    assert board.emit("join", {"incident_id": incident_id}, callback=True) == {"ok": True}
    reply = system.sim.inbound(sms[0].address, "+15005550006", "1")
    assert reply["status"] == 200
    assert "recorded ACKNOWLEDGED" in reply["body"]
    events = [e for e in board.get_received() if e["name"] == "response"]
    assert [e["args"][0]["responder_id"] for e in events] == [sms[0].responder_id]
    board.disconnect()

    # The answer link in an email: GET shows, POST records.
    link = re.search(r"(http://\S+/r/\S+)", mails[0]["body"]).group(1)
    assert commander.get(link, timeout=5).status_code == 200
    assert commander.post(link, data={"answer": "on_scene"}, timeout=5).status_code == 200
    answers = system.tocsin.db.session.scalars(select(Response.answer)).all()
    assert sorted(answers) == ["acknowledged", "on_scene"]


def test_it_refuses_a_forged_reply_from_the_simulator(system):
    system.declare(system.browser(), ["police"])
    number = system.notifications()[0].address
    reply = system.sim.inbound(number, "+15005550006", "1", forge=True)
    assert reply["status"] == 403
    assert system.tocsin.db.session.scalars(select(Response)).all() == []
