"""Escalation policies: what happens to an alert's silent responders as time passes.

A policy belongs to an agency and lists timed steps: channels and a target,
"same" (the agency's alerted responders who have not answered), "backup" (the
backup team of each team with silent responders) or "agency:<slug>" (another
agency's on-duty responders, chosen with the alert's skills and radius). A
step's delay counts from the alert's creation, so a slow or restarted runner
never stretches the schedule. A step with delay 0 is the alert itself (the
commander picks its channels when sending): it documents the policy and is
never run.

Where each alert stands lives only in the database (AlertEscalation: next
position, due time). The runner takes one due row, runs the step and advances
the row in one transaction, so a crash did both or neither and a restart of
every process neither loses a step nor runs one twice. On PostgreSQL the row
is taken with FOR UPDATE SKIP LOCKED, so two hubs never run the same step; on
SQLite the Database write lock serialises the runners.

A step never reaches someone who already answered the alert (any answer) and
stops the escalation once the incident is no longer open, the policy was
switched off or the quorum is met (services/quorum.py). Edits to a policy
apply to alerts already escalating from their next step on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gevent.event import Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.env import env_float
from broker.messages import CHANNELS
from coordinator import live
from coordinator.context import Tocsin
from coordinator.errors import ValidationError
from coordinator.links import LinkSigner
from coordinator.models import (
    CHANNEL_LABELS,
    Agency,
    Alert,
    AlertEscalation,
    EscalationPolicy,
    EscalationStep,
    Notification,
    Responder,
    Response,
    Team,
    as_utc,
    utcnow,
)
from coordinator.services import audit, outbox, quorum
from coordinator.services.targeting import Recipient, Targeting, select_recipients

log = logging.getLogger(__name__)

MAX_STEPS = 10
MAX_DELAY_MINUTES = 24 * 60
MAX_NAME = 120
SAME, BACKUP, AGENCY = "same", "backup", "agency:"
POLL_SECONDS = 1.0  # TOCSIN_ESCALATION_POLL_SECONDS; a step runs at most this late
BATCH = 50  # steps run per poll before the runner looks at the clock again


# --- policies -----------------------------------------------------------------


@dataclass(frozen=True)
class StepSpec:
    delay_seconds: int
    channels: list[str]
    target: str = SAME


@dataclass(frozen=True)
class StepForm:
    """One row of the policy form, as typed: the delay in minutes."""

    delay_minutes: str
    channels: list[str] = field(default_factory=list)
    target: str = SAME

    @property
    def blank(self) -> bool:
        return not self.delay_minutes.strip() and not self.channels


def policy_of(session: Session, agency_id: int) -> EscalationPolicy | None:
    """The agency's policy (one per agency; the oldest if several were made)."""
    return session.scalars(
        select(EscalationPolicy)
        .where(EscalationPolicy.agency_id == agency_id)
        .order_by(EscalationPolicy.id)
        .limit(1)
    ).first()


def parse_steps(rows: Sequence[StepForm]) -> list[StepSpec]:
    """Form rows -> steps (blank rows left out); raises ValidationError naming each bad row."""
    errors: dict[str, str] = {}
    filled = [row for row in rows if not row.blank]
    if len(filled) > MAX_STEPS:
        raise ValidationError({"steps": f"A policy has at most {MAX_STEPS} steps."})
    steps: list[StepSpec] = []
    for number, row in enumerate(filled, start=1):
        seconds = _delay_seconds(row.delay_minutes)
        if seconds is None:
            errors[f"step-{number}"] = (
                f"Step {number}: the delay must be 0 to {MAX_DELAY_MINUTES} minutes "
                f"(e.g. 2 or 0.5), not {row.delay_minutes.strip()!r}."
            )
            continue
        steps.append(StepSpec(seconds, list(row.channels), row.target.strip()))
    if errors:
        raise ValidationError(errors)
    return steps


def _delay_seconds(raw: str) -> int | None:
    try:
        minutes = float(raw.strip())
    except ValueError:
        return None
    if math.isnan(minutes) or not 0 <= minutes <= MAX_DELAY_MINUTES:
        return None
    return round(minutes * 60)


def validate_steps(session: Session, agency: Agency, steps: Sequence[StepSpec]) -> None:
    """Delays increasing, known channels (at least one), a known target that is not
    the agency itself, at most MAX_STEPS; raises ValidationError naming each bad step."""
    errors: dict[str, str] = {}
    if not steps:
        errors["steps"] = "Give the policy at least one step (uncheck Active to switch it off)."
    elif len(steps) > MAX_STEPS:
        errors["steps"] = f"A policy has at most {MAX_STEPS} steps."
    slugs = set(session.scalars(select(Agency.slug)))
    previous: StepSpec | None = None
    for number, step in enumerate(steps, start=1):
        problem = _step_problem(step, previous, number, agency, slugs)
        if problem:
            errors[f"step-{number}"] = f"Step {number}: {problem}"
        previous = step
    if errors:
        raise ValidationError(errors)


