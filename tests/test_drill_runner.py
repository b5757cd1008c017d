"""The hub's drill runner: a due scheduled drill runs once (twice run, restarted or two
hubs at once), moves on to its next run, is skipped when far too late; self-closing
drills close at their time and nothing else does. `now` is passed, never slept for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import gevent
import pytest
from sqlalchemy import func, select, update

from coordinator.app import create_app
from coordinator.models import (
    Agency,
    Alert,
    AuditEvent,
    DrillSchedule,
    Incident,
    Notification,
    Responder,
    Team,
)
from coordinator.services import drill_schedules, drills
from coordinator.services.alerts import IncidentForm, declare_incident
from coordinator.services.drill_schedules import ScheduleForm
from coordinator.services.drills import DrillRunner, TeamTest

BEFORE = datetime(2027, 2, 10, 12, tzinfo=UTC)
FIRST_RUN = datetime(2027, 3, 1, 10, tzinfo=UTC)  # first Monday of March, 10:00 GMT
SECOND_RUN = datetime(2027, 4, 5, 9, tzinfo=UTC)  # first Monday of April, 10:00 BST


def make_schedule(tocsin, name: str = "Monthly fire drill", team: str = "") -> int:
    form = ScheduleForm(
        name=name, agency_slug="fire", team_id=team, frequency="monthly", weekday="MO",
        ordinal="1", time="10:00", timezone="Europe/London", message="Drill: please answer.",
        channels=["sms"], duration_minutes="30",
    )  # fmt: skip
    with tocsin.db.write() as session:
        schedule = drill_schedules.create(
            session, drill_schedules.check(session, form, BEFORE), "user:commander"
        )
        return schedule.id


def drill_incidents(tocsin) -> list[Incident]:
    rows = tocsin.db.session.scalars(select(Incident).order_by(Incident.id)).all()
    tocsin.db.remove()
    return list(rows)


def actions(tocsin, prefix: str) -> list[AuditEvent]:
    rows = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.id)
    ).all()
    tocsin.db.remove()
    return list(rows)


def schedule_row(tocsin, schedule_id: int) -> DrillSchedule:
    row = tocsin.db.session.get(DrillSchedule, schedule_id)
    tocsin.db.remove()
    return row


def test_a_due_schedule_runs_once_even_across_a_restart(tocsin, settings):
    schedule_id = make_schedule(tocsin)
    runner = DrillRunner(tocsin, grace_minutes=60)
    assert runner.run_due(FIRST_RUN - timedelta(seconds=1)) == 0  # not due yet
    now = FIRST_RUN + timedelta(seconds=20)
    assert runner.run_one(now) == "ran"
    assert runner.run_due(now) == 0  # run again: nothing more is due

    # A restart of every process: a fresh app and database handle on the same rows.
    restarted = create_app(settings, TESTING=True)
    try:
        assert DrillRunner(restarted.extensions["tocsin"]).run_due(now) == 0
    finally:
        restarted.extensions["tocsin"].db.dispose()

    [incident] = drill_incidents(tocsin)
    assert (incident.mode, incident.origin, incident.drill_schedule_id) == (
        "drill",
        "schedule",
        schedule_id,
    )
    assert incident.auto_close_at.replace(tzinfo=UTC) == now + timedelta(minutes=30)
    assert incident.title == "Drill: Monthly fire drill · Fire and Rescue"
    row = schedule_row(tocsin, schedule_id)
    assert row.next_due_at.replace(tzinfo=UTC) == SECOND_RUN  # 10:00 BST
    assert row.last_run_at.replace(tzinfo=UTC) == now
    [ran] = actions(tocsin, "drill_schedule.ran")
    assert ran.incident_id == incident.id and ran.detail["late_s"] == 20.0
    assert ran.actor == f"system:drill-schedule:{schedule_id}"
    agencies = set(
        tocsin.db.session.scalars(
            select(Agency.slug)
            .join(Responder, Responder.agency_id == Agency.id)
            .join(Notification, Notification.responder_id == Responder.id)
            .join(Alert, Notification.alert_id == Alert.id)
            .where(Alert.incident_id == incident.id)
        )
    )
    tocsin.db.remove()
    assert agencies == {"fire"}


def test_a_team_schedule_reaches_that_team_only(tocsin):
    team_id = tocsin.db.session.scalar(select(Team.id).where(Team.name == "Hazmat"))
    tocsin.db.remove()
    make_schedule(tocsin, "Hazmat drill", str(team_id))
    assert DrillRunner(tocsin).run_one(FIRST_RUN) == "ran"
    [incident] = drill_incidents(tocsin)
    teams = set(
        tocsin.db.session.scalars(
            select(Responder.team_id)
            .join(Notification, Notification.responder_id == Responder.id)
            .join(Alert, Notification.alert_id == Alert.id)
            .where(Alert.incident_id == incident.id)
        )
    )
    tocsin.db.remove()
    assert teams == {team_id} and "Hazmat (Fire and Rescue)" in incident.title


def test_a_run_due_long_before_any_hub_was_up_is_skipped_not_started_late(tocsin):
    schedule_id = make_schedule(tocsin)
    later = SECOND_RUN + timedelta(hours=2)  # every process down for two runs
    assert DrillRunner(tocsin, grace_minutes=60).run_one(later) == "skipped"
    assert drill_incidents(tocsin) == []
    [skipped] = actions(tocsin, "drill_schedule.skipped")
    assert skipped.detail["missed"] == 2 and "due more than 60 min ago" in skipped.detail["reason"]
    assert schedule_row(tocsin, schedule_id).next_due_at.replace(tzinfo=UTC) == datetime(
        2027, 5, 3, 9, tzinfo=UTC
    )


def test_a_run_within_the_grace_period_still_starts(tocsin):
    make_schedule(tocsin)
    assert DrillRunner(tocsin, grace_minutes=60).run_one(FIRST_RUN + timedelta(minutes=59)) == "ran"
    assert len(drill_incidents(tocsin)) == 1


def test_a_paused_schedule_does_not_run_and_resumes_from_its_next_run(tocsin):
    schedule_id = make_schedule(tocsin)
    with tocsin.db.write() as session:
        drill_schedules.set_active(session, session.get(DrillSchedule, schedule_id), False, "t")
    assert DrillRunner(tocsin).run_due(FIRST_RUN) == 0
    assert [e.action for e in actions(tocsin, "drill_schedule.")] == [
        "drill_schedule.created", "drill_schedule.paused"
    ]  # fmt: skip


def test_a_drill_that_cannot_be_declared_is_audited_and_the_schedule_moves_on(tocsin):
    schedule_id = make_schedule(tocsin)
    with tocsin.db.write() as session:  # nobody has a position: the drill has no place
        session.execute(update(Responder).values(lat=None, lon=None))
    assert DrillRunner(tocsin).run_one(FIRST_RUN) == "failed"
    assert drill_incidents(tocsin) == []
    [failed] = actions(tocsin, "drill_schedule.failed")
    assert "no place" in failed.detail["error"]
    assert schedule_row(tocsin, schedule_id).next_due_at.replace(tzinfo=UTC) == SECOND_RUN


# Two hubs share one database on PostgreSQL only (SQLite is the one-machine default).
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_hubs_at_once_on_postgresql_start_each_drill_once(tocsin, settings, db_url):
    ids = [make_schedule(tocsin, f"Drill {n}") for n in range(6)]
    other = create_app(settings, TESTING=True)
    try:
        runners = [DrillRunner(tocsin), DrillRunner(other.extensions["tocsin"])]
        now = FIRST_RUN + timedelta(seconds=5)
        jobs = [gevent.spawn(r.run_due, now) for r in runners for _ in range(3)]
        gevent.joinall(jobs, raise_error=True)
        assert sum(job.value for job in jobs) == len(ids)
    finally:
        other.extensions["tocsin"].db.dispose()
    incidents = drill_incidents(tocsin)
    assert sorted(i.drill_schedule_id for i in incidents) == sorted(ids)
    assert len(actions(tocsin, "drill_schedule.ran")) == len(ids)


# --- self-closing ------------------------------------------------------------------------


def blue_watch(tocsin) -> Team:
    team = tocsin.db.session.scalar(select(Team).where(Team.name == "Blue Watch"))
    tocsin.db.remove()
    return team


def test_the_timer_closes_a_team_test_when_due_and_leaves_the_others_alone(tocsin):
    started = datetime.now(UTC)
    with tocsin.db.write() as session:
        team = session.scalar(select(Team).where(Team.name == "Blue Watch"))
        test = drills.start_team_test(session, team, TeamTest(str(team.id)), None, tocsin.links,
                                      now=started)  # fmt: skip
        longer = drills.start_team_test(session, team, TeamTest(str(team.id), minutes="60"),
                                        None, tocsin.links, now=started)  # fmt: skip
        live = declare_incident(
            session,
            IncidentForm("Live fire", "fire", "major", "51.45", "-2.58", "Go.", ["fire"]),
            None, tocsin.links,
        )  # fmt: skip
        ids = test.id, longer.id, live.id
    runner = DrillRunner(tocsin)
    assert runner.run_due(started + timedelta(minutes=14)) == 0
    assert runner.run_due(started + timedelta(minutes=15, seconds=1)) == 1
    assert runner.run_due(started + timedelta(minutes=15, seconds=2)) == 0  # closed once
    statuses = {i.id: i.status for i in drill_incidents(tocsin)}
    assert statuses == {ids[0]: "closed", ids[1]: "open", ids[2]: "open"}
    [closed] = [e for e in actions(tocsin, "incident.status") if e.incident_id == ids[0]]
    assert (closed.actor, closed.detail) == ("system:drill-timer", {"before": "open",
                                                                    "after": "closed"})  # fmt: skip
    [timer] = actions(tocsin, "drill.closed")
    assert timer.incident_id == ids[0] and timer.detail["origin"] == "team_test"


def test_a_stood_down_drill_is_closed_by_its_timer_too(tocsin):
    started = datetime.now(UTC)
    team = blue_watch(tocsin)
    with tocsin.db.write() as session:
        test = drills.start_team_test(
            session, session.get(Team, team.id), TeamTest(str(team.id), minutes="5"), None,
            tocsin.links, now=started,
        )  # fmt: skip
        test.status = "stood_down"
    assert DrillRunner(tocsin).run_due(started + timedelta(minutes=6)) == 1
    assert drill_incidents(tocsin)[0].status == "closed"


def test_a_team_test_reaches_the_teams_on_duty_people_only(tocsin):
    team = blue_watch(tocsin)
    with tocsin.db.write() as session:
        off = session.scalars(select(Responder).where(Responder.team_id == team.id)).first()
        off.on_duty = False
        off_id = off.id
        incident = drills.start_team_test(
            session, session.get(Team, team.id), TeamTest(str(team.id)), None, tocsin.links
        )
        incident_id = incident.id
    reached = set(
        tocsin.db.session.scalars(
            select(Notification.responder_id)
            .join(Alert, Notification.alert_id == Alert.id)
            .where(Alert.incident_id == incident_id)
        )
    )
    members = set(
        tocsin.db.session.scalars(select(Responder.id).where(Responder.team_id == team.id))
    )
    tocsin.db.remove()
    assert reached == members - {off_id} and reached
    [incident] = drill_incidents(tocsin)
    assert (incident.mode, incident.origin) == ("drill", "team_test")


def test_a_bad_team_test_changes_nothing(tocsin):
    team = blue_watch(tocsin)
    before = tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent))
    tocsin.db.remove()
    for minutes in ("0", "241", "soon"):
        with pytest.raises(drills.ValidationError) as info, tocsin.db.write() as session:
            test = TeamTest(str(team.id), minutes=minutes)
            drills.start_team_test(session, session.get(Team, team.id), test, None, tocsin.links)
        assert "1 to 240 minutes" in info.value.errors["minutes"]
    with tocsin.db.write() as session:
        session.execute(update(Responder).where(Responder.team_id == team.id).values(on_duty=False))
    with pytest.raises(drills.ValidationError) as info, tocsin.db.write() as session:
        drills.start_team_test(session, session.get(Team, team.id), TeamTest(str(team.id)), None,
                               tocsin.links)  # fmt: skip
    assert "Nobody in Blue Watch is on duty" in info.value.errors["team_id"]
    assert drill_incidents(tocsin) == []
    assert tocsin.db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    tocsin.db.remove()


# --- never beside a live incident of the same agency ---------------------------------------


def _live_fire(tocsin) -> int:
    form = IncidentForm(
        title="Warehouse fire", kind="fire", severity="major", lat="51.45", lon="-2.59",
        message="Attend.", agency_slugs=["fire"], channels=["sms"],
    )  # fmt: skip
    with tocsin.db.write() as session:
        return declare_incident(session, form, None, tocsin.links).id


def test_a_scheduled_drill_is_skipped_while_its_agency_answers_a_live_incident(tocsin):
    schedule_id = make_schedule(tocsin)
    live = _live_fire(tocsin)
    assert DrillRunner(tocsin).run_one(FIRST_RUN) == "skipped"
    assert [i.id for i in drill_incidents(tocsin)] == [live]  # no drill beside it
    [skipped] = actions(tocsin, "drill_schedule.skipped")
    assert skipped.detail["live_incident"] == live
    assert "answering a live incident" in skipped.detail["reason"]
    assert schedule_row(tocsin, schedule_id).next_due_at.replace(tzinfo=UTC) == SECOND_RUN
    with tocsin.db.write() as session:  # once the live incident is closed, drills run again
        from coordinator.services import incidents

        incidents.change_status(session, session.get(Incident, live), "closed", None)
    assert DrillRunner(tocsin).run_one(SECOND_RUN) == "ran"


def test_a_team_test_is_refused_while_its_agency_answers_a_live_incident(tocsin):
    team = blue_watch(tocsin)
    _live_fire(tocsin)
    with pytest.raises(drills.ValidationError) as info, tocsin.db.write() as session:
        drills.start_team_test(session, session.get(Team, team.id), TeamTest(str(team.id)), None,
                               tocsin.links)  # fmt: skip
    assert "is answering a live incident ('Warehouse fire')" in info.value.errors["team_id"]
    assert len(drill_incidents(tocsin)) == 1
