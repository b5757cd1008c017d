"""Declaring an incident, alerting responders, and falling back after failures.

One transaction writes the incident, the alert, the notifications and one
outbox row per notification. The relay publishes the outbox afterwards, so a
broker outage never loses an alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from broker.messages import CHANNELS, NotifyMessage
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import (
    INCIDENT_KINDS,
    SEVERITIES,
    Agency,
    Alert,
    ContactPoint,
    Incident,
    Notification,
    Outbox,
    Responder,
    Response,
    User,
)
from coordinator.services import audit

# Sent at once unless the commander picks otherwise; voice is the fallback.
DEFAULT_CHANNELS = ("sms", "push", "email")
MAX_MESSAGE = 1000


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


def declare_incident(
    session: Session, form: IncidentForm, user: User, links: LinkSigner
) -> Incident:
    """Validate, then create the incident and its first alert in the caller's transaction."""
    lat, lon = _validate(form)
    agencies = _agencies(session, form.agency_slugs)
    incident = Incident(
        title=form.title.strip(),
        kind=form.kind,
        severity=form.severity,
        lat=lat,
        lon=lon,
        mode=form.mode,
        created_by_id=user.id,
    )
    session.add(incident)
    session.flush()
    audit.record(session, f"user:{user.username}", "incident.declared", incident.id)
    send_alert(session, incident, form.message.strip(), agencies, form.channels, user, links)
    return incident


