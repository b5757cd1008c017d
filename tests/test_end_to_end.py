"""One alert travels end to end on both transports, and answers come back live."""

import re

import pytest
from sqlalchemy import select

from coordinator.extensions import socketio
from coordinator.models import DeadLetter, Response
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
    events = [r for e in board.get_received() if e["name"] == "responses" for r in e["args"][0]]
    assert [r["responder_id"] for r in events] == [sms[0].responder_id]
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


@pytest.fixture(params=["embedded", "rabbitmq"])
def throttled_system(request, tmp_path):
    """The provider takes one SMS and answers every other with 429; two tries each."""
    amqp_url = request.getfixturevalue("amqp_url") if request.param == "rabbitmq" else None
    system = start_system(
        f"sqlite:///{tmp_path / 'e2e.db'}",
        amqp_url,
        max_attempts=2,
        retry_delays=(0.05,),
        rate_limit=0.001,
    )
    yield system
    system.shutdown()
    if amqp_url:
        system.transport.delete_all()


def test_the_hub_keeps_dead_letters_and_tells_consoles_the_queues(throttled_system):
    system = throttled_system
    client = system.app.test_client()
    login(client)
    console = socketio.test_client(system.app, flask_test_client=client)
    incident_id = system.declare(system.browser(), ["police"], channels=("sms",))
    assert console.emit("join", {"incident_id": incident_id}, callback=True) == {"ok": True}
    sms = [n for n in system.notifications() if n.channel == "sms"]

    def dead_sms():
        rows = system.tocsin.db.session.scalars(
            select(DeadLetter).where(DeadLetter.channel == "sms")
        ).all()
        system.tocsin.db.remove()
        return rows

    # The hub's dead-letter consumer stores every SMS the provider kept refusing.
    wait_until(lambda: len(dead_sms()) == len(sms) - 1, what="all but one SMS dead-lettered")
    letters = dead_sms()
    assert {d.attempts for d in letters} == {2}
    assert all("20429" in d.error for d in letters)
    page = system.browser("dispatcher").get(f"{system.url}/dead-letters", timeout=5).text
    assert all(f'data-dead-letter="{d.id}"' in page for d in letters)
    # Each SMS given up on failed and fell back to the responder's next contact point.
    failed = [n for n in system.notifications() if n.channel == "sms" and n.status == "failed"]
    assert {n.id for n in failed} == {d.notification_id for d in letters}
    fallbacks = {n.previous_id for n in system.notifications() if n.previous_id}
    assert {n.id for n in failed} <= fallbacks

    # The queue monitor reports depth per channel to every console, once a second.
    def queue_reports():
        return [e["args"][0] for e in console.get_received() if e["name"] == "queues"]

    reports = wait_until(queue_reports, what="a queues event on the console")
    assert set(reports[-1]) >= {"sms", "voice", "email", "push"}
    assert {"queued", "rate", "eta_seconds"} <= set(reports[-1]["sms"])
    console.disconnect()
