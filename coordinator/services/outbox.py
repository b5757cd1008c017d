"""Notifications and their outbox rows: who gets one on which channel, what it says.

A notify message carries everything a stateless worker needs (broker/messages.py);
each channel renders subject, body and details its own way. A drill's messages
carry `exercise`, so every channel puts the EXERCISE words first, and their outbox
rows are marked `drill`, so the relay hands live alerts to the broker first.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from broker.messages import NotifyMessage
from coordinator.links import LinkSigner
from coordinator.models import Alert, Incident, Notification, Outbox
from coordinator.services.targeting import Recipient, channels_for, simulated_ids


def notify_message(
    incident: Incident,
    alert: Alert,
    notification_id: int,
    responder_id: int,
    channel: str,
    address: str,
    links: LinkSigner,
    *,
    simulated: bool = False,
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
        subject=FOLLOW_UP_PREFIX.get(alert.kind, "") + headline(incident),
        body=alert.message,
        details=details(incident),
        ack_url=links.url_for(notification_id),
        status_url=f"{status_url}?n={notification_id}" if status_url else "",
        voice_url=f"{hooks}/voice?n={notification_id}" if channel == "voice" else "",
        exercise=incident.mode == "drill",
        simulated=simulated,
    )


# A follow-up says what it is before anything else: a responder must not take
# a stand-down for a new call-out.
FOLLOW_UP_PREFIX = {"update": "UPDATE - ", "stand_down": "STAND DOWN - "}


def headline(incident: Incident) -> str:
    """A drill's channels put EXERCISE_MARKER before it (NotifyMessage.exercise)."""
    return f"{incident.severity.upper()} {incident.kind.replace('_', ' ')}: {incident.title}"


def details(incident: Incident) -> str:
    lines = [
        f"Incident: {incident.title}",
        f"Location: {incident.lat:.5f}, {incident.lon:.5f}",
        f"Declared: {incident.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if incident.mode == "drill":
        lines.append("This is an exercise (a drill), not a real incident.")
    return "\n".join(lines)


def outbox_row(msg: NotifyMessage) -> dict[str, object]:
    return {
        "notification_id": msg.notification_id,
        "exchange": "notify",
        "routing_key": msg.channel,
        "payload": msg.to_json().decode(),
        "drill": msg.exercise,
    }


def enqueue(session: Session, n: Notification, links: LinkSigner) -> None:
    """Put one flushed notification in the outbox, in the caller's transaction."""
    alert = n.alert
    msg = notify_message(
        alert.incident, alert, n.id, n.responder_id, n.channel, n.address, links,
        simulated=n.responder.simulated,
    )  # fmt: skip
    session.add(Outbox(**outbox_row(msg)))
    n.status = "queued"


def notify_recipients(
    session: Session,
    incident: Incident,
    alert: Alert,
    recipients: Sequence[Recipient],
    channels: Sequence[str],
    links: LinkSigner,
    *,
    step: int | None = None,
) -> int:
    """Notifications and outbox rows for these recipients on these channels (each
    recipient's first contact point when none is on them); returns how many.
    A live incident never reaches a simulated responder, whoever picked them: this
    is the last guard before anything is written."""
    simulated = simulated_ids(session, [r.responder_id for r in recipients])
    if incident.mode != "drill":
        recipients = [r for r in recipients if r.responder_id not in simulated]
    rows = [
        {"alert_id": alert.id, "responder_id": r.responder_id, "channel": channel,
         "address": address, "status": "queued", "step": step}
        for r in recipients
        for channel, address in channels_for(r.points, channels)
    ]  # fmt: skip
    if not rows:
        return 0
    ids = session.scalars(
        insert(Notification).returning(Notification.id, sort_by_parameter_order=True), rows
    ).all()
    session.execute(
        insert(Outbox),
        [
            outbox_row(notify_message(incident, alert, nid, row["responder_id"],
                                       row["channel"], row["address"], links,
                                       simulated=row["responder_id"] in simulated))
            for nid, row in zip(ids, rows, strict=True)
        ],
    )  # fmt: skip
    return len(rows)
