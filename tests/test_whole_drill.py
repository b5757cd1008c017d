"""A whole drill, as an agency runs one, through the real parts: PostgreSQL, RabbitMQ,
the hub's loops, a worker for every channel and the provider simulator with a
simulated city whose people answer as their agency's profile says.

Declared on the console; every text the simulator received carries EXERCISE (SMS,
email subject and first and last lines, push titles, the TwiML a call read);
people answer; the fire service's escalation step calls those still silent; the
commander closes it; the hub builds the after-action report, whose PDF holds the
figures its page shows.
"""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from broker.messages import EXERCISE_MARKER
from coordinator.models import (
    Agency,
    Alert,
    AuditEvent,
    IncidentReport,
    Notification,
    Responder,
    Response,
)
from coordinator.services import sim_city, sim_profiles
from coordinator.services.escalation import StepSpec, save_policy
from tests.helpers import wait_until
from tests.helpers.system import System, start_system
from tests.test_report_pages import PDF_TABLES, flat, page_tables

CITY = 40
# Everyone answers, the fire service slowly: its escalation step (a call after 2 s)
# still finds them silent, so the calls are answered and their TwiML read.
ANSWER = "answer_rate=1,silent_share=0,fail_share=0,unavailable_share=0"
PROFILES = [
    *(f"{slug}:{ANSWER},delay_median_s=0.3,delay_sigma=0.2" for slug in ("police", "ambulance")),
    f"council:{ANSWER},delay_median_s=0.5,delay_sigma=0.2",
    f"fire:{ANSWER},delay_median_s=6,delay_sigma=0.05",
]
CALL_AFTER_S = 2


def csrf(session, url: str) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url, timeout=5).text)[1]


def scalar(system: System, query):  # type: ignore[no-untyped-def]
    value = system.tocsin.db.session.scalar(query)
    system.tocsin.db.remove()
    return value


