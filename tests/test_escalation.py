"""Escalation policies: edited per agency, started with each alert, run by the hub's
runner from the database alone, so a restart neither loses nor repeats a step."""

from datetime import UTC, datetime, timedelta

import gevent
import pytest
from sqlalchemy import func, select

from coordinator.app import create_app
from coordinator.extensions import socketio
from coordinator.models import (
    Agency,
    Alert,
    AlertEscalation,
    AuditEvent,
    EscalationPolicy,
    EscalationStep,
    Incident,
    Notification,
    Responder,
    Team,
    User,
    utcnow,
)
from coordinator.services import escalation, responses
from coordinator.services.alerts import IncidentForm, declare_incident
from coordinator.services.escalation import EscalationRunner, StepSpec
from tests.conftest import csrf_token, login, make_settings
from tests.helpers import wait_until
from tests.helpers.system import start_system


def form(agencies: list[str], **extra) -> IncidentForm:
    return IncidentForm(
        title="Gas leak at Temple Meads",
        kind="chemical",
        severity="major",
        lat="51.449",
        lon="-2.581",
        message="Evacuate platform 3.",
        agency_slugs=agencies,
        channels=["sms"],
        **extra,
    )


def set_policy(tocsin, slug: str, steps: list[StepSpec], active: bool = True) -> None:
    with tocsin.db.write() as session:
        agency = session.scalars(select(Agency).where(Agency.slug == slug)).one()
        escalation.save_policy(session, agency, f"{slug} test", active, steps, "user:admin")


def declare(tocsin, agencies: list[str], **extra) -> Alert:
    with tocsin.db.write() as session:
        user = session.scalars(select(User).where(User.username == "commander")).one()
        incident = declare_incident(session, form(agencies, **extra), user, tocsin.links)
        alert = incident.alerts[0]
    return alert


def escalations(tocsin) -> list[AlertEscalation]:
    rows = tocsin.db.session.scalars(select(AlertEscalation).order_by(AlertEscalation.id)).all()
    tocsin.db.remove()
    return list(rows)


def stepped(tocsin, step: int | None = None) -> list[tuple[int, str, int]]:
    """(responder, channel, step) of the notifications escalation steps sent."""
    query = select(Notification).where(Notification.step.is_not(None))
    if step is not None:
        query = query.where(Notification.step == step)
    rows = tocsin.db.session.scalars(query.order_by(Notification.id)).all()
    tocsin.db.remove()
    return [(n.responder_id, n.channel, n.step) for n in rows]


def responder_ids(tocsin, agency: str, team: str | None = None) -> set[int]:
    query = select(Responder.id).join(Agency).where(Agency.slug == agency)
    if team:
        query = query.join(Team, Responder.team_id == Team.id).where(Team.name == team)
    ids = set(tocsin.db.session.scalars(query))
    tocsin.db.remove()
    return ids


def answer(tocsin, alert: Alert, responder_id: int, what: str = "acknowledged") -> None:
    n = tocsin.db.session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id, Notification.responder_id == responder_id
        )
    ).first()
    tocsin.db.remove()
    responses.record(tocsin.db, responses.Answer(n.id, what, "link"))


