"""Agencies, teams, responders and their contact points: checked, saved, audited.

The roster pages and the CSV import (services/roster_csv.py) share these
checks, so an address the form refuses is refused in a file too. An address is
checked for what its channel needs before anyone is alerted, not discovered
when a send fails in the middle of an incident.

Deleting keeps history: a responder who was ever alerted or answered cannot be
deleted (the incident boards and the audit log name them); take them off duty
instead. A team that still has responders cannot be deleted either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from coordinator.errors import ValidationError
from coordinator.models import (
    Agency,
    CapRoutingRule,
    ContactPoint,
    DrillSchedule,
    Notification,
    Responder,
    Response,
    Team,
)
from coordinator.services import audit

CONTACT_CHANNELS = ("sms", "voice", "email", "push")
PHONE_CHANNELS = ("sms", "voice")
# The same schemes as notifier/channels/push.py PUSH_SCHEMES (the coordinator does not
# import the notifier; tests/test_rosters.py keeps the two equal).
PUSH_SCHEMES = frozenset({"ntfy", "ntfys", "gotify", "gotifys", "pover", "fcm", "wpush", "pbul"})
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PHONE_NOISE = re.compile(r"[\s().\-]")
EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\".]+(\.[^@\s,;<>\".]+)+$")
SLUG = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
RESERVED_SLUGS = frozenset({"new"})  # /rosters/new is the new-agency page
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,4})?$")
SKILL_NOISE = re.compile(r"[^a-z0-9]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL refuses NUL; none belongs in a name
MAX_NAME = 120
MAX_ADDRESS = 320
MAX_POINTS = 8
MAX_SKILLS = 20
MAX_SKILL = 40


# --- single values: each returns the clean value or raises ValueError(message) ---


def clean_address(channel: str, raw: str) -> str:
    """A contact point's address as stored; phone numbers lose spaces and dashes."""
    address = raw.strip()
    if channel not in CONTACT_CHANNELS:
        raise ValueError(f"Channel must be one of {', '.join(CONTACT_CHANNELS)}, not {channel!r}.")
    if not address:
        raise ValueError(f"The {channel} address is empty.")
    if CONTROL.search(address):
        raise ValueError(f"The {channel} address contains control characters.")
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"The {channel} address is longer than {MAX_ADDRESS} characters.")
    if channel in PHONE_CHANNELS:
        if "(0)" in address:  # "+44 (0)7700 ...": the trunk 0 is not dialled from abroad
            raise ValueError(f"{address!r}: leave out the (0) after the country code.")
        number = PHONE_NOISE.sub("", address)
        if not E164.match(number):
            raise ValueError(
                f"{address!r} is not a phone number in E.164 form "
                "(+, country code and number, e.g. +447700900123)."
            )
        return number
    if channel == "email":
        if not EMAIL.match(address):
            raise ValueError(f"{address!r} is not an email address.")
        return address
    scheme = urlsplit(address).scheme.lower() if "://" in address else ""
    if scheme not in PUSH_SCHEMES or not address.split("://", 1)[1].strip("/"):
        raise ValueError(
            f"{address!r} is not a push URL; use one of "
            f"{', '.join(s + '://…' for s in sorted(PUSH_SCHEMES))}."
        )
    return address


def clean_skills(raw: str | Iterable[str], separator: str = ",") -> list[str]:
    """Words normalised to lower_snake ("Hazmat Tech" -> "hazmat_tech"), sorted, once each."""
    parts = raw.split(separator) if isinstance(raw, str) else list(raw)
    skills: set[str] = set()
    for part in parts:
        if not part.strip():
            continue
        skill = SKILL_NOISE.sub("_", part.strip().lower()).strip("_")
        if not skill:
            raise ValueError(f"Skill {part.strip()!r} has no letters or digits.")
        if len(skill) > MAX_SKILL:
            raise ValueError(f"Skill {skill!r} is longer than {MAX_SKILL} characters.")
        skills.add(skill)
    if len(skills) > MAX_SKILLS:
        raise ValueError(f"At most {MAX_SKILLS} skills, not {len(skills)}.")
    return sorted(skills)


def clean_position(lat: str, lon: str) -> tuple[float | None, float | None]:
    """Both empty (position unknown) or both numbers within range."""
    lat, lon = lat.strip(), lon.strip()
    if not lat and not lon:
        return None, None
    if not lat or not lon:
        raise ValueError("Give both latitude and longitude, or neither.")
    try:
        la, lo = float(lat), float(lon)
    except ValueError:
        raise ValueError(f"Latitude and longitude must be numbers ({lat!r}, {lon!r}).") from None
    if not (math.isfinite(la) and -90 <= la <= 90):
        raise ValueError(f"Latitude must be between -90 and 90, not {lat}.")
    if not (math.isfinite(lo) and -180 <= lo <= 180):
        raise ValueError(f"Longitude must be between -180 and 180, not {lon}.")
    return la, lo


