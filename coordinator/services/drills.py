"""Drills that start and end themselves: scheduled drills, team tests, self-closing.

A scheduled drill (services/drill_schedules.py) and a coordinator's instant
"test my team" are drill incidents declared like any other (declare_incident,
mode "drill", origin "schedule" / "team_test") to the agency's or the team's
on-duty responders, with auto_close_at set: the hub closes them at that time.

The DrillRunner is a hub loop like the EscalationRunner, and as durable: the
database rows are its only state. It takes one due schedule (FOR UPDATE SKIP
LOCKED on PostgreSQL; under the write lock on SQLite), declares its drill and
moves next_due_at past now in one transaction, so a due drill runs once, even
across a restart of every process or with two hubs. A run due more than the
grace period ago (TOCSIN_DRILL_GRACE_MINUTES, default 60: every process was
down) is skipped with an audit entry instead of alerting people hours late.
The same loop closes each incident whose auto_close_at has passed (actor
"system:drill-timer"), one row per transaction, the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gevent.event import Event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broker.env import env_float
from coordinator.context import Tocsin
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import (
    Agency,
    Alert,
    AlertAgency,
    ContactPoint,
    DrillSchedule,
    Incident,
    Responder,
    Team,
    User,
    as_utc,
    utcnow,
)
from coordinator.services import audit, drill_schedules, incidents
from coordinator.services.alerts import DEFAULT_CHANNELS, IncidentForm, declare_incident

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # TOCSIN_DRILL_POLL_SECONDS: drills are minutes apart, not seconds
GRACE_MINUTES = 60.0  # TOCSIN_DRILL_GRACE_MINUTES
BATCH = 20  # schedules started or incidents closed per poll
DEFAULT_TEST_MINUTES = 15
MAX_TEST_MINUTES = 4 * 60
TIMER = "system:drill-timer"


# --- team tests ------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamTest:
    team_id: str
    minutes: str = str(DEFAULT_TEST_MINUTES)
    channels: Sequence[str] = DEFAULT_CHANNELS
    message: str = ""


def default_test_message(team: Team) -> str:
    return f"Test of {team.name}: please answer this message as you would a real call-out."


def start_team_test(
    session: Session,
    team: Team,
    test: TeamTest,
    user: User | None,
    links: LinkSigner,
    *,
    now: datetime | None = None,
) -> Incident:
    """Declare a drill to the team's on-duty responders that closes itself after
    test.minutes; raises ValidationError and changes nothing for bad input."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    minutes = test.minutes.strip()
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_TEST_MINUTES:
        errors["minutes"] = f"A team test lasts 1 to {MAX_TEST_MINUTES} minutes, not {minutes!r}."
    on_duty = _reachable(session, team)
    if not on_duty:
        errors["team_id"] = f"Nobody in {team.name} is on duty with a contact point to test."
    if (live := live_incident_of(session, team.agency)) is not None:
        errors["team_id"] = (
            f"{team.agency.name} is answering a live incident ({live.title!r}): no test of "
            "its teams until that incident is stood down or closed."
        )
    if errors:
        raise ValidationError(errors)
    actor = f"user:{user.username}" if user else "system"
    lat, lon = _centre(session, team.agency, team)
    form = IncidentForm(
        title=f"Team test: {team.name} ({team.agency.name})",
        kind="other",
        severity="minor",
        lat=f"{lat:.6f}",
        lon=f"{lon:.6f}",
        message=test.message.strip() or default_test_message(team),
        agency_slugs=[team.agency.slug],
        mode="drill",
        channels=list(test.channels),
        team_ids=[str(team.id)],
        origin="team_test",
    )
    closes_at = now + timedelta(minutes=int(minutes))
    incident = declare_incident(session, form, user, links, actor=actor, auto_close_at=closes_at)
    audit.record(
        session, actor, "drill.team_test", incident.id, agency=team.agency.slug,
        team_id=team.id, team=team.name, minutes=int(minutes), closes_at=closes_at,
        responders=on_duty,
    )  # fmt: skip
    return incident


def live_incident_of(session: Session, agency: Agency) -> Incident | None:
    """An open live incident whose alerts called this agency: no drill of it meanwhile.
    Its people are busy, and an exercise beside a real call-out is how a real
    message gets taken for an exercise (or an exercise answer for a real one)."""
    return session.scalars(
        select(Incident)
        .join(Alert, Alert.incident_id == Incident.id)
        .join(AlertAgency, AlertAgency.alert_id == Alert.id)
        .where(
            Incident.mode == "live",
            Incident.status == "open",
            AlertAgency.agency_id == agency.id,
        )
        .order_by(Incident.created_at.desc())
        .limit(1)
    ).first()


def _reachable(session: Session, team: Team) -> int:
    """On-duty members with at least one contact point (drills reach simulated ones too)."""
    return (
        session.scalar(
            select(func.count(func.distinct(Responder.id)))
            .join(ContactPoint, ContactPoint.responder_id == Responder.id)
            .where(Responder.team_id == team.id, Responder.on_duty.is_(True))
        )
        or 0
    )


def _centre(session: Session, agency: Agency, team: Team | None) -> tuple[float, float]:
    """Where the drill is placed on the map: the middle of its people's roster
    positions (the team's, else the agency's, else everyone's)."""
    scopes = [Responder.agency_id == agency.id, Responder.id.is_not(None)]
    if team is not None:
        scopes.insert(0, Responder.team_id == team.id)
    for scope in scopes:
        lat, lon = session.execute(
            select(func.avg(Responder.lat), func.avg(Responder.lon)).where(
                scope, Responder.lat.is_not(None), Responder.lon.is_not(None)
            )
        ).one()
        if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
            return float(lat), float(lon)
    raise ValidationError(
        {"team_id": "No responder has a position on the roster, so the drill has no place."}
    )