def audit_count(tocsin, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    value = tocsin.db.session.scalar(query)
    tocsin.db.remove()
    return value


def later(alert: Alert, seconds: float) -> datetime:
    created = alert.created_at
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    return created + timedelta(seconds=seconds)


# --- starting ------------------------------------------------------------------


def test_it_starts_an_escalation_per_alerted_agency_with_an_active_policy(tocsin):
    set_policy(tocsin, "fire", [StepSpec(0, ["sms", "push"]), StepSpec(90, ["voice"])])
    set_policy(tocsin, "police", [StepSpec(30, ["voice"])], active=False)
    alert = declare(tocsin, ["fire", "police", "council"])  # council keeps its demo policy
    rows = escalations(tocsin)
    by_agency = {tocsin.db.session.get(Agency, e.agency_id).slug: e for e in rows}
    assert set(by_agency) == {"fire", "council"}  # police's policy is switched off
    fire = by_agency["fire"]
    assert fire.next_position == 2  # the delay-0 step is the alert itself
    assert fire.due_at.replace(tzinfo=UTC) == later(alert, 90)
    assert by_agency["council"].due_at.replace(tzinfo=UTC) == later(alert, 120)  # demo: voice
    assert audit_count(tocsin, "escalation.started") == 1


# --- running -------------------------------------------------------------------


def test_it_calls_the_silent_responders_and_never_one_who_answered(app, client, tocsin):
    set_policy(tocsin, "council", [StepSpec(60, ["voice"]), StepSpec(120, ["email"])])
    alert = declare(tocsin, ["council"])
    council = sorted(responder_ids(tocsin, "council"))
    answer(tocsin, alert, council[0])
    answer(tocsin, alert, council[1], "unavailable")  # any answer counts
    login(client, "observer")
    board = socketio.test_client(app, flask_test_client=client)
    board.emit("join", {"incident_id": alert.incident_id}, callback=True)
    board.get_received()
    runner = EscalationRunner(tocsin)
    assert runner.run_one(now=later(alert, 59)) is None  # not due yet
    assert runner.run_one(now=later(alert, 60)) is not None
    assert stepped(tocsin) == [(council[2], "voice", 1)]
    esc = escalations(tocsin)[0]
    assert (esc.next_position, esc.due_at.replace(tzinfo=UTC)) == (2, later(alert, 120))
    events = {e["name"]: e["args"][0] for e in board.get_received()}
    shown = events["escalation"]
    assert shown["state"] == "waiting"
    assert shown["next"]["position"] == 2
    assert shown["step"] == {"position": 1, "responders": 1, "notifications": 1}
    assert [n["responder_id"] for n in shown["notifications"]] == [council[2]]
    page = client.get(f"/incidents/{alert.incident_id}").get_data(as_text=True)
    assert "City Council: next step 2 at" in page
    board.disconnect()

    answer(tocsin, alert, council[2])
    assert runner.run_one(now=later(alert, 120)) is not None
    assert stepped(tocsin, 2) == []  # everyone answered: nobody to call
    assert escalations(tocsin)[0].due_at is None  # after the last step: finished
    assert runner.run_one(now=later(alert, 3600)) is None
    details = [e.detail for e in tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "escalation.step").order_by(AuditEvent.id)
    )]  # fmt: skip
    assert [(d["position"], d["responders"], d["notifications"]) for d in details] == [
        (1, 1, 1),
        (2, 0, 0),
    ]


def test_it_calls_the_backup_team_of_a_silent_team(tocsin):
    set_policy(tocsin, "police", [StepSpec(60, ["sms", "push"], "backup")])
    team_a = tocsin.db.session.scalar(select(Team.id).where(Team.name == "Response A"))
    alert = declare(tocsin, ["police"], team_ids=[str(team_a)])
    EscalationRunner(tocsin).run_one(now=later(alert, 60))
    reached = {r for r, _, _ in stepped(tocsin)}
    assert reached == responder_ids(tocsin, "police", "Response B")
    assert {c for _, c, _ in stepped(tocsin)} == {"sms", "push"}


def test_it_calls_in_another_agency_with_the_alerts_skills(tocsin):
    set_policy(tocsin, "ambulance", [StepSpec(60, ["sms"], "agency:fire")])
    alert = declare(tocsin, ["ambulance"], skills=["paramedic", "hazmat"])
    EscalationRunner(tocsin).run_one(now=later(alert, 60))
    reached = {r for r, _, _ in stepped(tocsin)}
    assert reached == responder_ids(tocsin, "fire", "Hazmat")  # fire's hazmat skill only


def test_it_stops_when_the_incident_is_stood_down(tocsin):
    set_policy(tocsin, "council", [StepSpec(60, ["voice"]), StepSpec(120, ["email"])])
    alert = declare(tocsin, ["council"])
    with tocsin.db.write() as session:
        session.get(Incident, alert.incident_id).status = "stood_down"
    run = EscalationRunner(tocsin).run_one(now=later(alert, 60))
    assert run.payload["state"] == "stopped"
    assert "incident stood down" in run.payload["text"]
    assert stepped(tocsin) == []
    assert escalations(tocsin)[0].due_at is None
    assert audit_count(tocsin, "escalation.stopped") == 1


