"""Drill schedules: when an agency or a team is drilled, as an RFC 5545 RRULE in a zone
(evaluated on local wall-clock time, DST-correct: services/recurrence.py), e.g.
"first Monday of the month 10:00 Europe/London" =
FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10;BYMINUTE=0;BYSECOND=0. A run whose local time
does not exist that day (clocks go forward) comes an hour later on the clock, and
the form says so for every such run it shows.

The rule's DTSTART is the schedule's starts_at: the day it was made, at the
form's time in the zone. A rule without BYHOUR/BYMINUTE takes its time of
day from there. next_due_at is the first occurrence after now; the hub's
DrillRunner (services/drills.py) runs it and moves it on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.messages import CHANNELS
from coordinator.errors import ValidationError
from coordinator.models import Agency, DrillSchedule, Incident, Team, utcnow
from coordinator.services import audit
from coordinator.services.alerts import DEFAULT_CHANNELS, MAX_MESSAGE
from coordinator.services.recurrence import (
    FREQUENCIES,
    ORDINALS,
    TIME,
    WEEKDAYS,
    Occurrence,
    friendly_rule,
    occurrences,
    zone,
)

MAX_NAME = 120
MAX_DURATION_MINUTES = 24 * 60
DEFAULT_DURATION_MINUTES = 30
MIN_GAP = timedelta(hours=1)  # at most one drill an hour
GAP_CHECKED = 20  # occurrences looked at for the gap
SHOWN_RUNS = 5
DEFAULT_MESSAGE = "Scheduled drill: please answer this message as you would a real call-out."


@dataclass(frozen=True)
class ScheduleForm:
    """The schedule form as typed."""

    name: str
    agency_slug: str
    team_id: str = ""
    frequency: str = "monthly"
    weekday: str = "MO"
    ordinal: str = "1"
    time: str = "10:00"
    timezone: str = "Europe/London"
    rule: str = ""  # advanced: an RRULE instead of frequency / weekday / ordinal
    message: str = DEFAULT_MESSAGE
    channels: list[str] = field(default_factory=lambda: list(DEFAULT_CHANNELS))
    duration_minutes: str = str(DEFAULT_DURATION_MINUTES)


@dataclass(frozen=True)
class Checked:
    """A schedule form that passed every check."""

    name: str
    agency: Agency
    team: Team | None
    rule: str
    zone: ZoneInfo
    starts_at: datetime
    message: str
    channels: list[str]
    duration_minutes: int
    runs: list[Occurrence]

    @property
    def notes(self) -> list[str]:
        return [r.label() for r in self.runs if r.shifted]


def next_due(schedule: DrillSchedule, after: datetime) -> datetime | None:
    runs = occurrences(schedule.rule, ZoneInfo(schedule.timezone), schedule.starts_at, after, 1)
    return runs[0].at if runs else None


def missed_between(schedule: DrillSchedule, since: datetime, until: datetime) -> int:
    """Runs due from `since` up to `until` (at most 1,000 counted)."""
    before = since - timedelta(microseconds=1)
    runs = occurrences(schedule.rule, ZoneInfo(schedule.timezone), schedule.starts_at, before, 1000)
    return sum(1 for r in runs if r.at <= until)


def upcoming(schedule: DrillSchedule, now: datetime, count: int = SHOWN_RUNS) -> list[Occurrence]:
    return occurrences(schedule.rule, ZoneInfo(schedule.timezone), schedule.starts_at, now, count)


# --- checking a form ------------------------------------------------------------------


def check(session: Session, form: ScheduleForm, now: datetime | None = None) -> Checked:
    """Every field checked; raises ValidationError naming each bad one."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    name = form.name.strip()
    if not name:
        errors["name"] = "Give the schedule a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name is longer than {MAX_NAME} characters."
    agency = session.scalar(select(Agency).where(Agency.slug == form.agency_slug))
    team = _team(session, agency, form.team_id, errors) if agency else None
    if agency is None:
        errors["agency"] = f"Unknown agency {form.agency_slug!r}."
    tz = _field(errors, "timezone", zone, form.timezone)
    time_match = TIME.match(form.time.strip())
    if not time_match:
        errors["time"] = f"Time must be HH:MM (24 hours), not {form.time.strip()!r}."
    rule_text = form.rule.strip().removeprefix("RRULE:").strip()
    if not rule_text and time_match:
        rule_text = _friendly(form, errors)
    message = form.message.strip()
    if not message:
        errors["message"] = "Write the drill's message to responders."
    elif len(message) > MAX_MESSAGE:
        errors["message"] = f"The message is longer than {MAX_MESSAGE} characters."
    channels = list(dict.fromkeys(form.channels))
    if not channels:
        errors["channels"] = "Pick at least one channel."
    elif unknown := sorted(set(channels) - set(CHANNELS)):
        errors["channels"] = f"Unknown channel: {', '.join(unknown)}."
    duration = _minutes(form.duration_minutes, MAX_DURATION_MINUTES, errors, "duration_minutes")
    runs: list[Occurrence] = []
    starts_at = now
    if tz is not None and rule_text and time_match:
        local_day = now.astimezone(tz).date()
        start_local = datetime(
            local_day.year, local_day.month, local_day.day,
            int(time_match.group(1)), int(time_match.group(2)),
        )  # fmt: skip
        starts_at = start_local.replace(tzinfo=tz).astimezone(UTC)
        runs = _field(errors, "rule", _runs, rule_text, tz, starts_at, now) or []
    if errors:
        raise ValidationError(errors)
    assert agency is not None and tz is not None and duration is not None
    return Checked(name, agency, team, rule_text, tz, starts_at, message, channels, duration, runs)


