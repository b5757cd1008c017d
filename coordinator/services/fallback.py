"""Falling back after a failed notification: the responder's next contact point, at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.links import LinkSigner
from coordinator.models import ContactPoint, Notification, Response
from coordinator.services import audit
from coordinator.services.outbox import enqueue


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