def test_it_catches_up_with_every_overdue_step_once(tocsin):
    set_policy(tocsin, "council", [StepSpec(1, ["voice"]), StepSpec(2, ["email"])])
    alert = declare(tocsin, ["council"])
    wait_until(lambda: utcnow() > later(alert, 2), what="both steps are due")
    assert EscalationRunner(tocsin, poll=0.1).run_due() == 2
    assert sorted({(c, s) for _, c, s in stepped(tocsin)}) == [("email", 2), ("voice", 1)]
    assert len(stepped(tocsin)) == 6  # three council responders, once per step
    assert EscalationRunner(tocsin).run_due() == 0


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_runners_on_postgresql_run_each_step_once(app, tocsin, db_url):
    set_policy(tocsin, "council", [StepSpec(1, ["voice"]), StepSpec(2, ["email"])])
    set_policy(tocsin, "ambulance", [StepSpec(1, ["voice"])])
    alerts = [declare(tocsin, ["council", "ambulance"]) for _ in range(3)]
    wait_until(lambda: utcnow() > later(alerts[-1], 2), what="every step is due")
    other_hub = create_app(make_settings(db_url)).extensions["tocsin"]
    try:
        runners = [EscalationRunner(tocsin), EscalationRunner(other_hub)]
        jobs = [gevent.spawn(r.run_due) for r in runners for _ in range(3)]
        gevent.joinall(jobs, raise_error=True)
    finally:
        other_hub.db.dispose()
    # per alert: council 2 steps x 3 responders, ambulance 1 step x 3 responders
    assert len(stepped(tocsin)) == 3 * (6 + 3)
    assert audit_count(tocsin, "escalation.step") == 3 * 3
    assert all(e.due_at is None for e in escalations(tocsin))


def test_a_restart_of_every_process_neither_loses_nor_repeats_a_step(db_url):
    system = start_system(db_url, None)
    try:
        set_policy(system.tocsin, "council", [StepSpec(6, ["email"]), StepSpec(3600, ["voice"])])
        browser = system.browser()
        incident_id = system.declare(browser, ["council"], channels=("sms",))
        alert = system.tocsin.db.session.scalars(
            select(Alert).where(Alert.incident_id == incident_id)
        ).one()
        council = sorted(responder_ids(system.tocsin, "council"))
        answer(system.tocsin, alert, council[0])  # answers before the step is due
    finally:
        system.shutdown()
    due = later(alert, 6)
    ran_before = stepped(system.tocsin)
    system.tocsin.db.dispose()  # the look above opened a connection after shutdown
    assert ran_before == [], "the first system was still up when the step was due"
    wait_until(lambda: utcnow() > due, what="the step is due while nothing runs")
    again = start_system(db_url, None)
    try:
        wait_until(lambda: len(stepped(again.tocsin)) == 2, what="the step ran after the restart")
        assert sorted(stepped(again.tocsin)) == [(council[1], "email", 1), (council[2], "email", 1)]
        esc = escalations(again.tocsin)[0]
        assert esc.next_position == 2 and esc.due_at is not None
        assert EscalationRunner(again.tocsin).run_due() == 0  # nothing due twice
        wait_until(lambda: len(again.sim.emails()) >= 2, what="the step's emails went out")
        assert len(stepped(again.tocsin)) == 2  # the emails' results changed no step
    finally:
        again.shutdown()


# --- policy pages ----------------------------------------------------------------


def policy_rows(tocsin, slug: str) -> list[tuple[int, int, list[str], str]]:
    rows = tocsin.db.session.execute(
        select(EscalationStep.position, EscalationStep.delay_seconds, EscalationStep.channels,
               EscalationStep.target)
        .join(EscalationPolicy, EscalationStep.policy_id == EscalationPolicy.id)
        .join(Agency, EscalationPolicy.agency_id == Agency.id)
        .where(Agency.slug == slug)
        .order_by(EscalationStep.position)
    ).all()  # fmt: skip
    tocsin.db.remove()
    return [tuple(r) for r in rows]


def post_policy(client, slug: str, steps: list[tuple[str, list[str], str]], **extra):
    page = client.get(f"/policies/{slug}")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "name": "Night shift",
            "active": "on", **extra}  # fmt: skip
    for i, (delay, channels, target) in enumerate(steps, start=1):
        data[f"steps-{i}-delay"] = delay
        data[f"steps-{i}-channels"] = channels
        data[f"steps-{i}-target"] = target
    return client.post(f"/policies/{slug}", data=data)


