"""Any alert as a CAP 1.2 message (docs/cap.md has the mapping).

- identifier "tocsin:<host of the public URL>:alert:<alert id>", sender
  TOCSIN_CAP_SENDER (default "tocsin@<host>"), sent = the alert's creation time;
- status Exercise for a drill, Actual for live; msgType Alert for the incident's
  first alert, Update for any later alert or update, Cancel for a stand-down,
  whose <references> name every earlier message of the incident: the documents
  imported for it and the exports of its earlier alerts;
- scope Restricted: our alerts are for the responders of the agencies alerted,
  not for broadcast to the public;
- one <info> in TOCSIN_CAP_LANGUAGE with the incident's category, event,
  severity and title (headline), the alert's message (description), and an area:
  a circle from the incident's location and radius (1 km when it has none).

A message is built the first time it is asked for and kept (CapMessage "out"),
so an identifier always names one document, whatever changes afterwards.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.messages import EXERCISE_MARKER
from coordinator import cap
from coordinator.cap.mapping import KIND_CATEGORIES, KIND_EVENTS, SEVERITY_TO_CAP
from coordinator.config import Settings
from coordinator.models import Alert, CapMessage, Incident, as_utc
from coordinator.services import audit

DEFAULT_RADIUS_KM = 1.0  # an incident with no radius is exported as a 1 km circle
SCOPE = "Restricted"
RESTRICTION = "For the emergency responders of the agencies alerted; not for public release."
SENDER_NAME = "Tocsin"
EXERCISE_NOTE = f"{EXERCISE_MARKER}: a drill, not a real incident."
# After the first alert: a further alert or an update supersedes what was said before.
MSG_TYPES = {"stand_down": "Cancel"}


@dataclass(frozen=True)
class Identity:
    """Who our messages say they are from, and in which language."""

    sender: str
    host: str
    language: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        parsed = urlparse(settings.public_url)
        host = parsed.hostname or "localhost"
        host = f"{host}:{parsed.port}" if parsed.port else host
        return cls(settings.cap_sender or f"tocsin@{host}", host, settings.cap_language)

    def identifier(self, alert_id: int) -> str:
        return f"tocsin:{self.host}:alert:{alert_id}"


class NoAlertYet(LookupError):
    """The incident has alerted nobody yet: there is no message to export."""


def latest_alert(incident: Incident) -> Alert:
    if not incident.alerts:
        raise NoAlertYet(
            f"Incident {incident.id} has alerted nobody yet: there is no alert to export "
            "(send the first alert from its board)."
        )
    return incident.alerts[-1]


def document_for(session: Session, alert: Alert, identity: Identity, actor: str) -> str:
    """The alert's CAP document, built and kept the first time."""
    kept = _kept(session, alert.id)
    if kept is not None:
        return kept.document
    doc = message_for(session, alert, identity)
    text = cap.build(doc).decode("utf-8")
    row = CapMessage(
        direction="out", incident_id=alert.incident_id, alert_id=alert.id,
        identifier=doc.identifier, sender=doc.sender, sent_at=as_utc(alert.created_at),
        status=doc.status, msg_type=doc.msg_type,
        references=" ".join(map(str, doc.references)), event=doc.infos[0].event, document=text,
    )  # fmt: skip
    # Another hub may export the same alert at the same moment: on PostgreSQL the loser's
    # savepoint rolls back and it serves the winner's. SQLite writers take turns under
    # the Database write lock (and pysqlite's savepoints need driver workarounds).
    sqlite = session.get_bind().dialect.name == "sqlite"
    try:
        with nullcontext() if sqlite else session.begin_nested():
            session.add(row)
            session.flush()
            audit.record(session, actor, "cap.exported", alert.incident_id, alert_id=alert.id,
                         identifier=doc.identifier, msg_type=doc.msg_type)  # fmt: skip
    except IntegrityError:
        if sqlite:
            raise
        kept = _kept(session, alert.id)
        assert kept is not None
        return kept.document
    return text


def _kept(session: Session, alert_id: int) -> CapMessage | None:
    return session.scalar(
        select(CapMessage).where(CapMessage.direction == "out", CapMessage.alert_id == alert_id)
    )


def message_for(session: Session, alert: Alert, identity: Identity) -> cap.CapAlert:
    """The alert as a CapAlert (not kept; document_for keeps it)."""
    incident = alert.incident
    earlier = [a for a in incident.alerts if a.id < alert.id]
    received = _received_before(session, incident.id, alert)
    msg_type = MSG_TYPES.get(alert.kind, "Update") if earlier else "Alert"
    imported_info = _imported_info(received[-1], identity.language) if received else None
    references = [_reference(m.sender, m.identifier, m.sent_at) for m in received]
    references += [_earlier(session, a, identity) for a in earlier]
    drill = incident.mode == "drill"
    return cap.CapAlert(
        identifier=identity.identifier(alert.id),
        sender=identity.sender,
        sent=as_utc(alert.created_at),
        status="Exercise" if drill else "Actual",
        msg_type=msg_type,
        scope=SCOPE,
        restriction=RESTRICTION,
        note=EXERCISE_NOTE if drill else "",
        references=references,
        infos=[_info(incident, alert, identity.language, imported_info)],
    )


def _info(incident: Incident, alert: Alert, language: str, imported: cap.Info | None) -> cap.Info:
    radius_km = incident.radius_m / 1000 if incident.radius_m else DEFAULT_RADIUS_KM
    where = f"Within {radius_km:g} km of {incident.lat:.5f}, {incident.lon:.5f}"
    described = [a.description for a in imported.areas if a.description] if imported else []
    standing_down = alert.kind == "stand_down"
    return cap.Info(
        language=language,
        categories=KIND_CATEGORIES[incident.kind],
        event=imported.event if imported else KIND_EVENTS[incident.kind],
        response_types=["AllClear"] if standing_down else [],
        urgency="Past" if standing_down else "Immediate",
        severity=SEVERITY_TO_CAP[incident.severity],
        certainty="Observed",
        sender_name=SENDER_NAME,
        headline=incident.title,
        description=alert.message,
        areas=[
            cap.Area(
                description="; ".join(described) or where,
                circles=[cap.Circle(incident.lat, incident.lon, radius_km)],
            )
        ],
    )


def _received_before(session: Session, incident_id: int, alert: Alert) -> list[CapMessage]:
    """Documents imported for the incident before the alert was made, oldest first."""
    rows = session.scalars(
        select(CapMessage)
        .where(CapMessage.direction == "in", CapMessage.incident_id == incident_id)
        .order_by(CapMessage.received_at, CapMessage.id)
    )
    return [m for m in rows if as_utc(m.received_at) <= as_utc(alert.created_at)]


def _imported_info(message: CapMessage, language: str) -> cap.Info | None:
    try:
        return cap.parse_stored(message.document).info_for(language)
    except cap.CapError:  # valid when it was imported; never expected
        return None


def _earlier(session: Session, alert: Alert, identity: Identity) -> cap.Reference:
    """How an earlier alert's message is named: as it was kept, else as it will be."""
    kept = _kept(session, alert.id)
    if kept is not None:
        return _reference(kept.sender, kept.identifier, kept.sent_at)
    return _reference(identity.sender, identity.identifier(alert.id), alert.created_at)


def _reference(sender: str, identifier: str, sent) -> cap.Reference:  # type: ignore[no-untyped-def]
    return cap.Reference(sender, identifier, cap.format_time(as_utc(sent)))