# --- the hub loop -------------------------------------------------------------------------


class DrillRunner:
    """Starts due scheduled drills and closes self-closing incidents (background.py)."""

    def __init__(
        self, t: Tocsin, poll: float | None = None, grace_minutes: float | None = None
    ) -> None:
        self.t = t
        self.poll = poll or env_float("TOCSIN_DRILL_POLL_SECONDS", POLL_SECONDS)
        minutes = grace_minutes if grace_minutes is not None else env_float(
            "TOCSIN_DRILL_GRACE_MINUTES", GRACE_MINUTES
        )  # fmt: skip
        self.grace = timedelta(minutes=minutes)

    def run(self, stop: Event) -> None:
        while not stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.exception("drills: unexpected error; retrying")
                self.t.db.remove()
            stop.wait(self.poll)

    def run_due(self, now: datetime | None = None) -> int:
        """Start what is due and close what has expired by `now`; how many rows moved."""
        now = now or utcnow()
        done = 0
        while done < BATCH and self.run_one(now) is not None:
            done += 1
        closed = 0
        while closed < BATCH and self.close_one(now) is not None:
            closed += 1
        self.t.db.remove()
        return done + closed

    def run_one(self, now: datetime | None = None) -> str | None:
        """Take one due schedule and run (or skip) it and advance it in one transaction;
        "ran", "skipped", "failed", or None when nothing is due."""
        now = now or utcnow()
        with self.t.db.write() as session:
            schedule = session.scalars(
                select(DrillSchedule)
                .where(DrillSchedule.active.is_(True), DrillSchedule.next_due_at <= now)
                .order_by(DrillSchedule.next_due_at, DrillSchedule.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if schedule is None:
                return None
            outcome = run_schedule(session, schedule, self.t.links, now, self.grace)
        if outcome == "ran":
            self.t.outbox_written.set()
        return outcome

    def close_one(self, now: datetime | None = None) -> int | None:
        """Close one incident whose auto_close_at has passed; its id, or None."""
        now = now or utcnow()
        with self.t.db.write() as session:
            incident = session.scalars(
                select(Incident)
                .where(Incident.auto_close_at <= now, Incident.status != "closed")
                .order_by(Incident.auto_close_at, Incident.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if incident is None:
                return None
            incidents.change_status(session, incident, "closed", None, actor=TIMER)
            audit.record(
                session, TIMER, "drill.closed", incident.id, origin=incident.origin,
                auto_close_at=incident.auto_close_at, late_s=_late(incident.auto_close_at, now),
            )  # fmt: skip
            return incident.id


def run_schedule(
    session: Session, schedule: DrillSchedule, links: LinkSigner, now: datetime, grace: timedelta
) -> str:
    """Declare the schedule's due drill (or skip it when too late) and move it on to its
    next run after now; the caller commits both together."""
    due = as_utc(schedule.next_due_at) if schedule.next_due_at else now
    actor = f"system:drill-schedule:{schedule.id}"
    try:
        following = drill_schedules.next_due(schedule, now)
    except ValueError as exc:  # a rule stored before a check existed: stop, say why
        schedule.next_due_at = None
        audit.record(session, actor, "drill_schedule.failed", schedule_id=schedule.id,
                     name=schedule.name, due_at=due, error=str(exc), next_due_at=None)  # fmt: skip
        return "failed"
    detail = {"schedule_id": schedule.id, "name": schedule.name, "due_at": due,
              "next_due_at": following}  # fmt: skip
    schedule.next_due_at = following
    if now - due > grace:
        missed = drill_schedules.missed_between(schedule, due, now)
        audit.record(
            session, actor, "drill_schedule.skipped", **detail, missed=missed,
            reason=f"due more than {grace.total_seconds() / 60:g} min ago (no hub was running)",
        )  # fmt: skip
        return "skipped"
    if (live := live_incident_of(session, schedule.agency)) is not None:
        audit.record(
            session, actor, "drill_schedule.skipped", **detail, missed=1, live_incident=live.id,
            reason=f"{schedule.agency.name} is answering a live incident",
        )  # fmt: skip
        return "skipped"
    try:
        with session.begin_nested():  # a drill that cannot be declared still moves on
            incident = declare_scheduled(session, schedule, links, now)
    except ValidationError as exc:
        audit.record(session, actor, "drill_schedule.failed", **detail, error=str(exc))
        return "failed"
    schedule.last_run_at = now
    audit.record(
        session, actor, "drill_schedule.ran", incident.id, **detail,
        late_s=_late(due, now), auto_close_at=incident.auto_close_at,
    )  # fmt: skip
    return "ran"


def declare_scheduled(
    session: Session, schedule: DrillSchedule, links: LinkSigner, now: datetime
) -> Incident:
    agency, team = schedule.agency, schedule.team
    lat, lon = _centre(session, agency, team)
    who = f"{team.name} ({agency.name})" if team else agency.name
    form = IncidentForm(
        title=f"Drill: {schedule.name} · {who}",
        kind="other",
        severity="minor",
        lat=f"{lat:.6f}",
        lon=f"{lon:.6f}",
        message=schedule.message,
        agency_slugs=[agency.slug],
        mode="drill",
        channels=list(schedule.channels),
        team_ids=[str(team.id)] if team else [],
        origin="schedule",
    )
    return declare_incident(
        session, form, None, links, actor=f"system:drill-schedule:{schedule.id}",
        auto_close_at=now + timedelta(minutes=schedule.duration_minutes),
        drill_schedule_id=schedule.id,
    )  # fmt: skip


def _late(due: datetime | None, now: datetime) -> float:
    return round((now - as_utc(due)).total_seconds(), 1) if due is not None else 0.0