def _friendly(form: ScheduleForm, errors: dict[str, str]) -> str:
    """The friendly fields as a rule, each bad field named on its own."""
    if form.frequency not in FREQUENCIES:
        errors["frequency"] = f"Frequency must be one of {', '.join(FREQUENCIES)}."
    elif form.frequency != "daily" and form.weekday not in WEEKDAYS:
        errors["weekday"] = "Pick a weekday."
    elif form.frequency == "monthly" and form.ordinal not in ORDINALS:
        errors["ordinal"] = "Pick first, second, third, fourth or last."
    else:
        return friendly_rule(form.frequency, form.weekday, form.ordinal, form.time)
    return ""


def _runs(rule_text: str, tz: ZoneInfo, starts_at: datetime, now: datetime) -> list[Occurrence]:
    runs = occurrences(rule_text, tz, starts_at, now, GAP_CHECKED)
    if not runs:
        raise ValueError("The rule has no run after now (its COUNT or UNTIL has passed).")
    for earlier, later in zip(runs, runs[1:], strict=False):
        if later.at - earlier.at < MIN_GAP:
            raise ValueError(
                f"Runs at {earlier.label()} and {later.label()} are less than an hour apart: "
                "a drill schedule runs at most once an hour."
            )
    return runs[:SHOWN_RUNS]


def _team(session: Session, agency: Agency, raw: str, errors: dict[str, str]) -> Team | None:
    if not raw.strip():
        return None
    team = session.get(Team, int(raw)) if raw.strip().isdigit() else None
    if team is None or team.agency_id != agency.id:
        errors["team_id"] = f"Pick a team of {agency.name} (or the whole agency)."
        return None
    return team


def _minutes(raw: str, most: int, errors: dict[str, str], name: str) -> int | None:
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= most:
        errors[name] = f"Give 1 to {most} minutes, not {text!r}."
        return None
    return int(text)


def _field(errors: dict[str, str], name: str, fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except ValueError as exc:
        errors.setdefault(name, str(exc))
        return None


# --- saving ---------------------------------------------------------------------------


def create(session: Session, checked: Checked, actor: str) -> DrillSchedule:
    schedule = DrillSchedule(
        agency_id=checked.agency.id,
        team_id=checked.team.id if checked.team else None,
        name=checked.name,
        rule=checked.rule,
        timezone=checked.zone.key,
        starts_at=checked.starts_at,
        message=checked.message,
        channels=checked.channels,
        duration_minutes=checked.duration_minutes,
        active=True,
        next_due_at=checked.runs[0].at,
        created_by=actor,
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session, actor, "drill_schedule.created", **_detail(schedule),
        next_runs=[r.at for r in checked.runs],
    )  # fmt: skip
    return schedule


def set_active(session: Session, schedule: DrillSchedule, active: bool, actor: str) -> None:
    """Pause, or resume from the next run after now (a paused schedule never catches up)."""
    if schedule.active == active:
        return
    schedule.active = active
    if active:
        schedule.next_due_at = next_due(schedule, utcnow())
    audit.record(
        session, actor, "drill_schedule.resumed" if active else "drill_schedule.paused",
        **_detail(schedule),
    )  # fmt: skip


def delete(session: Session, schedule: DrillSchedule, actor: str) -> None:
    """Delete the schedule; the drills it ran stay (they lose the link to it)."""
    detail = _detail(schedule)
    kept = session.execute(
        update(Incident)
        .where(Incident.drill_schedule_id == schedule.id)
        .values(drill_schedule_id=None)
    ).rowcount
    session.delete(schedule)
    audit.record(session, actor, "drill_schedule.deleted", **detail, drills_kept=kept)


def _detail(schedule: DrillSchedule) -> dict[str, object]:
    return {
        "schedule_id": schedule.id, "name": schedule.name, "agency_id": schedule.agency_id,
        "team_id": schedule.team_id, "rule": schedule.rule, "timezone": schedule.timezone,
        "channels": list(schedule.channels), "duration_minutes": schedule.duration_minutes,
        "next_due_at": schedule.next_due_at,
    }  # fmt: skip


def for_agencies(session: Session, agency_ids: Sequence[int] | None) -> list[DrillSchedule]:
    """Schedules of these agencies (None: all), by agency and name."""
    query = select(DrillSchedule).order_by(DrillSchedule.agency_id, DrillSchedule.name)
    if agency_ids is not None:
        query = query.where(DrillSchedule.agency_id.in_(agency_ids))
    return list(session.scalars(query))