def test_everyone_signed_in_reads_the_policies(client):
    assert client.get("/policies").status_code == 302  # to the login page
    login(client, "observer")
    page = client.get("/policies").get_data(as_text=True)
    assert "after 2 min: Voice call to the silent responders" in page
    assert "after 8 min: SMS, Push to Ambulance" in page  # fire's neighbour
    assert "/policies/fire" not in page  # no edit link for an observer
    assert client.get("/policies/fire").status_code == 403


@pytest.mark.parametrize(
    ("username", "slug", "status"),
    [
        ("admin", "police", 200),
        ("fire-coordinator", "fire", 200),
        ("fire-coordinator", "police", 403),
        ("commander", "fire", 403),
        ("dispatcher", "fire", 403),
        ("observer", "fire", 403),
        ("admin", "nowhere", 404),
    ],
)
def test_only_an_admin_or_the_agencys_coordinator_edits(client, tocsin, username, slug, status):
    login(client, username)
    assert client.get(f"/policies/{slug}").status_code == status
    before = policy_rows(tocsin, slug)
    if status == 403:
        page = client.get("/policies")
        token = csrf_token(page.get_data(as_text=True))
        refused = client.post(
            f"/policies/{slug}",
            data={"csrf_token": token, "name": "x", "steps-1-delay": "1",
                  "steps-1-channels": "sms", "steps-1-target": "same"},
        )  # fmt: skip
        assert refused.status_code == 403
        assert policy_rows(tocsin, slug) == before


def test_a_coordinator_saves_the_agencys_policy_and_it_is_audited(client, tocsin):
    login(client, "fire-coordinator")
    saved = post_policy(
        client, "fire",
        [("0", ["sms", "push"], "same"), ("1.5", ["voice"], "same"),
         ("", [], "same"), ("6", ["sms"], "agency:police")],
    )  # fmt: skip
    assert saved.status_code == 302
    assert policy_rows(tocsin, "fire") == [
        (1, 0, ["sms", "push"], "same"),
        (2, 90, ["voice"], "same"),
        (3, 360, ["sms"], "agency:police"),
    ]
    event = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "escalation_policy.changed")
    ).one()
    assert event.actor == "user:fire-coordinator"
    assert event.detail["agency"] == "fire" and len(event.detail["steps"]) == 3
    page = client.get("/policies").get_data(as_text=True)
    assert "after 1.5 min: Voice call to the silent responders" in page


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([("2", ["sms"], "same"), ("2", ["voice"], "same")], "Step 2: its delay (2 min) must come"),
        ([("5", ["sms"], "same"), ("3", ["voice"], "same")], "must come after step 1"),
        ([("2", [], "same")], "Step 1: pick at least one channel."),
        ([("2", ["fax"], "same")], "Step 1: unknown channel fax."),
        ([("2", ["sms"], "agency:atlantis")], "Step 1: there is no agency &#39;atlantis&#39;."),
        ([("2", ["sms"], "agency:fire")], "Step 1: a step cannot call in its own agency"),
        ([("2", ["sms"], "everyone")], "Step 1: unknown target"),
        ([("soon", ["sms"], "same")], "Step 1: the delay must be 0 to 1440 minutes"),
        ([("-1", ["sms"], "same")], "Step 1: the delay must be 0 to 1440 minutes"),
        ([("nan", ["sms"], "same")], "Step 1: the delay must be 0 to 1440 minutes"),
        ([], "Give the policy at least one step"),
        ([(str(i), ["sms"], "same") for i in range(1, 12)], "A policy has at most 10 steps."),
    ],
)
def test_it_rejects_a_bad_policy_and_changes_nothing(client, tocsin, steps, message):
    login(client, "admin")
    before, audited = policy_rows(tocsin, "fire"), audit_count(tocsin)
    refused = post_policy(client, "fire", steps)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Nothing was saved" in page
    assert message in page
    assert policy_rows(tocsin, "fire") == before
    assert audit_count(tocsin) == audited


def test_it_rejects_a_policy_without_a_name(client, tocsin):
    login(client, "admin")
    before = policy_rows(tocsin, "fire")
    refused = post_policy(client, "fire", [("2", ["sms"], "same")], name="  ")
    assert refused.status_code == 400
    assert "Give the policy a name." in refused.get_data(as_text=True)
    assert policy_rows(tocsin, "fire") == before