def _step_problem(
    step: StepSpec, previous: StepSpec | None, number: int, agency: Agency, slugs: set[str]
) -> str:
    if not 0 <= step.delay_seconds <= MAX_DELAY_MINUTES * 60:
        return f"the delay must be 0 to {MAX_DELAY_MINUTES} minutes."
    if previous is not None and step.delay_seconds <= previous.delay_seconds:
        return (
            f"its delay ({_minutes(step.delay_seconds)}) must come after step "
            f"{number - 1}'s ({_minutes(previous.delay_seconds)})."
        )
    if not step.channels:
        return "pick at least one channel."
    if unknown := sorted(set(step.channels) - set(CHANNELS)):
        return f"unknown channel {', '.join(unknown)}."
    if step.target in (SAME, BACKUP):
        return ""
    if not step.target.startswith(AGENCY):
        return f"unknown target {step.target!r}: same, backup or agency:<slug>."
    slug = step.target.removeprefix(AGENCY)
    if slug not in slugs:
        return f"there is no agency {slug!r}."
    if slug == agency.slug:
        return "a step cannot call in its own agency: use the silent responders or the backup."
    return ""


def save_policy(
    session: Session,
    agency: Agency,
    name: str,
    active: bool,
    steps: Sequence[StepSpec],
    actor: str,
) -> EscalationPolicy:
    """Validate, then create or replace the agency's policy in the caller's transaction."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the policy a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name is longer than {MAX_NAME} characters."
    try:
        validate_steps(session, agency, steps)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    policy = policy_of(session, agency.id)
    created = policy is None
    if policy is None:
        policy = EscalationPolicy(agency_id=agency.id)
        session.add(policy)
    policy.name, policy.active = name, active
    policy.steps.clear()
    session.flush()  # the old steps go before the new ones take their positions
    policy.steps.extend(
        EscalationStep(
            position=i, delay_seconds=s.delay_seconds, channels=list(s.channels), target=s.target
        )
        for i, s in enumerate(steps, start=1)
    )
    session.flush()
    audit.record(
        session, actor, "escalation_policy.created" if created else "escalation_policy.changed",
        agency=agency.slug, policy_id=policy.id, name=name, active=active,
        steps=[{"delay_seconds": s.delay_seconds, "channels": s.channels, "target": s.target}
               for s in steps],
    )  # fmt: skip
    return policy


def describe(step: EscalationStep | StepSpec, agency_names: dict[str, str] | None = None) -> str:
    """ "after 2 min: Voice call to the silent responders" """
    when = "with the alert" if step.delay_seconds == 0 else f"after {_minutes(step.delay_seconds)}"
    return f"{when}: {action(step, agency_names)}"


def action(step: EscalationStep | StepSpec, agency_names: dict[str, str] | None = None) -> str:
    """ "Voice call to the silent responders" """
    channels = ", ".join(CHANNEL_LABELS.get(c, c) for c in step.channels)
    return f"{channels} to {target_label(step.target, agency_names)}"


def target_label(target: str, agency_names: dict[str, str] | None = None) -> str:
    if target == SAME:
        return "the silent responders"
    if target == BACKUP:
        return "the silent teams' backup"
    slug = target.removeprefix(AGENCY)
    return (agency_names or {}).get(slug, slug)


def _minutes(seconds: int) -> str:
    """90 -> "1.5 min", 45 -> "45 s", 100 -> "1 min 40 s"."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds % 30 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds // 60} min {seconds % 60} s"


# --- starting -------------------------------------------------------------------


def start(session: Session, alert: Alert) -> list[AlertEscalation]:
    """In the alert's transaction: an escalation per alerted agency with an active
    policy, due at the alert's creation + the first step's delay (delay-0 steps
    are the alert itself and are skipped)."""
    started: list[AlertEscalation] = []
    for agency in alert.agencies:
        policy = policy_of(session, agency.id)
        if policy is None or not policy.active:
            continue
        first = next((s for s in policy.steps if s.delay_seconds > 0), None)
        if first is None:
            continue
        esc = AlertEscalation(
            alert_id=alert.id,
            agency_id=agency.id,
            policy_id=policy.id,
            next_position=first.position,
            due_at=as_utc(alert.created_at) + timedelta(seconds=first.delay_seconds),
        )
        session.add(esc)
        started.append(esc)
    if started:
        session.flush()
        audit.record(
            session, "system:escalation", "escalation.started", alert.incident_id,
            alert_id=alert.id,
            escalations=[{"agency_id": e.agency_id, "policy_id": e.policy_id,
                          "position": e.next_position, "due_at": e.due_at} for e in started],
        )  # fmt: skip
    return started


