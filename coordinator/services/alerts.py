"""Declaring an incident and alerting responders.

One transaction writes the incident, the alert, one notification per
responder and channel, and one outbox row per notification. The relay
publishes the outbox afterwards, so a broker outage never loses an alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broker.messages import NotifyMessage
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import (
    INCIDENT_KINDS,
    SEVERITIES,
    Agency,
    Alert,
    Incident,
    Notification,
    Outbox,
    Responder,
    User,
)
from coordinator.services import audit

# Channels the notifier can send today; voice and push arrive with the next issue.
SENDING_CHANNELS = ("sms", "email")
MAX_MESSAGE = 1000
SMS_REPLY_HELP = "Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE."


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


def declare_incident(
    session: Session, form: IncidentForm, user: User, links: LinkSigner, status_url: str
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
    send_alert(session, incident, form.message.strip(), agencies, user, links, status_url)
    return incident


def send_alert(
    session: Session,
    incident: Incident,
    message: str,
    agencies: list[Agency],
    user: User,
    links: LinkSigner,
    status_url: str,
) -> Alert:
    alert = Alert(incident=incident, message=message, created_by_id=user.id, agencies=agencies)
    session.add(alert)
    responders = session.scalars(
        select(Responder)
        .where(Responder.agency_id.in_([a.id for a in agencies]), Responder.on_duty.is_(True))
        .options(selectinload(Responder.contact_points))
        .order_by(Responder.id)
    ).all()
    notifications = [
        Notification(alert=alert, responder=r, channel=cp.channel, address=cp.address)
        for r in responders
        for cp in r.contact_points
        if cp.channel in SENDING_CHANNELS
    ]
    session.add_all(notifications)
    session.flush()  # ids for the messages
    for n in notifications:
        msg = notify_message(incident, alert, n, links, status_url)
        session.add(
            Outbox(
                notification_id=n.id,
                exchange="notify",
                routing_key=n.channel,
                payload=msg.to_json().decode(),
            )
        )
        n.status = "queued"
    audit.record(
        session,
        f"user:{user.username}",
        "alert.sent",
        incident.id,
        alert_id=alert.id,
        agencies=[a.slug for a in agencies],
        notifications=len(notifications),
    )
    return alert


def notify_message(
    incident: Incident, alert: Alert, n: Notification, links: LinkSigner, status_url: str
) -> NotifyMessage:
    ack_url = links.url_for(n.id)
    headline = f"{incident.severity.upper()} {incident.kind.replace('_', ' ')}: {incident.title}"
    if incident.mode == "drill":
        headline = f"DRILL - {headline}"
    if n.channel == "sms":
        body = f"Tocsin {headline}. {alert.message} {SMS_REPLY_HELP} {ack_url}"
    else:
        body = (
            f"{alert.message}\n\nIncident: {incident.title}\nLocation: {incident.lat:.5f}, "
            f"{incident.lon:.5f}\n\nAnswer here: {ack_url}\n"
        )
    return NotifyMessage(
        notification_id=n.id,
        alert_id=alert.id,
        incident_id=incident.id,
        responder_id=n.responder_id,
        channel=n.channel,
        address=n.address,
        subject=f"[Tocsin] {headline}",
        body=body,
        ack_url=ack_url,
        status_url=f"{status_url}?n={n.id}" if n.channel == "sms" else "",
    )


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
    if errors:
        raise ValidationError(errors)
    return lat, lon  # type: ignore[return-value]


def _coordinate(raw: str, low: float, high: float, name: str, errors: dict[str, str]) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        errors[name] = f"{'Latitude' if name == 'lat' else 'Longitude'} must be a number."
        return 0.0
    if not low <= value <= high:
        errors[name] = (
            f"{'Latitude' if name == 'lat' else 'Longitude'} must be within {low}..{high}."
        )
    return value


def _agencies(session: Session, slugs: list[str]) -> list[Agency]:
    agencies = session.scalars(select(Agency).where(Agency.slug.in_(slugs))).all()
    unknown = sorted(set(slugs) - {a.slug for a in agencies})
    if unknown:
        raise ValidationError({"agencies": f"Unknown agency: {', '.join(unknown)}."})
    return list(agencies)
