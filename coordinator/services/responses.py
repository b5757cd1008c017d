"""Answers from responders, on any channel, recorded once.

The same SMS reply or link submitted twice records one response: the unique
(alert, responder, answer) constraint decides, so two hubs racing agree too.

A responder's first answer to an alert stops the channels not yet handed to the
broker: in the answer's transaction their outbox rows are marked (published_at
set, last_error "cancelled: answered": the relay only takes rows without
published_at, and re-sends after a restart only "queued" notifications) and the
notifications become "cancelled". A row the relay read an instant before may
still go out; the board keeps showing it cancelled. Each answer also moves the
alert's quorum (services/quorum.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from coordinator import live
from coordinator.db import Database
from coordinator.errors import ValidationError
from coordinator.models import (
    ANSWERS,
    Alert,
    ContactPoint,
    Incident,
    Notification,
    Outbox,
    Response,
    utcnow,
)
from coordinator.services import audit, quorum

SMS_REPLY_HELP = "Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE."
# What a responder may type in an SMS reply.
SMS_CODES = {
    "1": "acknowledged",
    "ack": "acknowledged",
    "yes": "acknowledged",
    "2": "en_route",
    "en route": "en_route",
    "enroute": "en_route",
    "3": "unavailable",
    "no": "unavailable",
    "unavailable": "unavailable",
    "4": "on_scene",
    "on scene": "on_scene",
}


# The answer, its audit row and the quorum all need the alert (and its
# incident): one query with the notification, not one lazy load each.
WITH_ALERT = [joinedload(Notification.alert).joinedload(Alert.incident)]


@dataclass(frozen=True)
class Answer:
    notification_id: int
    answer: str
    channel: str
    eta_minutes: int | None = None
    lat: float | None = None
    lon: float | None = None


def parse_sms(body: str) -> str | None:
    return SMS_CODES.get(" ".join(body.lower().split()).strip(".! "))


def latest_sms_notification(
    session: Session, address: str, mode: str | None = None
) -> Notification | None:
    """The newest SMS sent to this number for an incident still open (of `mode`, if given)."""
    query = (
        select(Notification)
        .join(Notification.alert)
        .join(Incident)
        .where(
            Notification.channel == "sms",
            Notification.address == address,
            Incident.status == "open",
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
    )
    if mode is not None:
        query = query.where(Incident.mode == mode)
    return session.scalars(query).first()


# "L1" answers the live alert and "X1" the exercise, when both are open for one number.
MODE_HINTS = {"l": "live", "x": "drill"}
BOTH_OPEN = (
    "Tocsin: a LIVE alert and an EXERCISE are both open for you, so this reply was not "
    "recorded. Reply L1, L2, L3 for the live alert or X1, X2, X3 for the exercise."
)


@dataclass(frozen=True)
class SmsReply:
    """What an SMS reply answers: the notification and answer, or why it cannot tell."""

    notification: Notification | None
    answer: str | None
    ambiguous: bool = False


def read_sms_reply(session: Session, address: str, body: str) -> SmsReply:
    """The answer and the notification it belongs to.

    A reply is the number's newest open alert's, except when a live incident and a
    drill are both open for it: Tocsin never guesses then (an exercise answer taken
    for a live one would tell the commander someone is coming), and the responder
    says which with L or X before the code.
    """
    text = " ".join(body.lower().split()).strip(".! ")
    mode = MODE_HINTS.get(text[:1]) if text[:1] in MODE_HINTS and parse_sms(text[1:]) else None
    answer = parse_sms(text[1:] if mode else text)
    if mode is not None:
        return SmsReply(latest_sms_notification(session, address, mode), answer)
    live = latest_sms_notification(session, address, "live")
    drill = latest_sms_notification(session, address, "drill")
    if live is not None and drill is not None:
        return SmsReply(live, answer, ambiguous=True)
    return SmsReply(live or drill, answer)


def known_sms_number(session: Session, address: str) -> bool:
    return (
        session.scalar(
            select(ContactPoint.id).where(
                ContactPoint.channel == "sms", ContactPoint.address == address
            )
        )
        is not None
    )


def validate(answer: Answer) -> None:
    errors: dict[str, str] = {}
    if answer.answer not in ANSWERS:
        errors["answer"] = f"Answer must be one of {', '.join(ANSWERS)}."
    if answer.eta_minutes is not None and not 0 <= answer.eta_minutes <= 24 * 60:
        errors["eta_minutes"] = "ETA must be between 0 and 1440 minutes."
    if (answer.lat is None) != (answer.lon is None):
        errors["position"] = "Share both latitude and longitude, or neither."
    elif answer.lat is not None and not (-90 <= answer.lat <= 90 and -180 <= answer.lon <= 180):  # type: ignore[operator]
        errors["position"] = "Position is outside the world."
    if errors:
        raise ValidationError(errors)


def record(db: Database, answer: Answer) -> tuple[Response, int, bool]:
    """Record an answer and show it live.

    Returns (response, incident id, created); created is False for a repeat.
    """
    validate(answer)
    with db.write() as session:
        n = session.get(Notification, answer.notification_id, options=WITH_ALERT)
        if n is None:
            raise ValidationError({"notification": "No such notification."})
        existing = _existing(session, n, answer.answer)
        if existing is not None:
            return existing, n.alert.incident_id, False
        first = _first_answer(session, n)
        response = Response(
            alert_id=n.alert_id,
            responder_id=n.responder_id,
            notification_id=n.id,
            channel=answer.channel,
            answer=answer.answer,
            eta_minutes=answer.eta_minutes,
            lat=answer.lat,
            lon=answer.lon,
        )
        session.add(response)
        incident_id = n.alert.incident_id
        try:
            session.flush()
        except IntegrityError:
            # Another hub recorded the same answer between our read and write.
            session.rollback()
            existing = _existing(
                session, session.get(Notification, answer.notification_id), answer.answer
            )
            return existing, incident_id, False  # type: ignore[return-value]
        audit.record(
            session,
            f"responder:{n.responder_id}",
            "response.recorded",
            incident_id,
            answer=answer.answer,
            channel=answer.channel,
            notification_id=n.id,
        )
        cancelled = _cancel_pending(session, n) if first else []
        progress = quorum.after_answer(session, n.alert)
        progress_shown = quorum.payload(n.alert, progress) if progress else None
    live.response_recorded(incident_id, response)
    if cancelled:
        live.notifications_changed(incident_id, cancelled)
    if progress_shown:
        live.quorum_changed(incident_id, progress_shown)
    return response, incident_id, True


def _first_answer(session: Session, n: Notification) -> bool:
    return (
        session.scalar(
            select(Response.id)
            .where(Response.alert_id == n.alert_id, Response.responder_id == n.responder_id)
            .limit(1)
        )
        is None
    )


def _cancel_pending(session: Session, n: Notification) -> list[dict[str, object]]:
    """Withhold the responder's notifications of this alert still in the outbox;
    returns their new statuses for the board."""
    others = select(Notification.id).where(
        Notification.alert_id == n.alert_id,
        Notification.responder_id == n.responder_id,
        Notification.id != n.id,  # the one answered reached them, whatever the outbox says
    )
    now = utcnow()
    ids = session.scalars(
        update(Outbox)
        .where(Outbox.notification_id.in_(others), Outbox.published_at.is_(None))
        .values(published_at=now, last_error="cancelled: answered")
        .returning(Outbox.notification_id)
    ).all()
    if not ids:
        return []
    session.execute(
        update(Notification)
        .where(Notification.id.in_(ids))
        .values(status="cancelled", updated_at=now),
        execution_options={"synchronize_session": False},
    )
    audit.record(
        session, "system:answers", "notification.cancelled", n.alert.incident_id,
        alert_id=n.alert_id, responder_id=n.responder_id, notification_ids=sorted(ids),
        reason="answered",
    )  # fmt: skip
    cancelled = session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .execution_options(populate_existing=True)  # the bulk UPDATE bypassed loaded rows
    ).all()
    return [live.notification_payload(c) for c in cancelled]


def _existing(session: Session, n: Notification, answer: str) -> Response | None:
    return session.scalars(
        select(Response).where(
            Response.alert_id == n.alert_id,
            Response.responder_id == n.responder_id,
            Response.answer == answer,
        )
    ).first()