def clean_language(raw: str) -> str:
    language = raw.strip() or "en"
    if not LANGUAGE.match(language):
        raise ValueError(f"Language must be a code such as en, cy or pt-BR, not {raw.strip()!r}.")
    return language


def clean_name(raw: str, what: str = "name") -> str:
    name = " ".join(raw.split())
    if CONTROL.search(name):
        raise ValueError(f"The {what} contains control characters.")
    if not name:
        raise ValueError(f"The {what} is empty.")
    if len(name) > MAX_NAME:
        raise ValueError(f"The {what} is longer than {MAX_NAME} characters.")
    return name


def clean_points(points: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Contact points in order; the same channel and address twice is an error."""
    if len(points) > MAX_POINTS:
        raise ValueError(f"At most {MAX_POINTS} contact points, not {len(points)}.")
    cleaned: list[tuple[str, str]] = []
    for channel, address in points:
        point = (channel, clean_address(channel, address))
        if point in cleaned:
            raise ValueError(f"{channel} {point[1]} is listed twice.")
        cleaned.append(point)
    return cleaned


def _check(errors: dict[str, str], name: str, fn, *args):  # type: ignore[no-untyped-def]
    """fn(*args), or None with errors[name] set to its message."""
    try:
        return fn(*args)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


# --- agencies ---------------------------------------------------------------


@dataclass(frozen=True)
class AgencyForm:
    slug: str
    name: str


def save_agency(
    session: Session, form: AgencyForm, actor: str, agency: Agency | None = None
) -> Agency:
    """Create an agency, or rename one. A slug never changes: alerts' targeting and
    escalation steps (agency:<slug>) name agencies by it."""
    errors: dict[str, str] = {}
    name = _check(errors, "name", clean_name, form.name)
    slug = agency.slug if agency else form.slug.strip().lower()
    if agency is None and (not SLUG.match(slug) or slug in RESERVED_SLUGS):
        errors["slug"] = "Short name: 2-40 lowercase letters, digits or dashes, e.g. coastguard."
    elif agency is None and session.scalar(select(Agency.id).where(Agency.slug == slug)):
        errors["slug"] = f"An agency with short name {slug!r} exists."
    if name and session.scalar(
        select(Agency.id).where(func.lower(Agency.name) == name.lower(), Agency.slug != slug)
    ):
        errors["name"] = f"Another agency is named {name!r}."
    if errors:
        raise ValidationError(errors)
    if agency is None:
        agency = Agency(slug=slug, name=name)
        session.add(agency)
        session.flush()
        audit.record(session, actor, "agency.created", agency=slug, name=name)
    elif agency.name != name:
        audit.record(session, actor, "agency.renamed", agency=slug, old=agency.name, new=name)
        agency.name = name
    return agency


# --- teams ------------------------------------------------------------------


@dataclass(frozen=True)
class TeamForm:
    name: str
    backup_team_id: str = ""  # empty: no backup


def save_team(
    session: Session, agency: Agency, form: TeamForm, actor: str, team: Team | None = None
) -> Team:
    """Create or change a team; its backup must be another team of the same agency."""
    errors: dict[str, str] = {}
    name = _check(errors, "name", clean_name, form.name, "team name")
    clash = select(Team.id).where(
        Team.agency_id == agency.id, func.lower(Team.name) == (name or "").lower()
    )
    if team is not None:
        clash = clash.where(Team.id != team.id)
    if name and session.scalar(clash):
        errors["name"] = f"{agency.name} already has a team named {name!r}."
    backup = _agency_team(session, agency, form.backup_team_id, errors, "backup_team_id")
    if backup is not None and team is not None and backup.id == team.id:
        errors["backup_team_id"] = "A team cannot be its own backup."
    if errors:
        raise ValidationError(errors)
    created = team is None
    if team is None:
        team = Team(agency_id=agency.id, name=name)
        session.add(team)
    team.name = name
    team.backup_team_id = backup.id if backup else None
    session.flush()
    audit.record(
        session, actor, "team.created" if created else "team.changed",
        agency=agency.slug, team_id=team.id, name=team.name, backup_team_id=team.backup_team_id,
    )  # fmt: skip
    return team


def delete_team(session: Session, team: Team, actor: str) -> None:
    members = session.scalar(select(func.count()).where(Responder.team_id == team.id))
    if members:
        raise ValidationError(
            {"delete": f"Team {team.name!r} still has {members} responder(s); "
             "move them to another team (or no team) first."}
        )  # fmt: skip
    schedules = session.scalar(select(func.count()).where(DrillSchedule.team_id == team.id))
    if schedules:
        raise ValidationError(
            {"delete": f"Team {team.name!r} has {schedules} drill schedule(s); "
             "delete them on the Drills page first."}
        )  # fmt: skip
    rules = session.scalar(select(func.count()).where(CapRoutingRule.team_id == team.id))
    if rules:
        raise ValidationError(
            {"delete": f"Team {team.name!r} is alerted by {rules} CAP routing rule(s); "
             "delete them on the CAP rules page first."}
        )  # fmt: skip
    backed = session.execute(
        update(Team).where(Team.backup_team_id == team.id).values(backup_team_id=None)
    ).rowcount
    audit.record(
        session, actor, "team.deleted", agency=team.agency.slug, team_id=team.id,
        name=team.name, backup_cleared_on=backed,
    )  # fmt: skip
    session.delete(team)


def _agency_team(
    session: Session, agency: Agency, raw: str, errors: dict[str, str], key: str
) -> Team | None:
    """The team with id raw in this agency; empty raw is no team. Another agency's
    team is refused like an unknown one."""
    raw = (raw or "").strip()
    if not raw:
        return None
    team = session.get(Team, int(raw)) if raw.isdigit() else None
    if team is None or team.agency_id != agency.id:
        errors[key] = f"Pick a team of {agency.name}."
        return None
    return team


# --- responders -------------------------------------------------------------


@dataclass(frozen=True)
class ResponderForm:
    name: str
    team_id: str = ""
    skills: str = ""  # comma-separated words
    on_duty: bool = True
    language: str = "en"
    lat: str = ""
    lon: str = ""
    points: list[tuple[str, str]] = field(default_factory=list)  # (channel, address) in order


def save_responder(
    session: Session,
    agency: Agency,
    form: ResponderForm,
    actor: str,
    responder: Responder | None = None,
) -> Responder:
    """Create or change a responder of this agency, contact points in the given order."""
    errors: dict[str, str] = {}
    name = _check(errors, "name", clean_name, form.name)
    if name and (responder is None or responder.name != name):
        same = select(Responder.id).where(Responder.agency_id == agency.id, Responder.name == name)
        if session.scalar(same):
            errors["name"] = (
                f"Another responder of {agency.name} is named {name!r}; "
                "names identify responders in CSV imports."
            )
    team = _agency_team(session, agency, form.team_id, errors, "team_id")
    skills = _check(errors, "skills", clean_skills, form.skills)
    language = _check(errors, "language", clean_language, form.language)
    position = _check(errors, "position", clean_position, form.lat, form.lon)
    points = _check(errors, "points", clean_points, form.points)
    if errors:
        raise ValidationError(errors)
    values = {
        "name": name,
        "team_id": team.id if team else None,
        "skills": skills,
        "on_duty": bool(form.on_duty),
        "language": language,
        "lat": position[0],
        "lon": position[1],
    }
    created = responder is None
    if responder is None:
        responder = Responder(agency_id=agency.id)
        session.add(responder)
        changed = sorted(values)
    else:
        changed = sorted(k for k, v in values.items() if getattr(responder, k) != v)
    for key, value in values.items():
        setattr(responder, key, value)
    old_points = [(p.channel, p.address) for p in responder.contact_points]
    if points != old_points:
        changed.append("contact_points")
        responder.contact_points = [
            ContactPoint(channel=c, address=a, position=i) for i, (c, a) in enumerate(points)
        ]
    session.flush()
    if created or changed:
        audit.record(
            session, actor, "responder.created" if created else "responder.changed",
            agency=agency.slug, responder_id=responder.id, name=responder.name, fields=changed,
        )  # fmt: skip
    return responder


def set_on_duty(session: Session, responder: Responder, on_duty: bool, actor: str) -> None:
    if responder.on_duty == on_duty:
        return
    responder.on_duty = on_duty
    audit.record(
        session, actor, "responder.on_duty" if on_duty else "responder.off_duty",
        agency=responder.agency.slug, responder_id=responder.id, name=responder.name,
    )  # fmt: skip


def has_history(session: Session, responder_id: int) -> bool:
    """Ever alerted or answered: incident boards and reports name them."""
    return bool(
        session.scalar(
            select(
                exists().where(Notification.responder_id == responder_id)
                | exists().where(Response.responder_id == responder_id)
            )
        )
    )


def delete_responder(session: Session, responder: Responder, actor: str) -> None:
    if has_history(session, responder.id):
        raise ValidationError(
            {"delete": f"{responder.name} has been alerted before; deleting would lose that "
             "incident history. Take them off duty instead."}
        )  # fmt: skip
    audit.record(
        session, actor, "responder.deleted",
        agency=responder.agency.slug, responder_id=responder.id, name=responder.name,
    )  # fmt: skip
    session.delete(responder)
