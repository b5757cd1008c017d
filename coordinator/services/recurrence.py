"""Recurrence rules in a time zone: RFC 5545 RRULEs evaluated on local wall-clock
time and made UTC, so "first Monday of the month 10:00 Europe/London" is 10:00 on
London's clocks in winter (10:00 UTC) and in summer (09:00 UTC).

Local times follow RFC 5545 3.3.5: a time that occurs twice (clocks go back) is its
first occurrence; a time that does not exist (clocks go forward, e.g. 01:30 on the
last Sunday of March in London) is read with the offset before the gap, so it comes
an hour later on the clock (02:30 BST). Knows nothing of the database: drill
schedules (services/drill_schedules.py) keep a rule, a zone and a start.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from coordinator.models import as_utc

WEEKDAYS = {
    "MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
    "FR": "Friday", "SA": "Saturday", "SU": "Sunday",
}  # fmt: skip
ORDINALS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}
FREQUENCIES = {"weekly": "Weekly", "monthly": "Monthly", "daily": "Daily"}
TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
FREQ = re.compile(r"(?:^|;)FREQ=([A-Z]+)", re.IGNORECASE)
MAX_RULE = 400


@dataclass(frozen=True)
class Occurrence:
    local: datetime  # the wall-clock time the rule gives (naive, in the schedule's zone)
    at: datetime  # when it runs, UTC
    zone: ZoneInfo

    @property
    def shifted(self) -> bool:
        """The rule's local time does not exist that day (clocks go forward)."""
        return self.at.astimezone(self.zone).replace(tzinfo=None) != self.local

    def label(self) -> str:
        """ "Mon 2027-04-05 10:00 BST (09:00 UTC)" and, in a gap, what happens."""
        local = self.at.astimezone(self.zone)
        text = f"{local:%a %Y-%m-%d %H:%M} {local.tzname()} ({self.at:%H:%M} UTC)"
        if self.shifted:
            text += (
                f"; {self.local:%H:%M} does not exist that day (clocks go forward), "
                f"so it runs at {local:%H:%M}"
            )
        return text


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown time zone {name.strip()!r}: use a tz database name such as "
            "Europe/London or America/New_York."
        ) from None


def friendly_rule(frequency: str, weekday: str, ordinal: str, time_of_day: str) -> str:
    """The friendly form's fields as an RRULE; raises ValueError naming the field."""
    match = TIME.match(time_of_day.strip())
    if not match:
        raise ValueError(f"Time must be HH:MM (24 hours), not {time_of_day.strip()!r}.")
    at = f"BYHOUR={int(match.group(1))};BYMINUTE={int(match.group(2))};BYSECOND=0"
    if frequency == "daily":
        return f"FREQ=DAILY;{at}"
    if weekday not in WEEKDAYS:
        raise ValueError(f"Pick a weekday, not {weekday!r}.")
    if frequency == "weekly":
        return f"FREQ=WEEKLY;BYDAY={weekday};{at}"
    if frequency == "monthly":
        if ordinal not in ORDINALS:
            raise ValueError(f"Pick first, second, third, fourth or last, not {ordinal!r}.")
        return f"FREQ=MONTHLY;BYDAY={ordinal}{weekday};{at}"
    raise ValueError(f"Frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}.")


def describe(rule_text: str) -> str:
    """ "first Monday of the month at 10:00" for the friendly rules; else the rule."""
    parts = dict(p.split("=", 1) for p in rule_text.upper().split(";") if "=" in p)
    day = parts.get("BYDAY", "")
    known = {"FREQ", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}
    hour, minute = parts.get("BYHOUR", ""), parts.get("BYMINUTE", "0")
    if set(parts) - known or "," in day or not hour.isdigit() or not minute.isdigit():
        return rule_text
    at = f"{int(hour):02d}:{int(minute):02d}"
    if parts.get("FREQ") == "DAILY" and not day:
        return f"every day at {at}"
    if parts.get("FREQ") == "WEEKLY" and day in WEEKDAYS:
        return f"every {WEEKDAYS[day]} at {at}"
    if parts.get("FREQ") == "MONTHLY" and day[-2:] in WEEKDAYS and day[:-2] in ORDINALS:
        return f"{ORDINALS[day[:-2]]} {WEEKDAYS[day[-2:]]} of the month at {at}"
    return rule_text


def parse_rule(rule_text: str, dtstart_local: datetime, tz: ZoneInfo) -> rrule:
    """The RRULE with its DTSTART (naive, local); raises ValueError saying what is wrong."""
    text = rule_text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:].strip()
    if not text:
        raise ValueError("The rule is empty.")
    if len(text) > MAX_RULE:
        raise ValueError(f"The rule is longer than {MAX_RULE} characters.")
    if "\n" in text or ":" in text:
        raise ValueError(
            "Give one RRULE only (FREQ=...;...), without DTSTART, RDATE or EXDATE: "
            "the time and time zone fields set the start."
        )
    freq = FREQ.search(text)
    if freq and freq.group(1).upper() in ("SECONDLY", "MINUTELY"):
        raise ValueError("A drill schedule runs at most once an hour, not every second or minute.")
    # UNTIL in UTC (as calendars write it) becomes local time, as the rule is evaluated.
    text = UNTIL_UTC.sub(lambda m: "UNTIL=" + _local_until(m.group(1), tz), text)
    try:
        with warnings.catch_warnings():
            # dateutil only warns of what RFC 5545 forbids (COUNT with UNTIL): refuse it.
            warnings.simplefilter("error", DeprecationWarning)
            parsed = rrulestr(text, dtstart=dtstart_local)
    except DeprecationWarning:
        raise ValueError("Give COUNT or UNTIL, not both (RFC 5545).") from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(
            f"Not a valid RRULE ({exc}); e.g. FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10."
        ) from None
    if not isinstance(parsed, rrule):
        raise ValueError("Give one RRULE only.")
    return parsed


def _local_until(value: str, tz: ZoneInfo) -> str:
    at = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return at.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def occurrences(
    rule_text: str, tz: ZoneInfo, starts_at: datetime, after: datetime, count: int
) -> list[Occurrence]:
    """The first `count` runs after `after` (UTC), each a local time made UTC."""
    start_local = as_utc(starts_at).astimezone(tz).replace(tzinfo=None)
    parsed = parse_rule(rule_text, start_local, tz)
    # Search from a little before `after` in local time: offsets move by up to two hours.
    begin = max(start_local, as_utc(after).astimezone(tz).replace(tzinfo=None) - timedelta(hours=3))
    found: list[Occurrence] = []
    for local in parsed.xafter(begin, inc=True):
        at = local.replace(tzinfo=tz).astimezone(UTC)  # fold=0: RFC 5545's reading
        if at > as_utc(after):
            found.append(Occurrence(local, at, tz))
            if len(found) >= count:
                break
    return found
