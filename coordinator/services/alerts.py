"""Declaring an incident and alerting responders (what each notification says:
services/outbox.py; falling back after a failure: services/fallback.py).

One transaction writes the incident, the alert, the notifications and one
outbox row per notification. The relay publishes the outbox afterwards, so a
broker outage never loses an alert.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from broker.messages import CHANNELS
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import (
    INCIDENT_KINDS,
    INCIDENT_MODES,
    INCIDENT_ORIGINS,
    SEVERITIES,
    Alert,
    Incident,
    User,
    utcnow,
)
from coordinator.services import audit, escalation
from coordinator.services.outbox import notify_recipients
from coordinator.services.targeting import (
    Targeting,
    select_recipients,
)

# Sent at once unless the commander picks otherwise; voice is the fallback.
DEFAULT_CHANNELS = ("sms", "push", "email")
MAX_MESSAGE = 1000
MAX_QUORUM_MINUTES = 24 * 60
# An incident's area (a CAP import's polygon may cover a county): a quarter of the earth.
MAX_AREA_RADIUS_M = 10_000_000.0
QUORUM_PART = re.compile(r"^\s*([a-z][a-z0-9_ -]{0,39}?)\s*[:=x]\s*(\d{1,4})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class IncidentForm:
    title: str
    kind: str
    severity: str
    lat: str
    lon: str
    message: str
    agency_slugs: list[str]
    mode: str = "live"
    channels: list[str] = field(default_factory=lambda: list(DEFAULT_CHANNELS))
    team_ids: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)
    on_duty_only: bool = True
    radius_m: str = ""
    quorum: str = ""  # "firefighter: 4, paramedic: 1"
    quorum_minutes: str = ""  # the next escalation step runs if the quorum is not met by then
    origin: str = "console"  # INCIDENT_ORIGINS: who declared it (not a form field)

    def targeting(self) -> Targeting:
        return Targeting.parse(
            self.agency_slugs, self.team_ids, self.skills, self.on_duty_only, self.radius_m or None
        )


def parse_quorum(raw: str) -> dict[str, int]:
    """ "firefighter: 4, paramedic: 1" -> {"firefighter": 4, "paramedic": 1}; "any: 6" counts
    everyone. Raises ValidationError for anything else."""
    quorum: dict[str, int] = {}
    for part in filter(str.strip, raw.replace(";", ",").split(",")):
        match = QUORUM_PART.match(part)
        if not match or int(match.group(2)) < 1:
            example = "e.g. firefighter: 4"
            raise ValidationError(
                {"quorum": f"Write the quorum as skill: number, {example} (not {part.strip()!r})."}
            )
        skill = match.group(1).strip().lower().replace(" ", "_")
        quorum[skill] = quorum.get(skill, 0) + int(match.group(2))
    return quorum


def declare_incident(
    session: Session,
    form: IncidentForm,
    user: User | None,
    links: LinkSigner,
    *,
    actor: str | None = None,
    auto_close_at: datetime | None = None,
    drill_schedule_id: int | None = None,
) -> Incident:
    """Validate, then create the incident and its first alert in the caller's transaction.

    `user` is the console user; a system (the REST API) passes None and names
    itself in `actor` ("api:fire:Fire CAD") for the audit log. A drill that
    closes itself (a schedule's, a team test) gives `auto_close_at`.
    """
    actor = actor or (f"user:{user.username}" if user else "system")
    lat, lon, targeting, quorum, minutes = validate_incident(form)
    targeting.check(session)
    incident = Incident(
        title=form.title.strip(),
        kind=form.kind,
        severity=form.severity,
        lat=lat,
        lon=lon,
        mode=form.mode,
        origin=form.origin,
        auto_close_at=auto_close_at,
        drill_schedule_id=drill_schedule_id,
        radius_m=targeting.radius_m,
        created_by_id=user.id if user else None,
    )
    session.add(incident)
    session.flush()
    audit.record(
        session, actor, "incident.declared", incident.id, mode=incident.mode, origin=form.origin
    )
    send_alert(
        session, incident, form.message.strip(), targeting, form.channels, user, links,
        quorum=quorum, quorum_minutes=minutes, actor=actor,
    )  # fmt: skip
    return incident


def open_incident(
    session: Session,
    *,
    title: str,
    kind: str,
    severity: str,
    lat: float,
    lon: float,
    radius_m: float | None,
    mode: str,
    origin: str,
    user: User | None,
    actor: str,
) -> Incident:
    """The incident alone, nobody alerted yet, in the caller's transaction.

    A CAP import opens one this way: a commander then chooses whom to alert from
    the board (or an agency's CAP routing rule does, through send_alert). Every
    view of an incident copes with zero alerts. Raises ValidationError naming
    each bad field.
    """
    errors: dict[str, str] = {}
    _check_incident_fields(title, kind, severity, mode, origin, str(lat), str(lon), errors)
    if radius_m is not None and not 0 < radius_m <= MAX_AREA_RADIUS_M:
        errors["radius_m"] = f"The radius must be between 1 m and {MAX_AREA_RADIUS_M:,.0f} m."
    if errors:
        raise ValidationError(errors)
    incident = Incident(
        title=title.strip(), kind=kind, severity=severity, lat=lat, lon=lon, radius_m=radius_m,
        mode=mode, origin=origin, created_by_id=user.id if user else None,
    )  # fmt: skip
    session.add(incident)
    session.flush()
    audit.record(session, actor, "incident.opened", incident.id, mode=mode, origin=origin)
    return incident


def send_alert(
    session: Session,
    incident: Incident,
    message: str,
    targeting: Targeting,
    channels: Sequence[str],
    user: User | None,
    links: LinkSigner,
    *,
    kind: str = "alert",
    quorum: dict[str, int] | None = None,
    quorum_minutes: int | None = None,
    actor: str | None = None,
) -> Alert:
    """Write the alert, its notifications and their outbox rows.

    Thousands of recipients are normal, so rows go in as bulk inserts (one
    statement per table), not one ORM object at a time.
    """
    agencies = targeting.check(session)
    alert = Alert(
        incident=incident,
        message=message,
        channels=list(channels),
        kind=kind,
        targeting=targeting.to_json(),
        quorum=dict(quorum or {}),
        quorum_deadline_at=(
            utcnow() + timedelta(minutes=quorum_minutes) if quorum and quorum_minutes else None
        ),
        created_by_id=user.id if user else None,
        agencies=agencies,
    )
    session.add(alert)
    session.flush()
    selection = select_recipients(
        session, targeting, incident.lat, incident.lon, drill=incident.mode == "drill"
    )
    count = notify_recipients(session, incident, alert, selection.recipients, channels, links)
    audit.record(
        session,
        actor or (f"user:{user.username}" if user else "system"),
        "alert.sent",
        incident.id,
        alert_id=alert.id,
        kind=kind,
        targeting=targeting.to_json(),
        channels=list(channels),
        quorum=alert.quorum,
        notifications=count,
    )
    if kind == "alert":
        escalation.start(session, alert)  # the alerted agencies' policies, durable from here
    return alert


def validate_incident(
    form: IncidentForm,
) -> tuple[float, float, Targeting, dict[str, int], int | None]:
    """Every field of the form checked at once; raises ValidationError naming each bad one."""
    errors: dict[str, str] = {}
    targeting: Targeting | None = None
    try:
        targeting = form.targeting()
    except ValidationError as exc:
        errors.update(exc.errors)
    quorum: dict[str, int] = {}
    try:
        quorum = parse_quorum(form.quorum)
    except ValidationError as exc:
        errors.update(exc.errors)
    minutes: int | None = None
    if form.quorum_minutes.strip():
        if not form.quorum_minutes.strip().isdigit() or not (
            1 <= int(form.quorum_minutes) <= MAX_QUORUM_MINUTES
        ):
            errors["quorum_minutes"] = f"Give the quorum 1 to {MAX_QUORUM_MINUTES} minutes."
        else:
            minutes = int(form.quorum_minutes)
    lat, lon = _check_incident_fields(
        form.title, form.kind, form.severity, form.mode, form.origin, form.lat, form.lon, errors
    )
    if not form.message.strip():
        errors["message"] = "The message is empty: write what responders must know."
    elif len(form.message) > MAX_MESSAGE:
        errors["message"] = f"The message is longer than {MAX_MESSAGE} characters."
    if not form.channels:
        errors["channels"] = "Pick at least one channel."
    elif unknown := sorted(set(form.channels) - set(CHANNELS)):
        errors["channels"] = f"Unknown channel: {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    assert targeting is not None
    return lat, lon, targeting, quorum, minutes


def _check_incident_fields(
    title: str,
    kind: str,
    severity: str,
    mode: str,
    origin: str,
    raw_lat: str,
    raw_lon: str,
    errors: dict[str, str],
) -> tuple[float, float]:
    """The incident's own fields (not whom it alerts): adds what is wrong to `errors`."""
    if not title.strip():
        errors["title"] = "Give the incident a title."
    elif len(title) > 200:
        errors["title"] = "The title is longer than 200 characters."
    if kind not in INCIDENT_KINDS:
        errors["kind"] = f"Kind must be one of {', '.join(INCIDENT_KINDS)}."
    if severity not in SEVERITIES:
        errors["severity"] = f"Severity must be one of {', '.join(SEVERITIES)}."
    if mode not in INCIDENT_MODES:
        errors["mode"] = "Mode must be live or drill."
    if origin not in INCIDENT_ORIGINS:
        errors["origin"] = f"Origin must be one of {', '.join(INCIDENT_ORIGINS)}."
    lat = _coordinate(raw_lat, -90, 90, "lat", errors)
    lon = _coordinate(raw_lon, -180, 180, "lon", errors)
    if lat == 0.0 and lon == 0.0 and not errors.keys() & {"lat", "lon"}:
        errors["lat"] = "0, 0 is not a place anyone responds to: give the incident's location."
    return lat, lon


def _coordinate(raw: str, low: float, high: float, name: str, errors: dict[str, str]) -> float:
    label = "Latitude" if name == "lat" else "Longitude"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        errors[name] = f"{label} must be a number."
        return 0.0
    if not low <= value <= high:
        errors[name] = f"{label} must be within {low}..{high}."
    return value
