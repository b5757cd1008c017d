"""Quorum: how many of the right people are coming; met, it stops the escalation;
missed, the next escalation step runs at once."""

from datetime import UTC, timedelta

import gevent
import pytest
from sqlalchemy import func, select

from coordinator.errors import ValidationError
from coordinator.extensions import socketio
from coordinator.models import (
    Agency,
    Alert,
    AlertEscalation,
    AuditEvent,
    Notification,
    Responder,
    Team,
    User,
)
from coordinator.services import escalation, quorum, responses
from coordinator.services.alerts import IncidentForm, declare_incident
from coordinator.services.escalation import EscalationRunner, StepSpec
from tests.conftest import login


def declare(tocsin, agencies: list[str], needed: str, minutes: str = "") -> Alert:
    form = IncidentForm(
        title="Tower block fire, Barton Hill",
        kind="fire",
        severity="critical",
        lat="51.458",
        lon="-2.567",
        message="Persons reported on floor 9.",
        agency_slugs=agencies,
        channels=["sms"],
        quorum=needed,
        quorum_minutes=minutes,
    )
    with tocsin.db.write() as session:
        for slug in ("fire", "ambulance"):
            agency = session.scalars(select(Agency).where(Agency.slug == slug)).one()
            steps = [StepSpec(600, ["voice"]), StepSpec(1200, ["email"])]
            escalation.save_policy(session, agency, "test", True, steps, "user:admin")
        user = session.scalars(select(User).where(User.username == "commander")).one()
        return declare_incident(session, form, user, tocsin.links).alerts[0]


def team(tocsin, name: str) -> list[int]:
    ids = tocsin.db.session.scalars(
        select(Responder.id).join(Team, Responder.team_id == Team.id).where(Team.name == name)
    ).all()
    tocsin.db.remove()
    return sorted(ids)


def answer(tocsin, alert: Alert, responder_id: int, what: str = "acknowledged") -> None:
    n = tocsin.db.session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id, Notification.responder_id == responder_id
        )
    ).first()
    tocsin.db.remove()
    responses.record(tocsin.db, responses.Answer(n.id, what, "sms"))


def progress(tocsin, alert: Alert) -> str:
    session = tocsin.db.session
    text = quorum.progress(session, session.get(Alert, alert.id)).text
    tocsin.db.remove()
    return text


def audited(tocsin, action: str) -> list[dict]:
    rows = tocsin.db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()
    tocsin.db.remove()
    return list(rows)


def escalations(tocsin) -> list[AlertEscalation]:
    rows = tocsin.db.session.scalars(select(AlertEscalation).order_by(AlertEscalation.id)).all()
    tocsin.db.remove()
    return list(rows)


def test_it_counts_the_latest_available_answer_of_each_skilled_responder(client, tocsin):
    alert = declare(tocsin, ["fire", "ambulance"], "firefighter: 2, paramedic: 1")
    blue, paramedics = team(tocsin, "Blue Watch"), team(tocsin, "Paramedics")
    assert progress(tocsin, alert) == "firefighter 0/2, paramedic 0/1"
    answer(tocsin, alert, blue[2], "on_scene")
    answer(tocsin, alert, blue[2], "unavailable")  # the latest answer counts
    answer(tocsin, alert, blue[0])
    answer(tocsin, alert, blue[1], "unavailable")
    answer(tocsin, alert, paramedics[0], "en_route")
    assert progress(tocsin, alert) == "firefighter 1/2, paramedic 1/1"
    login(client, "observer")
    page = client.get(f"/incidents/{alert.incident_id}").get_data(as_text=True)
    assert "Quorum: firefighter 1/2, paramedic 1/1" in page
    assert audited(tocsin, "alert.quorum_met") == []
    assert all(e.due_at is not None for e in escalations(tocsin))


def test_a_met_quorum_is_shown_live_and_stops_the_escalations(app, client, tocsin):
    alert = declare(tocsin, ["fire", "ambulance"], "firefighter: 2, paramedic: 1")
    blue, paramedics = team(tocsin, "Blue Watch"), team(tocsin, "Paramedics")
    answer(tocsin, alert, blue[0])
    answer(tocsin, alert, paramedics[0])
    answer(tocsin, alert, blue[1], "unavailable")
    login(client, "observer")
    board = socketio.test_client(app, flask_test_client=client)
    board.emit("join", {"incident_id": alert.incident_id}, callback=True)
    board.get_received()

    answer(tocsin, alert, blue[1], "acknowledged")  # changed their mind: now it is met

    shown = [e["args"][0] for e in board.get_received() if e["name"] == "quorum"]
    assert shown[-1]["met"] is True
    assert shown[-1]["skills"] == [
        {"skill": "firefighter", "needed": 2, "have": 2},
        {"skill": "paramedic", "needed": 1, "have": 1},
    ]
    assert shown[-1]["text"].startswith("Quorum: firefighter 2/2, paramedic 1/1 (met at ")
    board.disconnect()
    assert tocsin.db.session.get(Alert, alert.id).quorum_met_at is not None
    assert [d["alert_id"] for d in audited(tocsin, "alert.quorum_met")] == [alert.id]
    assert [d["reason"] for d in audited(tocsin, "escalation.stopped")] == ["quorum met"]
    assert all(e.due_at is None for e in escalations(tocsin))
    state = client.get(f"/incidents/{alert.incident_id}/escalation").get_json()
    assert {e["state"] for e in state["escalations"]} == {"stopped"}
    assert "escalation stopped (quorum met)" in state["escalations"][0]["text"]

    answer(tocsin, alert, paramedics[1])  # more answers: met once, audited once
    assert len(audited(tocsin, "alert.quorum_met")) == 1
    later = alert.created_at.replace(tzinfo=UTC) + timedelta(hours=1)
    assert EscalationRunner(tocsin).run_due(now=later) == 0
    stepped = select(func.count()).select_from(Notification).where(Notification.step.is_not(None))
    assert tocsin.db.session.scalar(stepped) == 0


