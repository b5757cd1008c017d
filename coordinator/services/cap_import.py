"""Importing a CAP 1.2 document (docs/cap.md): an Alert opens an incident, an
Update or Cancel changes the incident an earlier imported message opened.

An import alerts nobody: the board says "Nobody has been alerted yet" until a
sender chooses whom to alert, unless an agency set a routing rule for the event
(services/cap_rules.py). Status Exercise opens a drill, Actual a live incident,
and an Update or Cancel never changes that. The caller parses the document
first (coordinator.cap.read_document, outside any transaction) and hands it here
inside one write transaction: any CapError raised rolls everything back, so a
refused document creates nothing. Every step is audited as the importer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from coordinator.cap import CapAlert, CapError, Document, Info, Problem, parse_stored
from coordinator.cap.mapping import kind_for, severity_for
from coordinator.cap.model import to_utc
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import Alert, CapMessage, Incident, User, as_utc
from coordinator.services import audit, cap_areas, cap_rules, incidents
from coordinator.services.alerts import open_incident

# Statuses that open or change nothing, and why.
NOT_IMPORTED = {
    "System": "a message for the alerting systems themselves",
    "Test": "a technical test, to be discarded",
    "Draft": "a draft, not yet issued",
}
MAX_NAME = 255  # CapMessage.identifier and .sender
MAX_TITLE = 200
MAX_REFERENCES = 100
MODE_STATUS = {"drill": "Exercise", "live": "Actual"}


class CapDuplicate(CapError):
    """The same message (sender + identifier) was imported before."""

    def __init__(self, doc: CapAlert, incident_id: int | None) -> None:
        self.incident_id = incident_id
        said = f"{doc.identifier!r} from {doc.sender} was imported already"
        message = f"{said} (incident {incident_id}): nothing was changed."
        super().__init__([_problem(doc, "identifier", message)])


@dataclass
class Imported:
    incident: Incident
    message: CapMessage
    action: str  # opened, updated, stood_down, recorded
    alerts: list[Alert] = field(default_factory=list)  # sent by routing rules


def import_document(
    session: Session,
    document: Document,
    *,
    actor: str,
    links: LinkSigner,
    language: str,
    user: User | None = None,
    agency_id: int | None = None,
) -> Imported:
    """Apply one parsed document in the caller's transaction; CapError if refused."""
    doc = document.alert
    _check_importable(doc)
    _check_new(session, doc)
    info = doc.info_for(language)
    if doc.msg_type == "Alert":
        incident, action = _open(session, doc, info, user, actor), "opened"
    else:
        incident = _referenced(session, doc)
        if doc.msg_type == "Update":
            action = _update(session, incident, doc, info, actor)
        else:
            action = _cancel(session, incident, user, actor)
    message = _record(session, doc, document.text, incident, info, agency_id)
    audit.record(
        session, actor, "cap.imported", incident.id, cap_message_id=message.id,
        sender=doc.sender, identifier=doc.identifier, msg_type=doc.msg_type, status=doc.status,
        language=info.language if info else None, outcome=action,
    )  # fmt: skip
    try:
        sent = cap_rules.apply(session, incident, doc, info, links, actor, message.id)
    except ValidationError as exc:  # a rule the roster no longer fits: say so, change nothing
        raise CapError.one(
            doc.line("alert"), "alert", f"a CAP routing rule failed: {exc}"
        ) from None
    return Imported(incident, message, action, sent)


def _check_importable(doc: CapAlert) -> None:
    if doc.status in NOT_IMPORTED:
        why = NOT_IMPORTED[doc.status]
        _refuse(doc, "status", f"is {doc.status} ({why}): only Actual (a live incident) and "
                "Exercise (a drill) are imported.")  # fmt: skip
    if doc.msg_type not in ("Alert", "Update", "Cancel"):
        _refuse(doc, "msgType", f"is {doc.msg_type}: only an Alert, Update or Cancel opens or "
                "changes an incident.")  # fmt: skip
    if doc.msg_type == "Alert" and not doc.infos:
        _refuse(doc, "alert", "has no <info>: an Alert needs one (event, headline, area) to "
                "open an incident.")  # fmt: skip
    for name, value in (("identifier", doc.identifier), ("sender", doc.sender)):
        if len(value) > MAX_NAME:
            _refuse(doc, name, f"is longer than {MAX_NAME} characters.")
    if len(doc.references) > MAX_REFERENCES:
        _refuse(doc, "references", f"names more than {MAX_REFERENCES} messages.")


def _check_new(session: Session, doc: CapAlert) -> None:
    earlier = session.scalar(
        select(CapMessage).where(
            CapMessage.direction == "in",
            CapMessage.sender == doc.sender,
            CapMessage.identifier == doc.identifier,
        )
    )
    if earlier is not None:
        raise CapDuplicate(doc, earlier.incident_id)


def _fields(session: Session, info: Info) -> dict[str, object]:
    """The incident's fields as the info gives them, its place included."""
    disc = cap_areas.place(session, info)
    if abs(disc.lat) < 1e-9 and abs(disc.lon) < 1e-9:
        raise CapError.one(info.areas[0].line if info.areas else info.line, "area",
                           "is centred on 0,0: that is no place anyone responds to.")  # fmt: skip
    return _described(info) | {
        "lat": disc.lat,
        "lon": disc.lon,
        # a point (a circle of radius 0) has no radius; exports then use the default
        "radius_m": disc.radius_m if disc.radius_m >= 1 else None,
    }


