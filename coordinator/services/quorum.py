"""Quorum: enough of the right people have said they are coming.

An alert may need, say, 4 firefighters and 1 paramedic. A responder counts
when their latest answer to the alert is one of AVAILABLE_ANSWERS (an
"unavailable" after an "acknowledged" takes them out again) and they have the
skill; "any" counts everyone available. One responder with two skills counts
for both.

When an answer completes the quorum, the alert's escalations stop. When the
deadline passes unmet, each of the alert's escalations runs its next step at
once, and only once: a step is brought forward while no step has run since the
deadline (AlertEscalation.last_run_at), so the rows themselves say whether it
was done and a restart neither repeats nor forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from coordinator.models import (
    AVAILABLE_ANSWERS,
    Alert,
    AlertEscalation,
    Responder,
    Response,
    as_utc,
    utcnow,
)
from coordinator.services import audit

ANY = "any"


@dataclass(frozen=True)
class SkillCount:
    skill: str
    needed: int
    have: int

    @property
    def met(self) -> bool:
        return self.have >= self.needed


@dataclass(frozen=True)
class Progress:
    alert_id: int
    counts: list[SkillCount]

    @property
    def met(self) -> bool:
        return all(c.met for c in self.counts)

    @property
    def text(self) -> str:
        """ "firefighter 3/4, paramedic 1/1" """
        return ", ".join(f"{c.skill.replace('_', ' ')} {c.have}/{c.needed}" for c in self.counts)


def progress(session: Session, alert: Alert) -> Progress:
    """Per skill of the alert's quorum: how many are needed and how many are available."""
    available = _available(session, alert.id)
    skills: dict[int, set[str]] = {}
    if available:
        rows = session.execute(
            select(Responder.id, Responder.skills).where(Responder.id.in_(available))
        )
        skills = {rid: {s.lower() for s in found or []} for rid, found in rows}
    counts = [
        SkillCount(skill, needed, len(available) if skill == ANY
                   else sum(skill in skills.get(rid, ()) for rid in available))
        for skill, needed in sorted(alert.quorum.items())
    ]  # fmt: skip
    return Progress(alert.id, counts)


def _available(session: Session, alert_id: int) -> set[int]:
    """Responders whose latest answer to the alert says they are coming."""
    latest: dict[int, str] = {}
    rows = session.execute(
        select(Response.responder_id, Response.answer)
        .where(Response.alert_id == alert_id)
        .order_by(Response.received_at, Response.id)
    )
    for responder_id, answer in rows:
        latest[responder_id] = answer
    return {rid for rid, answer in latest.items() if answer in AVAILABLE_ANSWERS}


def after_answer(session: Session, alert: Alert) -> Progress | None:
    """In the answer's transaction: the new progress (None: the alert has no quorum).

    The answer that completes the quorum marks it met (once: the UPDATE only
    matches while quorum_met_at is empty) and stops the alert's escalations.
    Two answers racing must see each other or neither counts the other: on
    SQLite the write lock serialises them; on PostgreSQL the alert's row lock
    (FOR NO KEY UPDATE: inserting notifications or responses of the alert
    still goes on) makes the later one wait and then count both.
    """
    if not alert.quorum:
        return None
    session.execute(select(Alert.id).where(Alert.id == alert.id).with_for_update(key_share=True))
    found = progress(session, alert)
    if not found.met:
        return found
    now = utcnow()
    marked = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.quorum_met_at.is_(None))
        .values(quorum_met_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if marked:
        alert.quorum_met_at = now
        audit.record(
            session, "system:quorum", "alert.quorum_met", alert.incident_id,
            alert_id=alert.id, quorum=found.text,
        )  # fmt: skip
        stop_escalations(session, alert, "quorum met")
    return found


def stop_escalations(session: Session, alert: Alert, reason: str) -> int:
    """No further step for this alert; returns how many escalations were waiting.

    An escalation a runner is running right now is waited for (its step, decided
    before, goes out), then stopped; the runner never waits for this transaction.
    """
    stopped = session.execute(
        update(AlertEscalation)
        .where(AlertEscalation.alert_id == alert.id, AlertEscalation.due_at.is_not(None))
        .values(due_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if stopped:
        audit.record(
            session, "system:escalation", "escalation.stopped", alert.incident_id,
            alert_id=alert.id, escalations=stopped, reason=reason,
        )  # fmt: skip
    return stopped


def bring_forward_missed(session: Session, now: datetime | None = None) -> list[Alert]:
    """Alerts whose quorum deadline passed unmet: their escalations' next steps are
    due now. Returns those alerts (each once: afterwards a step has run since the
    deadline, so the condition no longer holds)."""
    now = now or utcnow()
    rows = session.scalars(
        select(AlertEscalation)
        .join(Alert, AlertEscalation.alert_id == Alert.id)
        .where(
            Alert.quorum_deadline_at <= now,
            Alert.quorum_met_at.is_(None),
            AlertEscalation.due_at > now,
            or_(
                AlertEscalation.last_run_at.is_(None),
                AlertEscalation.last_run_at < Alert.quorum_deadline_at,
            ),
        )
        .order_by(AlertEscalation.id)
        .with_for_update(skip_locked=True, of=AlertEscalation)
    ).all()
    alerts: dict[int, Alert] = {}
    for esc in rows:
        esc.due_at = now
        alerts.setdefault(esc.alert_id, esc.alert)
    for alert in alerts.values():
        audit.record(
            session, "system:quorum", "alert.quorum_missed", alert.incident_id,
            alert_id=alert.id, quorum=progress(session, alert).text,
            escalations=sum(e.alert_id == alert.id for e in rows),
        )  # fmt: skip
    return list(alerts.values())


def payload(alert: Alert, found: Progress, now: datetime | None = None) -> dict[str, object]:
    """What the board shows: "Quorum: firefighter 3/4, paramedic 1/1"."""
    deadline = _aware(alert.quorum_deadline_at)
    met_at = _aware(alert.quorum_met_at)
    if met_at is not None:
        state = f"met at {met_at:%H:%M:%S} UTC"
    elif deadline is not None and deadline <= (now or utcnow()):
        state = f"not met by {deadline:%H:%M:%S} UTC: escalating"
    elif deadline is not None:
        state = f"needed by {deadline:%H:%M:%S} UTC"
    else:
        state = ""
    return {
        "alert_id": alert.id,
        "met": met_at is not None,
        "met_at": met_at.isoformat() if met_at else None,
        "deadline_at": deadline.isoformat() if deadline else None,
        "skills": [{"skill": c.skill, "needed": c.needed, "have": c.have} for c in found.counts],
        "text": f"Quorum: {found.text}" + (f" ({state})" if state else ""),
    }


def for_incident(session: Session, incident_id: int) -> list[dict[str, object]]:
    """The board's quorum lines: one per alert of the incident that has a quorum."""
    alerts = session.scalars(
        select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)
    ).all()
    return [payload(a, progress(session, a)) for a in alerts if a.quorum]


def _aware(at: datetime | None) -> datetime | None:
    return None if at is None else as_utc(at)
