"""Drill schedules: an RRULE in local wall-clock time, made UTC, across DST changes;
the friendly form's rules; every bad input refused with the field named."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from coordinator.errors import ValidationError
from coordinator.models import Agency, AuditEvent, DrillSchedule, Team
from coordinator.services import drill_schedules
from coordinator.services.drill_schedules import ScheduleForm
from coordinator.services.recurrence import describe, friendly_rule, occurrences

LONDON = ZoneInfo("Europe/London")
FIRST_MONDAY_10 = "FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10;BYMINUTE=0;BYSECOND=0"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_first_monday_10_00_london_stays_10_00_local_across_both_2027_dst_changes():
    runs = occurrences(FIRST_MONDAY_10, LONDON, utc(2027, 1, 1, 10), utc(2027, 2, 15), 10)
    assert [r.at for r in runs] == [
        utc(2027, 3, 1, 10),  # GMT
        utc(2027, 4, 5, 9),  # BST from 28 March: an hour earlier in UTC
        utc(2027, 5, 3, 9),
        utc(2027, 6, 7, 9),
        utc(2027, 7, 5, 9),
        utc(2027, 8, 2, 9),
        utc(2027, 9, 6, 9),
        utc(2027, 10, 4, 9),
        utc(2027, 11, 1, 10),  # GMT again from 31 October
        utc(2027, 12, 6, 10),
    ]
    assert {r.at.astimezone(LONDON).strftime("%a %H:%M") for r in runs} == {"Mon 10:00"}
    assert not any(r.shifted for r in runs)
    assert runs[1].label() == "Mon 2027-04-05 10:00 BST (09:00 UTC)"
    assert runs[8].label() == "Mon 2027-11-01 10:00 GMT (10:00 UTC)"


def test_the_friendly_form_makes_the_rule_of_the_example():
    assert friendly_rule("monthly", "MO", "1", "10:00") == FIRST_MONDAY_10
    assert friendly_rule("monthly", "FR", "-1", "9:30") == (
        "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=30;BYSECOND=0"
    )
    assert friendly_rule("weekly", "WE", "", "18:05") == (
        "FREQ=WEEKLY;BYDAY=WE;BYHOUR=18;BYMINUTE=5;BYSECOND=0"
    )
    assert friendly_rule("daily", "", "", "07:00") == "FREQ=DAILY;BYHOUR=7;BYMINUTE=0;BYSECOND=0"
    assert describe(FIRST_MONDAY_10) == "first Monday of the month at 10:00"
    assert describe("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=30") == (
        "last Friday of the month at 09:30"
    )
    for other in ("FREQ=YEARLY;BYMONTH=6", "FREQ=DAILY;BYHOUR=10,14", "FREQ=WEEKLY;BYDAY=MO"):
        assert describe(other) == other  # said as the rule itself


def test_a_time_missing_when_the_clocks_go_forward_runs_an_hour_later_and_says_so():
    rule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=30;BYSECOND=0"
    runs = occurrences(rule, LONDON, utc(2027, 3, 1), utc(2027, 3, 27, 12), 2)
    gap, after = runs
    assert gap.shifted and gap.at == utc(2027, 3, 28, 1, 30)  # 02:30 BST, RFC 5545
    assert gap.at.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"
    assert "01:30 does not exist that day (clocks go forward), so it runs at 02:30" in gap.label()
    assert not after.shifted and after.at == utc(2027, 3, 29, 0, 30)


def test_a_time_that_happens_twice_when_the_clocks_go_back_runs_the_first_time():
    rule = "FREQ=DAILY;BYHOUR=1;BYMINUTE=30;BYSECOND=0"
    [twice] = occurrences(rule, LONDON, utc(2027, 10, 1), utc(2027, 10, 30, 12), 1)
    assert twice.at == utc(2027, 10, 31, 0, 30)  # 01:30 BST, before the clocks go back
    assert not twice.shifted


def test_an_until_in_utc_is_read_as_calendars_write_it():
    rule = FIRST_MONDAY_10 + ";UNTIL=20270501T000000Z"
    runs = occurrences(rule, LONDON, utc(2027, 1, 1, 10), utc(2027, 2, 15), 10)
    assert [r.at for r in runs] == [utc(2027, 3, 1, 10), utc(2027, 4, 5, 9)]


# --- the form, checked against the database ---------------------------------------------


def form(**changes: object) -> ScheduleForm:
    values = {"name": "Monthly fire drill", "agency_slug": "fire", "frequency": "monthly",
              "weekday": "MO", "ordinal": "1", "time": "10:00", "timezone": "Europe/London",
              "message": "Drill: answer please.", "channels": ["sms", "push"],
              "duration_minutes": "30"}  # fmt: skip
    values.update(changes)
    return ScheduleForm(**values)  # type: ignore[arg-type]


def test_it_creates_a_schedule_due_at_its_first_run(tocsin):
    now = utc(2027, 2, 10, 12)
    with tocsin.db.write() as session:
        checked = drill_schedules.check(session, form(), now)
        schedule = drill_schedules.create(session, checked, "user:commander")
        schedule_id = schedule.id
    saved = tocsin.db.session.get(DrillSchedule, schedule_id)
    assert (saved.rule, saved.timezone, saved.channels) == (
        FIRST_MONDAY_10,
        "Europe/London",
        ["sms", "push"],
    )
    assert saved.next_due_at.replace(tzinfo=UTC) == utc(2027, 3, 1, 10)
    assert saved.active and saved.duration_minutes == 30 and saved.team_id is None
    entry = tocsin.db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "drill_schedule.created")
    ).one()
    assert entry.actor == "user:commander" and entry.detail["schedule_id"] == schedule_id
    tocsin.db.remove()


def police_team(tocsin) -> str:
    team_id = tocsin.db.session.scalar(
        select(Team.id).join(Agency).where(Agency.slug == "police").limit(1)
    )
    tocsin.db.remove()
    return str(team_id)


BAD = [
    ({"rule": "FREQ=DAYLY;BYHOUR=10"}, "rule", "Not a valid RRULE (invalid 'FREQ': DAYLY)"),
    ({"rule": "FREQ=MINUTELY"}, "rule", "at most once an hour"),
    ({"rule": "FREQ=HOURLY;BYMINUTE=0,30"}, "rule", "less than an hour apart"),
    ({"rule": "FREQ=DAILY;UNTIL=20200101T000000Z"}, "rule", "has no run after now"),
    ({"rule": "DTSTART:20270101T100000\nRRULE:FREQ=DAILY"}, "rule", "without DTSTART"),
    ({"timezone": "Europe/Londn"}, "timezone", "Unknown time zone 'Europe/Londn'"),
    ({"time": "25:00"}, "time", "Time must be HH:MM"),
    ({"frequency": "fortnightly"}, "frequency", "Frequency must be one of"),
    ({"weekday": "XX"}, "weekday", "Pick a weekday"),
    ({"duration_minutes": "0"}, "duration_minutes", "Give 1 to 1440 minutes"),
    ({"message": "  "}, "message", "Write the drill's message"),
    ({"channels": ["pager"]}, "channels", "Unknown channel: pager"),
    ({"channels": []}, "channels", "Pick at least one channel"),
    ({"name": ""}, "name", "Give the schedule a name"),
    ({"agency_slug": "coastguard"}, "agency", "Unknown agency 'coastguard'"),
]


def test_it_refuses_a_bad_schedule_naming_the_field(tocsin, subtests):
    for changes, field, message in BAD:
        with subtests.test(msg=str(changes)):
            with pytest.raises(ValidationError) as info:
                drill_schedules.check(tocsin.db.session, form(**changes), utc(2027, 2, 10, 12))
            assert message in info.value.errors[field]
    assert tocsin.db.session.scalar(select(func.count()).select_from(DrillSchedule)) == 0
    tocsin.db.remove()


def test_a_team_must_belong_to_the_agency(tocsin):
    with pytest.raises(ValidationError) as info:
        drill_schedules.check(tocsin.db.session, form(team_id=police_team(tocsin)))
    assert "Pick a team of Fire and Rescue" in info.value.errors["team_id"]
    tocsin.db.remove()