def _described(info: Info) -> dict[str, object]:
    """Title, kind and severity as the info gives them."""
    title = " ".join((info.headline or info.event).split())
    return {
        "title": title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…",
        "kind": kind_for(info.categories, info.event),
        "severity": severity_for(info.severity),
    }


def _open(
    session: Session, doc: CapAlert, info: Info | None, user: User | None, actor: str
) -> Incident:
    assert info is not None  # _check_importable: an Alert has an info
    mode = "drill" if doc.status == "Exercise" else "live"
    try:
        return open_incident(
            session, **_fields(session, info), mode=mode, origin="cap", user=user, actor=actor
        )  # type: ignore[arg-type]
    except ValidationError as exc:  # the mapping keeps fields valid; say so if it did not
        raise CapError.one(info.line, "info", f"gives no valid incident: {exc}") from None


def _referenced(session: Session, doc: CapAlert) -> Incident:
    """The one incident the messages in <references> belong to."""
    named = or_(*(and_(CapMessage.sender == r.sender, CapMessage.identifier == r.identifier)
                  for r in doc.references))  # fmt: skip
    ids = set(session.scalars(
        select(CapMessage.incident_id).where(CapMessage.direction == "in", named)
    ))  # fmt: skip
    ids.discard(None)
    listed = " ".join(map(str, doc.references))
    kind = doc.msg_type
    if not ids:
        _refuse(doc, "references", f"names no message Tocsin imported ({listed}): an {kind} "
                "applies to an incident an imported Alert opened.")  # fmt: skip
    if len(ids) > 1:
        several = ", ".join(map(str, sorted(ids)))
        _refuse(doc, "references", f"names messages of several incidents ({several}): an "
                f"{kind} applies to one.")  # fmt: skip
    incident = session.get(Incident, ids.pop())
    assert incident is not None
    if incident.status == "closed":
        _refuse(doc, "msgType", f"{kind} of incident {incident.id}, which is closed: nothing "
                "more changes.")  # fmt: skip
    expected = MODE_STATUS[incident.mode]
    if doc.status != expected:
        what = "a drill" if incident.mode == "drill" else "live"
        _refuse(doc, "status", f"is {doc.status}, but incident {incident.id} is {what} (opened "
                f"by {expected}): an {kind} never changes whether an incident is a drill, so it "
                f"must be {expected} too.")  # fmt: skip
    return incident


def _update(
    session: Session, incident: Incident, doc: CapAlert, info: Info | None, actor: str
) -> str:
    """The incident's fields follow the update; nothing is sent (unless a rule says so)."""
    if info is None:
        return "recorded"
    # an update without an <area> leaves the incident where it is
    wanted = _fields(session, info) if info.areas else _described(info)
    changes = {
        name: [getattr(incident, name), value]
        for name, value in wanted.items()
        if getattr(incident, name) != value
    }
    for name, (_before, after) in changes.items():
        setattr(incident, name, after)
    audit.record(session, actor, "incident.updated", incident.id, changes=changes, origin="cap")
    return "updated"


def _cancel(session: Session, incident: Incident, user: User | None, actor: str) -> str:
    """The incident is stood down (a stood-down one stays so); nothing is sent unless
    a rule says so: the board offers the stand-down message to everyone alerted."""
    if incident.status != "open":
        return "recorded"
    incidents.change_status(session, incident, "stood_down", user, actor=actor)
    return "stood_down"


def _record(
    session: Session,
    doc: CapAlert,
    text: str,
    incident: Incident,
    info: Info | None,
    agency_id: int | None,
) -> CapMessage:
    message = CapMessage(
        direction="in", incident_id=incident.id, agency_id=agency_id,
        identifier=doc.identifier, sender=doc.sender, sent_at=to_utc(doc.sent),
        status=doc.status, msg_type=doc.msg_type,
        references=" ".join(map(str, doc.references)),
        event=(info.event if info else "")[:MAX_NAME], document=text,
    )  # fmt: skip
    session.add(message)
    session.flush()
    return message


def _refuse(doc: CapAlert, element: str, message: str) -> NoReturn:
    raise CapError([_problem(doc, element, message)])


def _problem(doc: CapAlert, element: str, message: str) -> Problem:
    return Problem(doc.line(element) or doc.line("alert"), element, message)


# --- what the board shows of an imported incident ------------------------------


def imported(session: Session, incident_id: int) -> list[CapMessage]:
    """The documents received for the incident, oldest first."""
    return list(
        session.scalars(
            select(CapMessage)
            .where(CapMessage.direction == "in", CapMessage.incident_id == incident_id)
            .order_by(CapMessage.received_at, CapMessage.id)
        )
    )


def waiting(session: Session, incident: Incident) -> CapMessage | None:
    """The latest document received since the incident's last alert, whose text a
    sender may now send (the first alert, an update, a stand-down message)."""
    received = imported(session, incident.id)
    if not received:
        return None
    latest = received[-1]
    last_alert = incident.alerts[-1].created_at if incident.alerts else None
    if last_alert is not None and as_utc(latest.received_at) <= as_utc(last_alert):
        return None
    return latest


def text_of(message: CapMessage, language: str) -> str:
    """The text responders would be told of a kept document (its chosen info's)."""
    try:
        doc = parse_stored(message.document)
    except CapError:  # kept as received and valid then; never expected
        return ""
    return cap_rules.message_text(doc, doc.info_for(language))