# --- running ------------------------------------------------------------------


@dataclass
class StepRun:
    """What one pass over a due escalation did, for the board."""

    incident_id: int
    payload: dict[str, object]
    added: list[dict[str, object]]  # new notifications, for the board's rows


class EscalationRunner:
    """The hub loop that runs due steps (background.py starts it)."""

    def __init__(self, t: Tocsin, poll: float | None = None, batch: int = BATCH) -> None:
        self.t = t
        self.poll = poll or env_float("TOCSIN_ESCALATION_POLL_SECONDS", POLL_SECONDS)
        self.batch = batch

    def run(self, stop: Event) -> None:
        while not stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.exception("escalation: unexpected error; retrying")
                self.t.db.remove()
            stop.wait(self.poll)

    def run_due(self, now: datetime | None = None) -> int:
        """Bring forward the steps of missed quorums, then run what is due by `now`;
        returns how many escalations were run or stopped."""
        now = now or utcnow()
        with self.t.db.write() as session:
            missed = quorum.bring_forward_missed(session, now)
            missed_payloads = [(a.incident_id, quorum.payload(a, quorum.progress(session, a), now))
                               for a in missed]  # fmt: skip
        for incident_id, payload in missed_payloads:
            live.quorum_changed(incident_id, payload)
        done = 0
        while done < self.batch and self.run_one(now) is not None:
            done += 1
        self.t.db.remove()
        return done

    def run_one(self, now: datetime | None = None) -> StepRun | None:
        """Take one escalation due by `now`, run its step and advance it in one
        transaction; then wake the relay and tell the board."""
        now = now or utcnow()
        with self.t.db.write() as session:
            session.expire_all()  # an earlier step's objects: read status and quorum afresh
            esc = session.scalars(
                select(AlertEscalation)
                .where(AlertEscalation.due_at <= now)
                .order_by(AlertEscalation.due_at, AlertEscalation.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if esc is None:
                return None
            run = run_step(session, esc, self.t.links, now)
        if run.added:
            self.t.outbox_written.set()
        live.escalation_changed(run.incident_id, run.payload, run.added)
        return run


def run_step(session: Session, esc: AlertEscalation, links: LinkSigner, now: datetime) -> StepRun:
    """Run the escalation's due step (or stop it) and advance it; the caller commits."""
    alert, policy = esc.alert, esc.policy
    incident = alert.incident
    agency = session.get(Agency, esc.agency_id)
    assert agency is not None
    step = next((s for s in policy.steps if s.position == esc.next_position), None)
    reason = _stop_reason(esc) or ("" if step else "the policy has no such step any more")
    if reason or step is None:
        esc.due_at = None
        audit.record(
            session, "system:escalation", "escalation.stopped", incident.id,
            alert_id=alert.id, agency=agency.slug, position=esc.next_position, reason=reason,
        )  # fmt: skip
        return StepRun(incident.id, payload(session, esc, reason=reason), [])
    recipients, error = _recipients(session, alert, agency, step.target)
    before = _max_notification_id(session, alert.id)
    count = outbox.notify_recipients(
        session, incident, alert, recipients, step.channels, links, step=step.position
    )
    following = next((s for s in policy.steps if s.position > step.position), None)
    esc.next_position = following.position if following else step.position + 1
    esc.due_at = (
        as_utc(alert.created_at) + timedelta(seconds=following.delay_seconds) if following else None
    )
    esc.last_run_at = now
    audit.record(
        session, "system:escalation", "escalation.step", incident.id,
        alert_id=alert.id, agency=agency.slug, policy_id=policy.id, position=step.position,
        target=step.target, channels=list(step.channels), responders=len(recipients),
        notifications=count, next_position=following.position if following else None,
        next_due_at=esc.due_at, **({"error": error} if error else {}),
    )  # fmt: skip
    ran = {"position": step.position, "responders": len(recipients), "notifications": count}
    added = _added(session, alert.id, step.position, before)
    return StepRun(incident.id, payload(session, esc, ran=ran), added)


def _stop_reason(esc: AlertEscalation) -> str:
    """Why no further step may run for this escalation ("" when it may)."""
    alert = esc.alert
    if alert.incident.status != "open":
        return f"incident {alert.incident.status.replace('_', ' ')}"
    if not esc.policy.active:
        return "policy switched off"
    if alert.quorum_met_at is not None:
        return "quorum met"
    return ""


def _recipients(
    session: Session, alert: Alert, agency: Agency, target: str
) -> tuple[list[Recipient], str]:
    """Who the step reaches, never anyone who answered; (recipients, error)."""
    alerted_ids = select(Notification.responder_id).where(Notification.alert_id == alert.id)
    alerted = {
        rid: (agency_id, team_id)
        for rid, agency_id, team_id in session.execute(
            select(Responder.id, Responder.agency_id, Responder.team_id).where(
                Responder.id.in_(alerted_ids)
            )
        )
    }
    answered = set(
        session.scalars(select(Response.responder_id).where(Response.alert_id == alert.id))
    )
    silent = [rid for rid, (aid, _) in alerted.items() if aid == agency.id and rid not in answered]
    ids: list[int] | None = None
    targeting: Targeting | None
    if target == SAME:
        targeting, ids = Targeting(agencies=[agency.slug], on_duty_only=False), silent
    elif target == BACKUP:
        targeting = _backup_targeting(session, {alerted[rid][1] for rid in silent})
    else:
        asked = Targeting.from_json(alert.targeting)
        targeting = Targeting(
            agencies=[target.removeprefix(AGENCY)], skills=asked.skills, radius_m=asked.radius_m
        )  # on duty only: another agency's people off duty are not ours to call
    if targeting is None or ids == []:
        return [], ""
    try:
        selection = select_recipients(
            session, targeting, alert.incident.lat, alert.incident.lon, responder_ids=ids,
            drill=alert.incident.mode == "drill",
        )  # fmt: skip
    except ValidationError as exc:  # an agency renamed or removed since the policy was saved
        return [], str(exc)
    fresh = (
        (lambda rid: rid not in answered) if target == SAME else (lambda rid: rid not in alerted)
    )
    return [r for r in selection.recipients if fresh(r.responder_id)], ""


def _backup_targeting(session: Session, team_ids: set[int | None]) -> Targeting | None:
    """The on-duty members of the backup teams of these teams."""
    backups = set(
        session.scalars(
            select(Team.backup_team_id).where(
                Team.id.in_(team_ids - {None}), Team.backup_team_id.is_not(None)
            )
        )
    )
    if not backups:
        return None
    rows = session.execute(
        select(Team.id, Agency.slug).join(Agency).where(Team.id.in_(backups))
    ).all()
    return Targeting(agencies=sorted({slug for _, slug in rows}), teams=sorted(t for t, _ in rows))


def _max_notification_id(session: Session, alert_id: int) -> int:
    found = session.scalar(
        select(Notification.id)
        .where(Notification.alert_id == alert_id)
        .order_by(Notification.id.desc())
        .limit(1)
    )
    return found or 0


def _added(session: Session, alert_id: int, step: int, after: int) -> list[dict[str, object]]:
    """The notifications this step created, for the board."""
    rows = session.execute(
        select(Notification, Responder.name, Agency.name, Responder.lat, Responder.lon)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(
            Notification.alert_id == alert_id, Notification.step == step, Notification.id > after
        )
        .order_by(Notification.id)
    ).all()
    return [live.introduced_payload(*row) for row in rows]


# --- the board ------------------------------------------------------------------


def payload(
    session: Session,
    esc: AlertEscalation,
    *,
    ran: dict[str, int] | None = None,
    reason: str = "",
) -> dict[str, object]:
    """One escalation as the board shows it: what ran, what is next and when."""
    agency = session.get(Agency, esc.agency_id)
    assert agency is not None
    names = dict(session.execute(select(Agency.slug, Agency.name)).all())
    steps = {s.position: s for s in esc.policy.steps}
    due = as_utc(esc.due_at) if esc.due_at is not None else None
    nxt = steps.get(esc.next_position) if due is not None else None
    if nxt is not None and due is not None:
        state = "waiting"
        text = (
            f"{agency.name}: next step {nxt.position} at {due:%H:%M:%S} UTC, {action(nxt, names)}"
        )
    elif esc.next_position in steps:
        why = reason or _stop_reason(esc) or "stopped"
        state, text = "stopped", f"{agency.name}: escalation stopped ({why})"
    else:
        state, text = "finished", f"{agency.name}: every step of {esc.policy.name!r} has run"
    if ran:
        text += (
            f" · step {ran['position']} reached {ran['responders']} responder(s), "
            f"{ran['notifications']} notification(s)"
        )
    return {
        "id": esc.id,
        "alert_id": esc.alert_id,
        "agency": agency.slug,
        "state": state,
        "step": ran,
        "next": (
            {"position": nxt.position, "at": due.isoformat(), "channels": list(nxt.channels),
             "target": nxt.target}
            if nxt is not None and due is not None else None
        ),
        "text": text,
    }  # fmt: skip


def for_incident(session: Session, incident_id: int) -> list[dict[str, object]]:
    """The board's escalation lines, one per alert and agency."""
    rows = session.scalars(
        select(AlertEscalation)
        .join(Alert, AlertEscalation.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .order_by(AlertEscalation.alert_id, AlertEscalation.id)
    ).all()
    return [payload(session, esc) for esc in rows]