def send_alert(
    session: Session,
    incident: Incident,
    message: str,
    agencies: list[Agency],
    channels: Sequence[str],
    user: User,
    links: LinkSigner,
) -> Alert:
    """Write the alert, its notifications and their outbox rows.

    Thousands of recipients are normal, so rows go in as bulk inserts (one
    statement per table), not one ORM object at a time.
    """
    alert = Alert(
        incident=incident,
        message=message,
        channels=list(channels),
        created_by_id=user.id,
        agencies=agencies,
    )
    session.add(alert)
    session.flush()
    rows = [
        {"alert_id": alert.id, "responder_id": responder_id, "channel": channel,
         "address": address, "status": "queued"}
        for responder_id, points in _recipients(session, agencies)
        for channel, address in _points(points, channels)
    ]  # fmt: skip
    if rows:
        ids = session.scalars(
            insert(Notification).returning(Notification.id, sort_by_parameter_order=True), rows
        ).all()
        session.execute(
            insert(Outbox),
            [
                _outbox_row(notify_message(incident, alert, nid, row["responder_id"],
                                           row["channel"], row["address"], links))
                for nid, row in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip
    audit.record(
        session,
        f"user:{user.username}",
        "alert.sent",
        incident.id,
        alert_id=alert.id,
        agencies=[a.slug for a in agencies],
        channels=list(channels),
        notifications=len(rows),
    )
    return alert


def _recipients(
    session: Session, agencies: list[Agency]
) -> list[tuple[int, list[tuple[str, str]]]]:
    """On-duty responders of these agencies with their contact points in order."""
    result = session.execute(
        select(ContactPoint.responder_id, ContactPoint.channel, ContactPoint.address)
        .join(Responder, ContactPoint.responder_id == Responder.id)
        .where(Responder.agency_id.in_([a.id for a in agencies]), Responder.on_duty.is_(True))
        .order_by(ContactPoint.responder_id, ContactPoint.position, ContactPoint.id)
    )
    grouped: dict[int, list[tuple[str, str]]] = {}
    for responder_id, channel, address in result:
        grouped.setdefault(responder_id, []).append((channel, address))
    return list(grouped.items())


def _points(points: list[tuple[str, str]], channels: Sequence[str]) -> list[tuple[str, str]]:
    """The contact points on the chosen channels; nobody targeted is skipped:
    without any of them, the responder's first contact point."""
    return [p for p in points if p[0] in channels] or points[:1]


def _outbox_row(msg: NotifyMessage) -> dict[str, object]:
    return {
        "notification_id": msg.notification_id,
        "exchange": "notify",
        "routing_key": msg.channel,
        "payload": msg.to_json().decode(),
    }


def enqueue(session: Session, n: Notification, links: LinkSigner) -> None:
    """Put one flushed notification in the outbox, in the caller's transaction."""
    alert = n.alert
    msg = notify_message(alert.incident, alert, n.id, n.responder_id, n.channel, n.address, links)
    session.add(Outbox(**_outbox_row(msg)))
    n.status = "queued"


def fall_back(session: Session, failed: Notification, links: LinkSigner) -> Notification | None:
    """After a failed notification, notify the responder's next contact point at once.

    Nothing happens when the responder already answered this alert or every
    contact point was already tried.
    """
    answered = session.scalar(
        select(Response.id).where(
            Response.alert_id == failed.alert_id, Response.responder_id == failed.responder_id
        )
    )
    if answered is not None:
        return None
    tried = {
        (channel, address)
        for channel, address in session.execute(
            select(Notification.channel, Notification.address).where(
                Notification.alert_id == failed.alert_id,
                Notification.responder_id == failed.responder_id,
            )
        )
    }
    points = session.scalars(
        select(ContactPoint)
        .where(ContactPoint.responder_id == failed.responder_id)
        .order_by(ContactPoint.position, ContactPoint.id)
    ).all()
    untried = [cp for cp in points if (cp.channel, cp.address) not in tried]
    if not untried:
        return None
    nxt = Notification(
        alert=failed.alert,
        responder_id=failed.responder_id,
        channel=untried[0].channel,
        address=untried[0].address,
        previous_id=failed.id,
    )
    session.add(nxt)
    session.flush()
    enqueue(session, nxt, links)
    audit.record(
        session,
        "system:fallback",
        "notification.fallback",
        failed.alert.incident_id,
        failed_id=failed.id,
        failed_channel=failed.channel,
        next_id=nxt.id,
        next_channel=nxt.channel,
    )
    return nxt


def notify_message(
    incident: Incident,
    alert: Alert,
    notification_id: int,
    responder_id: int,
    channel: str,
    address: str,
    links: LinkSigner,
) -> NotifyMessage:
    hooks = f"{links.public_url}/hooks/twilio"
    status_url = {"sms": f"{hooks}/status", "voice": f"{hooks}/call-status"}.get(channel)
    return NotifyMessage(
        notification_id=notification_id,
        alert_id=alert.id,
        incident_id=incident.id,
        responder_id=responder_id,
        channel=channel,
        address=address,
        subject=headline(incident),
        body=alert.message,
        details=details(incident),
        ack_url=links.url_for(notification_id),
        status_url=f"{status_url}?n={notification_id}" if status_url else "",
        voice_url=f"{hooks}/voice?n={notification_id}" if channel == "voice" else "",
    )


def headline(incident: Incident) -> str:
    text = f"{incident.severity.upper()} {incident.kind.replace('_', ' ')}: {incident.title}"
    return f"DRILL - {text}" if incident.mode == "drill" else text


def details(incident: Incident) -> str:
    lines = [
        f"Incident: {incident.title}",
        f"Location: {incident.lat:.5f}, {incident.lon:.5f}",
        f"Declared: {incident.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if incident.mode == "drill":
        lines.append("This is a DRILL.")
    return "\n".join(lines)


def _validate(form: IncidentForm) -> tuple[float, float]:
    errors: dict[str, str] = {}
    if not form.title.strip():
        errors["title"] = "Give the incident a title."
    elif len(form.title) > 200:
        errors["title"] = "The title is longer than 200 characters."
    if form.kind not in INCIDENT_KINDS:
        errors["kind"] = f"Kind must be one of {', '.join(INCIDENT_KINDS)}."
    if form.severity not in SEVERITIES:
        errors["severity"] = f"Severity must be one of {', '.join(SEVERITIES)}."
    if form.mode not in ("live", "drill"):
        errors["mode"] = "Mode must be live or drill."
    lat = _coordinate(form.lat, -90, 90, "lat", errors)
    lon = _coordinate(form.lon, -180, 180, "lon", errors)
    if not form.message.strip():
        errors["message"] = "The message is empty: write what responders must know."
    elif len(form.message) > MAX_MESSAGE:
        errors["message"] = f"The message is longer than {MAX_MESSAGE} characters."
    if not form.agency_slugs:
        errors["agencies"] = "Pick at least one agency to alert."
    if not form.channels:
        errors["channels"] = "Pick at least one channel."
    elif unknown := sorted(set(form.channels) - set(CHANNELS)):
        errors["channels"] = f"Unknown channel: {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
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


def _agencies(session: Session, slugs: list[str]) -> list[Agency]:
    agencies = session.scalars(select(Agency).where(Agency.slug.in_(slugs))).all()
    unknown = sorted(set(slugs) - {a.slug for a in agencies})
    if unknown:
        raise ValidationError({"agencies": f"Unknown agency: {', '.join(unknown)}."})
    return list(agencies)
