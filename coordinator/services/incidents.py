"""An incident's life after it is declared: follow-ups, stand down, close.

open -> stood_down -> closed, and stood_down -> open again if the call was
premature. A follow-up (an update, or the stand-down message) goes to the same
people the incident's alerts reached, on the channels that reached them, so a
responder is told to stand down exactly where they were called out. Escalation
steps never run for an incident that is not open (services/escalation.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import FAILED, Alert, Incident, Notification, Responder, User, utcnow
from coordinator.services import audit, quorum
from coordinator.services.alerts import MAX_MESSAGE
from coordinator.services.outbox import notify_recipients
from coordinator.services.targeting import Recipient, Targeting

# What may follow what; anything else is refused with the reason.
TRANSITIONS = {
    ("open", "stood_down"),
    ("stood_down", "open"),
    ("stood_down", "closed"),
    ("open", "closed"),
}
STATUS_WORDS = {"open": "open", "stood_down": "stood down", "closed": "closed"}


def follow_up(
    session: Session,
    incident: Incident,
    message: str,
    kind: str,
    user: User | None,
    links: LinkSigner,
    *,
    actor: str | None = None,
) -> Alert:
    """Send `message` to everyone the incident's alerts reached; returns the new alert."""
    if kind not in ("update", "stand_down"):
        raise ValidationError({"kind": "A follow-up is an update or a stand-down."})
    if incident.status == "closed":
        raise ValidationError({"incident": "The incident is closed: nothing more is sent."})
    text = message.strip()
    if not text:
        raise ValidationError({"message": "The message is empty."})
    if len(text) > MAX_MESSAGE:
        raise ValidationError({"message": f"The message is longer than {MAX_MESSAGE} characters."})
    recipients = reached(session, incident)
    if not recipients:
        raise ValidationError({"incident": "Nobody was alerted for this incident yet."})
    first = incident.alerts[0]
    channels = sorted({channel for r in recipients for channel, _ in r.points})
    alert = Alert(
        incident=incident,
        message=text,
        channels=channels,
        kind=kind,
        targeting=first.targeting or Targeting(agencies=[]).to_json(),
        created_by_id=user.id if user else None,
        agencies=list(first.agencies),
    )
    session.add(alert)
    session.flush()
    count = notify_recipients(session, incident, alert, recipients, channels, links)
    audit.record(
        session,
        actor or (f"user:{user.username}" if user else "system"),
        f"incident.{kind}",
        incident.id,
        alert_id=alert.id,
        notifications=count,
    )
    return alert


def reached(session: Session, incident: Incident) -> list[Recipient]:
    """Each responder alerted for the incident, with the contact points that did not
    fail (all they were sent to, when every one failed)."""
    rows = session.execute(
        select(Notification.responder_id, Notification.channel, Notification.address,
               Notification.status, Responder.name)
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .where(Alert.incident_id == incident.id, Alert.kind == "alert")
        .order_by(Notification.responder_id, Notification.id)
    )  # fmt: skip
    good: dict[int, list[tuple[str, str]]] = {}
    tried: dict[int, list[tuple[str, str]]] = {}
    names: dict[int, str] = {}
    for responder_id, channel, address, status, name in rows:
        names[responder_id] = name
        point = (channel, address)
        if point not in tried.setdefault(responder_id, []):
            tried[responder_id].append(point)
        if status not in (*FAILED, "cancelled") and point not in good.setdefault(responder_id, []):
            good[responder_id].append(point)
    return [
        Recipient(rid, names[rid], "", None, good.get(rid) or tried[rid], None) for rid in tried
    ]


def change_status(
    session: Session,
    incident: Incident,
    status: str,
    user: User | None,
    *,
    actor: str | None = None,
) -> None:
    if (incident.status, status) not in TRANSITIONS:
        raise ValidationError(
            {"status": f"An incident that is {STATUS_WORDS.get(incident.status, incident.status)} "
                       f"cannot become {STATUS_WORDS.get(status, status)}."}
        )  # fmt: skip
    before = incident.status
    incident.status = status
    if status != "open":  # no escalation step runs for an incident stood down or closed
        for alert in incident.alerts:
            quorum.stop_escalations(session, alert, f"incident {STATUS_WORDS[status]}")
    now = utcnow()
    if status == "stood_down":
        incident.stood_down_at = now
    elif status == "closed":
        incident.closed_at = now
    audit.record(
        session,
        actor or (f"user:{user.username}" if user else "system"),
        "incident.status",
        incident.id,
        before=before,
        after=status,
    )


def stand_down(
    session: Session,
    incident: Incident,
    message: str,
    user: User | None,
    links: LinkSigner,
    *,
    actor: str | None = None,
) -> Alert | None:
    """Stand the incident down and tell everyone who was alerted (when a message is given)."""
    change_status(session, incident, "stood_down", user, actor=actor)
    if not message.strip():
        return None
    return follow_up(session, incident, message, "stand_down", user, links, actor=actor)
