"""The drills page: drill schedules (list, create, pause, delete) and "test my team".

Roles come from coordinator/permissions.py: "drills.view", "drills.schedule",
"drills.test_team". An agency coordinator sees, schedules and tests their own
agency's teams only; another agency's schedule or team answers 404, as the
rosters do.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import CHANNEL_LABELS, Agency, DrillSchedule, Incident, Team, utcnow
from coordinator.services import drill_schedules, drills, recurrence
from coordinator.services.alerts import DEFAULT_CHANNELS
from coordinator.views.auth import permission_required

bp = Blueprint("drills", __name__, url_prefix="/drills")
# Offered in the time zone field's list; any tz database name is accepted.
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


@bp.get("")
@permission_required("drills.view")
def index():  # type: ignore[no-untyped-def]
    return _index_page({}, {})


def _index_page(errors: dict[str, str], form: dict):  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    now = utcnow()
    schedules = drill_schedules.for_agencies(session, _scope())
    rows = [(s, _upcoming(s, now)) for s in schedules]
    running = session.scalars(
        select(Incident)
        .where(Incident.auto_close_at.is_not(None), Incident.status != "closed")
        .order_by(Incident.auto_close_at)
    ).all()
    return render_template(
        "drills/index.html",
        rows=rows,
        describe=recurrence.describe,
        teams=_teams("drills.test_team"),
        running=running,
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        default_minutes=drills.DEFAULT_TEST_MINUTES,
        max_minutes=drills.MAX_TEST_MINUTES,
        can_schedule=permissions.allowed(current_user, "drills.schedule"),
        errors=errors,
        form=form,
    ), 400 if errors else 200


def _upcoming(schedule: DrillSchedule, now) -> list[recurrence.Occurrence]:  # type: ignore[no-untyped-def]
    if not schedule.active:
        return []
    try:
        return drill_schedules.upcoming(schedule, now)
    except ValueError:  # a rule stored before a check was added; the page still shows
        return []


@bp.route("/schedules/new", methods=["GET", "POST"])
@permission_required("drills.schedule")
def new_schedule():  # type: ignore[no-untyped-def]
    t = tocsin()
    form = request.form
    errors: dict[str, str] = {}
    checked: drill_schedules.Checked | None = None
    if request.method == "POST":
        data = _schedule_form(form)
        try:
            if form.get("action") == "check":
                checked = drill_schedules.check(t.db.session, data)
            else:
                with t.db.write() as session:
                    checked = drill_schedules.check(session, data)
                    schedule = drill_schedules.create(session, checked, _actor())
                    name = schedule.name
                flash(f"Drill schedule {name!r} saved.")
                for note in checked.notes:
                    flash(f"Note: {note}.")
                return redirect(url_for("drills.index"))
        except ValidationError as exc:
            errors = exc.errors
    return render_template(
        "drills/schedule_form.html",
        form=form,
        errors=errors,
        checked=checked,
        agencies=_agencies("drills.schedule"),
        teams=_teams("drills.schedule"),
        zones=ZONES,
        weekdays=recurrence.WEEKDAYS,
        ordinals=recurrence.ORDINALS,
        frequencies=recurrence.FREQUENCIES,
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        defaults=drill_schedules.ScheduleForm(name="", agency_slug=""),
        max_minutes=drill_schedules.MAX_DURATION_MINUTES,
    ), 400 if errors else 200


def _schedule_form(form) -> drill_schedules.ScheduleForm:  # type: ignore[no-untyped-def]
    slug = form.get("agency", "")
    agency = tocsin().db.session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is not None and not permissions.can(current_user, "drills.schedule", agency.id):
        abort(404)  # another agency's: as if it did not exist
    return drill_schedules.ScheduleForm(
        name=form.get("name", ""),
        agency_slug=slug,
        team_id=form.get("team_id", ""),
        frequency=form.get("frequency", ""),
        weekday=form.get("weekday", ""),
        ordinal=form.get("ordinal", ""),
        time=form.get("time", ""),
        timezone=form.get("timezone", ""),
        rule=form.get("rule", ""),
        message=form.get("message", ""),
        channels=form.getlist("channels"),
        duration_minutes=form.get("duration_minutes", ""),
    )


@bp.post("/schedules/<int:schedule_id>/active")
@permission_required("drills.schedule")
def set_active(schedule_id: int):  # type: ignore[no-untyped-def]
    value = request.form.get("active", "")
    if value not in ("0", "1"):
        abort(400)
    t = tocsin()
    with t.db.write() as session:
        schedule = _schedule(session, schedule_id)
        drill_schedules.set_active(session, schedule, value == "1", _actor())
        name = schedule.name
    flash(f"Drill schedule {name!r} {'resumed' if value == '1' else 'paused'}.")
    return redirect(url_for("drills.index"))


@bp.post("/schedules/<int:schedule_id>/delete")
@permission_required("drills.schedule")
def delete_schedule(schedule_id: int):  # type: ignore[no-untyped-def]
    t = tocsin()
    with t.db.write() as session:
        schedule = _schedule(session, schedule_id)
        name = schedule.name
        drill_schedules.delete(session, schedule, _actor())
    flash(f"Drill schedule {name!r} deleted; the drills it ran are kept.")
    return redirect(url_for("drills.index"))


@bp.post("/team-test")
@permission_required("drills.test_team")
def team_test():  # type: ignore[no-untyped-def]
    """Declare a self-closing drill to one team now, and show its board."""
    t = tocsin()
    form = request.form
    raw = form.get("team_id", "")
    test = drills.TeamTest(
        team_id=raw,
        minutes=form.get("minutes", str(drills.DEFAULT_TEST_MINUTES)),
        channels=form.getlist("channels") or list(DEFAULT_CHANNELS),
        message=form.get("message", ""),
    )
    try:
        with t.db.write() as session:
            team = _testable_team(session, raw)
            incident = drills.start_team_test(session, team, test, current_user, t.links)
            incident_id, closes_at = incident.id, incident.auto_close_at
    except ValidationError as exc:
        return _index_page(exc.errors, form)
    t.outbox_written.set()
    flash(f"Team test started; it closes itself at {closes_at:%H:%M} UTC.")
    return redirect(url_for("console.board", incident_id=incident_id))


def _testable_team(session, raw: str) -> Team:  # type: ignore[no-untyped-def]
    team = session.get(Team, int(raw)) if raw.strip().isdigit() else None
    if team is None:
        raise ValidationError({"team_id": "Pick a team to test."})
    if not permissions.can(current_user, "drills.test_team", team.agency_id):
        abort(404)
    return team


def _schedule(session, schedule_id: int) -> DrillSchedule:  # type: ignore[no-untyped-def]
    schedule = session.get(DrillSchedule, schedule_id)
    if schedule is None or not permissions.can(current_user, "drills.schedule", schedule.agency_id):
        abort(404)
    return schedule


def _scope() -> list[int] | None:
    """The agencies whose drills the user may see (None: every agency)."""
    if current_user.role in permissions.AGENCY_SCOPED:
        return [current_user.agency_id] if current_user.agency_id else []
    return None


def _agencies(action: str) -> list[Agency]:
    session = tocsin().db.session
    return [
        a
        for a in session.scalars(select(Agency).order_by(Agency.name))
        if permissions.can(current_user, action, a.id)
    ]


def _teams(action: str) -> list[Team]:
    if not permissions.allowed(current_user, action):
        return []
    ids = [a.id for a in _agencies(action)]
    return list(
        tocsin().db.session.scalars(
            select(Team)
            .where(Team.agency_id.in_(ids))
            .options(selectinload(Team.agency))
            .order_by(Team.agency_id, Team.name)
        )
    )


def _actor() -> str:
    return f"user:{current_user.username}"
