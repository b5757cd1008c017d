"""Drill mode: every message of a drill says EXERCISE first, on every channel, and
simulated responders are reached by drills only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from broker.messages import EXERCISE_MARKER, NotifyMessage
from coordinator.models import Agency, ContactPoint, Notification, Outbox, Responder
from coordinator.services.alerts import IncidentForm, declare_incident
from notifier import smstext
from notifier.channels import SendError
from notifier.channels.email import EmailChannel
from notifier.channels.push import PushChannel
from notifier.channels.sms import MAX_SEGMENTS, SmsChannel
from notifier.config import NotifierSettings
from notifier.worker import Worker
from tests.helpers.simulator import Simulator, start_simulator
from tests.test_channels import LONG_BODY, message, settings_for

HUB = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    sim = start_simulator(HUB, status_delay=5.0)
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def _fresh(sim: Simulator) -> None:
    sim.reset()


# --- every channel's text ---------------------------------------------------------


def test_it_starts_a_drill_sms_with_exercise_even_when_the_body_is_cut(sim):
    msg = message("sms", "+15551230001", body=LONG_BODY, exercise=True)
    SmsChannel(settings_for(sim)).send(msg)
    [record] = sim.messages()
    body = record["body"]
    assert body.startswith(f"{EXERCISE_MARKER} Tocsin CRITICAL chemical: Fire at the docks.")
    assert smstext.segments(body) <= MAX_SEGMENTS
    assert body.endswith(f"... Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE. {msg.ack_url}")


def test_a_live_sms_says_nothing_of_an_exercise(sim):
    SmsChannel(settings_for(sim)).send(message("sms", "+15551230001"))
    [record] = sim.messages()
    assert "EXERCISE" not in record["body"]


def test_the_marker_survives_when_even_the_headline_must_be_cut():
    text = smstext.fit(
        "H" * 600, "body", "https://t.io/r/x", max_segments=1, marker=EXERCISE_MARKER
    )
    assert text.startswith(EXERCISE_MARKER + " Tocsin HHH")
    assert smstext.segments(text) == 1 and text.endswith("https://t.io/r/x")


def test_a_drill_email_says_exercise_in_its_subject_and_first_and_last_lines(sim):
    EmailChannel(settings_for(sim)).send(message("email", "duty@fire.example", exercise=True))
    [email] = sim.wait_for("emails", 1)
    assert email["subject"] == f"{EXERCISE_MARKER} CRITICAL chemical: Fire at the docks"
    lines = [line for line in email["body"].replace("\r\n", "\n").split("\n") if line.strip()]
    assert lines[0] == EXERCISE_MARKER and lines[-1] == EXERCISE_MARKER


def test_a_drill_push_title_starts_with_exercise(sim):
    port = sim.url.rsplit(":", 1)[1]
    msg = message("push", f"ntfy://127.0.0.1:{port}/tocsin-r12", exercise=True)
    PushChannel(NotifierSettings()).send(msg)
    [push] = sim.pushes()
    assert push["title"] == f"{EXERCISE_MARKER} CRITICAL chemical: Fire at the docks"


def test_the_flag_travels_in_the_message():
    msg = message("sms", "+15551230001", exercise=True, simulated=True)
    again = NotifyMessage.from_json(msg.to_json())
    assert again.exercise and again.simulated and again.title.startswith(EXERCISE_MARKER)


# --- a simulated responder never reaches a real provider ----------------------------


@pytest.mark.parametrize(
    ("channel", "address", "settings", "reaches"),
    [
        ("sms", "+15550100001", {"twilio_api_url": "http://127.0.0.1:5050"}, True),
        ("sms", "+15550100001", {"twilio_api_url": ""}, False),
        ("voice", "+15550100001", {"twilio_api_url": ""}, False),
        ("email", "a@b.example", {"email_url": "mailto://127.0.0.1:2525?mode=insecure"}, True),
        ("email", "a@b.example", {"email_url": "mailtos://u:p@smtp.example.org"}, False),
        ("push", "ntfy://127.0.0.1:5050/sim-1", {}, True),
        ("push", "ntfys://ntfy.sh/sim-1", {}, False),
    ],
)
def test_it_knows_which_channels_stay_on_this_machine(channel, address, settings, reaches):
    assert NotifierSettings(**settings).reaches_simulator(channel, address) is reaches


def test_the_worker_fails_a_simulated_message_bound_for_a_real_provider():
    class Untouchable:
        name = "sms"

        def send(self, msg):  # pragma: no cover - the test fails if it is reached
            raise AssertionError("a simulated responder's SMS reached the channel")

    worker = Worker.__new__(Worker)
    worker.settings = NotifierSettings(twilio_api_url="")
    worker.pacers = {}
    with pytest.raises(SendError) as info:
        worker._send(Untouchable(), message("sms", "+15550100001", simulated=True))
    assert info.value.permanent and "simulated responder" in str(info.value)


# --- who a drill and a live incident reach -------------------------------------------


def _simulated_firefighter(tocsin) -> int:
    with tocsin.db.write() as session:
        fire = session.scalar(select(Agency).where(Agency.slug == "fire"))
        person = Responder(
            agency=fire,
            name="Sim Firefighter",
            simulated=True,
            skills=["firefighter"],
            lat=51.45,
            lon=-2.59,
            contact_points=[ContactPoint(channel="sms", address="+15550109999", position=0)],
        )
        session.add(person)
        session.flush()
        return person.id


def _form(mode: str) -> IncidentForm:
    return IncidentForm(
        title="Warehouse fire", kind="fire", severity="major", lat="51.45", lon="-2.59",
        message="Attend.", agency_slugs=["fire"], mode=mode, channels=["sms"],
    )  # fmt: skip


def _alerted(tocsin, incident_id: int) -> set[int]:
    from coordinator.models import Alert

    rows = tocsin.db.session.scalars(
        select(Notification.responder_id).join(Alert).where(Alert.incident_id == incident_id)
    )
    found = set(rows)
    tocsin.db.remove()
    return found


def test_a_live_incident_never_reaches_a_simulated_responder(tocsin):
    simulated = _simulated_firefighter(tocsin)
    with tocsin.db.write() as session:
        live = declare_incident(session, _form("live"), None, tocsin.links)
        drill = declare_incident(session, _form("drill"), None, tocsin.links)
        live_id, drill_id = live.id, drill.id
    assert simulated not in _alerted(tocsin, live_id) and _alerted(tocsin, live_id)
    assert simulated in _alerted(tocsin, drill_id)
    payloads = [
        json.loads(p)
        for p in tocsin.db.session.scalars(
            select(Outbox.payload).join(Notification).where(Notification.responder_id == simulated)
        )
    ]
    assert payloads and all(p["simulated"] and p["exercise"] for p in payloads)
    tocsin.db.remove()


def test_the_last_guard_drops_a_simulated_responder_handed_to_a_live_alert(tocsin):
    from coordinator.services.outbox import notify_recipients
    from coordinator.services.targeting import Recipient

    simulated = _simulated_firefighter(tocsin)
    with tocsin.db.write() as session:
        live = declare_incident(session, _form("live"), None, tocsin.links)
        sneaked = Recipient(simulated, "Sim", "fire", None, [("sms", "+15550109999")], None)
        count = notify_recipients(session, live, live.alerts[0], [sneaked], ["sms"], tocsin.links)
    assert count == 0
    assert simulated not in _alerted(tocsin, live.id)