def test_any_counts_everyone_and_one_responder_counts_for_each_skill(tocsin):
    alert = declare(tocsin, ["fire", "ambulance"], "any: 2, hazmat: 1")
    answer(tocsin, alert, team(tocsin, "Hazmat")[0])  # a firefighter with hazmat
    assert progress(tocsin, alert) == "any 1/2, hazmat 1/1"
    answer(tocsin, alert, team(tocsin, "Paramedics")[0], "en_route")
    assert progress(tocsin, alert) == "any 2/2, hazmat 1/1"
    assert tocsin.db.session.get(Alert, alert.id).quorum_met_at is not None


def test_a_missed_deadline_runs_the_next_step_at_once_and_only_once(app, client, tocsin):
    alert = declare(tocsin, ["fire", "ambulance"], "firefighter: 4", minutes="2")
    answer(tocsin, alert, team(tocsin, "Blue Watch")[0])
    deadline = tocsin.db.session.get(Alert, alert.id).quorum_deadline_at.replace(tzinfo=UTC)
    tocsin.db.remove()
    runner = EscalationRunner(tocsin)
    assert runner.run_due(now=deadline - timedelta(seconds=1)) == 0
    login(client, "observer")
    board = socketio.test_client(app, flask_test_client=client)
    board.emit("join", {"incident_id": alert.incident_id}, callback=True)
    board.get_received()

    passed = deadline + timedelta(seconds=1)
    assert runner.run_due(now=passed) == 2  # fire's and ambulance's step 1, not due till 10 min

    steps = tocsin.db.session.execute(
        select(Notification.step, func.count()).where(Notification.step.is_not(None))
        .group_by(Notification.step)
    ).all()  # fmt: skip
    assert steps == [(1, 8)]  # voice to the 9 alerted but the one who answered
    missed = audited(tocsin, "alert.quorum_missed")
    assert [(d["alert_id"], d["escalations"], d["quorum"]) for d in missed] == [
        (alert.id, 2, "firefighter 1/4")
    ]
    names = [e["name"] for e in board.get_received()]
    assert names.count("escalation") == 2 and "quorum" in names
    board.disconnect()
    created = alert.created_at.replace(tzinfo=UTC)
    for esc in escalations(tocsin):  # step 2 keeps its own time
        assert esc.next_position == 2
        assert esc.due_at.replace(tzinfo=UTC) == created + timedelta(seconds=1200)
    assert runner.run_due(now=passed + timedelta(seconds=30)) == 0
    assert len(audited(tocsin, "alert.quorum_missed")) == 1


def test_the_board_state_needs_a_known_incident_and_a_signed_in_user(client, tocsin):
    alert = declare(tocsin, ["fire"], "firefighter: 1")
    assert client.get(f"/incidents/{alert.incident_id}/escalation").status_code == 302
    login(client, "observer")
    state = client.get(f"/incidents/{alert.incident_id}/escalation").get_json()
    assert [q["text"] for q in state["quorums"]] == ["Quorum: firefighter 0/1"]
    assert [e["state"] for e in state["escalations"]] == ["waiting"]
    assert client.get("/incidents/999/escalation").status_code == 404


@pytest.mark.parametrize("needed", ["firefighter 4", "firefighter: 0", "4 firefighters"])
def test_a_bad_quorum_sends_nothing(tocsin, needed):
    before = tocsin.db.session.scalar(select(func.count()).select_from(Alert))
    tocsin.db.remove()
    with pytest.raises(ValidationError, match="Write the quorum as skill: number"):
        declare(tocsin, ["fire"], needed)
    assert tocsin.db.session.scalar(select(func.count()).select_from(Alert)) == before


def test_answers_arriving_together_meet_the_quorum_once(tocsin):
    alert = declare(tocsin, ["fire"], "firefighter: 6")
    firefighters = team(tocsin, "Blue Watch") + team(tocsin, "Hazmat")
    jobs = [gevent.spawn(answer, tocsin, alert, rid) for rid in firefighters]
    gevent.joinall(jobs, raise_error=True)
    assert progress(tocsin, alert) == "firefighter 6/6"
    assert tocsin.db.session.get(Alert, alert.id).quorum_met_at is not None
    assert len(audited(tocsin, "alert.quorum_met")) == 1
    assert all(e.due_at is None for e in escalations(tocsin))