@pytest.fixture
def system(db_url, amqp_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TOCSIN_ESCALATION_POLL_SECONDS", "0.2")
    monkeypatch.setenv("TOCSIN_REPORT_POLL_SECONDS", "0.2")
    # the demo's own (real) responders: answer fast, never silent
    system = start_system(db_url, amqp_url, status_delay=0.1, answer_delay=0.2, answer_rate=1.0)
    yield system
    system.shutdown()


def simulated_city(system: System) -> None:
    t = system.tocsin
    port = int(system.sim.url.rsplit(":", 1)[1])
    sim_city.build_city(t.db, CITY, PROFILES, "test", seed=9, sim_port=port)
    pushed, said = sim_profiles.push(system.sim.url, sim_profiles.export(t.db.session))
    t.db.remove()
    assert pushed, said
    with t.db.write() as session:
        fire = session.scalar(select(Agency).where(Agency.slug == "fire"))
        steps = [StepSpec(0, ["sms", "push", "email"]), StepSpec(CALL_AFTER_S, ["voice"])]
        save_policy(session, fire, "Drill calls", True, steps, "test")


def declare_drill(system: System, commander) -> int:  # type: ignore[no-untyped-def]
    response = commander.post(
        f"{system.url}/incidents/new",
        data={
            "csrf_token": csrf(commander, f"{system.url}/incidents/new"),
            "title": "City exercise: chemical release at Avonmouth",
            "kind": "chemical",
            "severity": "major",
            "lat": "51.50",
            "lon": "-2.70",
            "message": "Plume drifting east. Muster at Kings Weston.",
            "mode": "drill",
            "agencies": ["police", "fire", "ambulance", "council"],
            "channels": ["sms", "push", "email"],
            "duty": "all",
        },  # fmt: skip
        timeout=15,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def assert_every_text_says_exercise(system: System) -> None:
    messages = system.sim.messages()
    emails = system.sim.emails()
    pushes = system.sim.pushes()
    calls = system.sim.calls()
    assert messages and emails and pushes and calls
    for sms in messages:
        assert sms["body"].startswith(f"{EXERCISE_MARKER} Tocsin MAJOR chemical:"), sms["body"]
    for email in emails:
        assert email["subject"].startswith(EXERCISE_MARKER)
        lines = [line for line in email["body"].replace("\r\n", "\n").split("\n") if line.strip()]
        assert lines[0] == EXERCISE_MARKER and lines[-1] == EXERCISE_MARKER
    for push in pushes:
        assert push["title"].startswith(EXERCISE_MARKER)
    read = [doc for call in calls for doc in call.get("twiml_fetched", [])]
    assert read, "no call was answered and read its TwiML"
    for twiml in read:
        if "Plume drifting east" in twiml:
            before, _, after = twiml.partition("Plume drifting east")
            assert EXERCISE_MARKER in before and EXERCISE_MARKER in after


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_whole_drill_from_declaring_to_the_after_action_report(system, db_url):
    simulated_city(system)
    commander = system.browser()
    incident_id = declare_drill(system, commander)
    in_incident = Alert.incident_id == incident_id
    simulated = select(func.count()).select_from(Responder).where(Responder.simulated.is_(True))
    assert scalar(system, simulated) == CITY

    # the fire service's escalation step calls its silent people; they pick up and answer
    wait_until(
        lambda: scalar(system, select(func.count()).select_from(Notification).join(Alert)
                       .where(in_incident, Notification.channel == "voice")),  # fmt: skip
        timeout=30, what="the escalation step's calls",
    )  # fmt: skip
    reached = select(func.count(func.distinct(Notification.responder_id))).join(Alert)
    everyone = scalar(system, reached.where(in_incident))
    answered = select(func.count(func.distinct(Response.responder_id))).join(Alert)
    wait_until(
        lambda: scalar(system, answered.where(in_incident)) == everyone,
        timeout=45, what=f"all {everyone} people answering",
    )  # fmt: skip
    wait_until(
        lambda: any(call.get("twiml_fetched") for call in system.sim.calls()),
        timeout=20, what="a call reading its TwiML",
    )  # fmt: skip
    by_voice = select(func.count()).select_from(Response).join(Alert)
    assert scalar(system, by_voice.where(in_incident, Response.channel == "voice")) >= 1
    assert_every_text_says_exercise(system)
    steps = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "escalation.step", AuditEvent.incident_id == incident_id)
    )
    assert scalar(system, steps) == 1

    board = commander.get(f"{system.url}/incidents/{incident_id}", timeout=10).text
    assert 'id="drill-banner"' in board and 'class="drill"' in board
    response = commander.post(
        f"{system.url}/incidents/{incident_id}/status",
        data={
            "csrf_token": csrf(commander, f"{system.url}/incidents/{incident_id}"),
            "status": "closed",
        },  # fmt: skip
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302
    stored = select(IncidentReport.id).where(IncidentReport.incident_id == incident_id)
    wait_until(lambda: scalar(system, stored), timeout=30, what="the hub building the report")

    page = commander.get(f"{system.url}/incidents/{incident_id}/report", timeout=30)
    assert page.status_code == 200 and "Draft" not in page.text
    assert 'id="drill-banner"' in page.text
    tables = page_tables(page.text)
    answers = {row[0]: row for row in tables["agency-answers"]}
    assert set(answers) >= {"Police", "Fire and Rescue", "Ambulance", "City Council"}
    assert all("100.0%" in row for row in answers.values())  # everyone answered
    assert tables["escalations"] and "Fire and Rescue" in " ".join(tables["escalations"][0])

    pdf = commander.get(f"{system.url}/incidents/{incident_id}/report.pdf", timeout=60)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    pdf_text = flat("\n".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages))
    for table_id in PDF_TABLES:
        for row in tables.get(table_id, []):
            cells = [c for c in row if c != "None."]
            assert " ".join(cells) in pdf_text, f"{table_id}: {row} not in the PDF"
