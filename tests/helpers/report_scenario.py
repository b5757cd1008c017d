"""A small incident whose report figures are worked out by hand (tests/test_reports.py).

Declared through the real services on the demo city (fire: 6 responders, ambulance:
3; SMS and email), answered through the real answer service, escalated by the real
escalation runner; then every timestamp and status is set to the values below, so
the figures are known:

    seconds after T0   what
    0                  first alert: SMS + email to F1..F6 (fire) and A1..A3 (ambulance)
    SMS                F1..F6 delivered at 2, 4, 6, 8, 10, 12; A1 delivered at 3;
                       A2 undelivered (failed at 5, "Twilio 30003 ... +15550100002");
                       A3 failed ("gave up after 5 attempts: HTTP 503")
    email              sent at 1, except F1's cancelled (answered) and F6's failed
                       ("SMTP 550 no such user f6@fire.example.org")
    30, 45, 60, 90     F1 acknowledged (SMS), A1 unavailable (SMS), F2 en route (answer
                       link of the email, ETA 10 min), F3 acknowledged (SMS)
    120                escalation step 2 of fire and of ambulance: voice to the silent
                       F4, F5, F6, A2, A3 (F4 delivered at 125, F5 failed "no-answer",
                       F6 and A2 sent at 122, A3 queued)
    150                F4 acknowledged (voice); the quorum (any: 4) met
    200                F3 en route (a second answer: not a time to answer)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from coordinator.models import (
    Agency,
    Alert,
    Incident,
    Notification,
    Responder,
    Response,
    utcnow,
)
from coordinator.services import incidents, responses
from coordinator.services.alerts import IncidentForm, declare_incident
from coordinator.services.escalation import EscalationRunner

# 10:00 UTC on the 2nd of last month: inside the public page's last twelve months, always
_THIS_MONTH = datetime.now(UTC).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
T0 = (_THIS_MONTH - timedelta(days=1)).replace(day=2)
SMS_ERROR = "Twilio 30003: unreachable destination handset +15550100002"
EMAIL_ERROR = "SMTP 550 no such user f6@fire.example.org"


@dataclass
class Scenario:
    incident_id: int
    alert_id: int
    fire: list[Responder]  # F1..F6
    ambulance: list[Responder]  # A1..A3

    def names(self) -> list[str]:
        return [r.name for r in self.fire + self.ambulance]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def known_incident(tocsin, *, mode: str = "live", title: str = "Warehouse fire") -> Scenario:  # type: ignore[no-untyped-def]
    db = tocsin.db
    with db.write() as s:
        form = IncidentForm(
            title, "fire", "major", "51.45", "-2.58", "Warehouse fire, Avonmouth.",
            ["fire", "ambulance"], mode=mode, channels=["sms", "email"], quorum="any: 4",
        )  # fmt: skip
        incident = declare_incident(s, form, None, tocsin.links, actor="user:commander")
        incident_id, alert_id = incident.id, incident.alerts[0].id
    people = _people(db, alert_id)
    f, a = people["fire"], people["ambulance"]
    notes = _notifications(db, alert_id)

    def answer(responder: Responder, channel: str, via: str, what: str, **extra) -> None:  # type: ignore[no-untyped-def]
        n = notes[(responder.id, channel)]
        responses.record(db, responses.Answer(n.id, what, via, **extra))

    answer(f[0], "sms", "sms", "acknowledged")
    answer(a[0], "sms", "sms", "unavailable")
    answer(f[1], "email", "link", "en_route", eta_minutes=10)
    answer(f[2], "sms", "sms", "acknowledged")
    EscalationRunner(tocsin).run_due(utcnow() + timedelta(seconds=121))
    notes = _notifications(db, alert_id)
    answer(f[3], "voice", "voice", "acknowledged")
    answer(f[2], "sms", "sms", "en_route")
    _set_times(db, incident_id, alert_id, notes, f, a)
    db.remove()
    return Scenario(incident_id, alert_id, f, a)


def _people(db, alert_id: int) -> dict[str, list[Responder]]:  # type: ignore[no-untyped-def]
    rows = db.session.execute(
        select(Responder, Agency.slug)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Responder.id.in_(select(Notification.responder_id).where(
            Notification.alert_id == alert_id)))
        .order_by(Responder.id)
    ).all()  # fmt: skip
    found: dict[str, list[Responder]] = {"fire": [], "ambulance": []}
    for responder, slug in rows:
        found[slug].append(responder)
    db.remove()
    assert len(found["fire"]) == 6 and len(found["ambulance"]) == 3, found
    return found


def _notifications(db, alert_id: int) -> dict[tuple[int, str], Notification]:  # type: ignore[no-untyped-def]
    rows = db.session.scalars(select(Notification).where(Notification.alert_id == alert_id))
    found = {(n.responder_id, n.channel): n for n in rows}
    db.remove()
    return found


def _set_times(db, incident_id, alert_id, notes, f, a) -> None:  # type: ignore[no-untyped-def]
    with db.write() as s:

        def state(responder, channel, status, *, created=0.0, sent=None, delivered=None,
                  failed=None, error=None):  # type: ignore[no-untyped-def]  # fmt: skip
            s.execute(
                update(Notification).where(Notification.id == notes[(responder.id, channel)].id)
                .values(
                    status=status, created_at=at(created), error=error,
                    sent_at=None if sent is None else at(sent),
                    delivered_at=None if delivered is None else at(delivered),
                    failed_at=None if failed is None else at(failed),
                )
            )  # fmt: skip

        s.execute(update(Incident).where(Incident.id == incident_id).values(created_at=T0))
        s.execute(
            update(Alert).where(Alert.id == alert_id).values(created_at=T0, quorum_met_at=at(150))
        )
        for i, r in enumerate(f):
            state(r, "sms", "delivered", sent=1, delivered=2 * (i + 1))
        state(a[0], "sms", "delivered", sent=1, delivered=3)
        state(a[1], "sms", "undelivered", sent=1, failed=5, error=SMS_ERROR)
        state(a[2], "sms", "failed", failed=4, error="gave up after 5 attempts: HTTP 503")
        for r in f[1:5] + a:
            state(r, "email", "sent", sent=1)
        state(f[0], "email", "cancelled")
        state(f[5], "email", "failed", failed=2, error=EMAIL_ERROR)
        state(f[3], "voice", "delivered", created=120, sent=122, delivered=125)
        state(f[4], "voice", "failed", created=120, failed=150, error="no-answer")
        state(f[5], "voice", "sent", created=120, sent=122)
        state(a[1], "voice", "sent", created=120, sent=122)
        state(a[2], "voice", "queued", created=120)
        received = {
            (f[0].id, "acknowledged"): 30, (a[0].id, "unavailable"): 45,
            (f[1].id, "en_route"): 60, (f[2].id, "acknowledged"): 90,
            (f[3].id, "acknowledged"): 150, (f[2].id, "en_route"): 200,
        }  # fmt: skip
        for (rid, answer), seconds in received.items():
            s.execute(
                update(Response)
                .where(Response.responder_id == rid, Response.answer == answer,
                       Response.alert_id == alert_id)
                .values(received_at=at(seconds))
            )  # fmt: skip


def close(tocsin, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    with tocsin.db.write() as s:
        incidents.change_status(s, s.get(Incident, incident_id), "closed", None, actor="test")
    tocsin.db.remove()
