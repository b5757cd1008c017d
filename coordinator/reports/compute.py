"""Figures of one incident, from its own rows only (a drill's report never holds live
data, and a live incident's never a drill's: everything is selected by incident id).

One streamed SELECT per table (notifications, answers, audit entries), joined and
ordered in SQL, and every figure computed in one pass over those rows: two
aggregate queries under READ COMMITTED could each see a different moment, and
median and p90 need the values anyway (SQLite has no percentile function). Rows
are kept as small NamedTuples for the CSV, so a 15,000-notification drill costs a
few tens of megabytes.

The counts follow the board's rules (coordinator/views/console.py `breakdown`):
notifications are every message of the incident's alerts (updates and stand-downs
too, cancelled ones too); sent = sent, delivered or undelivered; failed = failed or
undelivered; answered per agency = responders with any answer, per channel =
notifications an answer came back through. The report adds rates and times:
- delivered rate = delivered / sent, over SMS and voice only (email and push have no
  delivery receipts, they stop at "sent");
- time to deliver = delivered_at - created_at of each delivered notification;
- time to answer (per agency) = a responder's first answer to a call-out alert (the
  first alert or a further one; not an update or stand-down) - their first
  notification of that alert; per channel, from the notification the answer came
  back through to the answer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.models import (
    CHANNEL_LABELS,
    FAILED,
    Agency,
    Alert,
    AuditEvent,
    DrillSchedule,
    Incident,
    Notification,
    Responder,
    Response,
    Team,
    as_utc,
    utcnow,
)
from coordinator.reports import timeline
from coordinator.reports.figures import (
    MARKS_MINUTES,
    AlertInfo,
    AnswerRow,
    EscalationRun,
    Event,
    Failure,
    Figures,
    IncidentInfo,
    NotificationRow,
    QuorumFigure,
    Silent,
    Tally,
    no_cyclic_gc,
)
from coordinator.reports.formatting import ALERT_KIND_LABELS
from coordinator.reports.formatting import channel as channel_label
from coordinator.reports.summary import summary
from coordinator.reports.tally import Accumulator, Person, how_sent
from coordinator.services.escalation import target_label

BATCH = 2000  # rows fetched at a time
PAUSE_EVERY = 500  # rows between two pauses (the hub yields to its other greenlets)


def _no_pause() -> None:
    return None


def iso(at: datetime | None) -> str | None:
    return None if at is None else as_utc(at).isoformat(timespec="milliseconds")


class _Build:
    """One incident's figures, built by streaming its rows once."""

    def __init__(self, session: Session, incident: Incident, pause: Callable[[], None]) -> None:
        self.session = session
        self.incident = incident
        self.pause = pause
        agencies = list(session.execute(select(Agency.id, Agency.slug, Agency.name)))
        self.agency_names = {slug: name for _id, slug, name in agencies}
        self.agency_ids = {id_: slug for id_, slug, _name in agencies}
        self.people: dict[int, Person] = {}
        self.agencies: dict[str, Accumulator] = {}
        self.channels: dict[str, Accumulator] = {}
        self.total = Accumulator(Tally("all", "All agencies"))
        self.first_notified: dict[tuple[int, int], datetime] = {}
        self.notified_at: dict[int, datetime] = {}  # notification id -> created_at
        self.notification_of: dict[int, tuple[int, str]] = {}  # id -> (responder, channel)
        self.last_status: dict[int, dict[str, str]] = defaultdict(dict)
        self.failures: Counter[tuple[str, str]] = Counter()
        self.first_answer: dict[int, datetime] = {}  # responder -> their first answer at all
        self.latest_answer: dict[int, str] = {}
        self.answered_pairs: set[tuple[int, int]] = set()
        self.figures = Figures(
            incident=self._info(),
            built_at=iso(utcnow()) or "",
            draft=incident.status != "closed",
            started_at="",
        )

    def _info(self) -> IncidentInfo:
        i = self.incident
        schedule = (
            self.session.get(DrillSchedule, i.drill_schedule_id) if i.drill_schedule_id else None
        )
        return IncidentInfo(
            i.id, i.title, i.kind, i.severity, i.mode, i.status, i.origin,
            iso(i.created_at) or "", iso(i.stood_down_at), iso(i.closed_at),
            schedule.name if schedule else None,
        )  # fmt: skip

    def run(self) -> Figures:
        alerts = list(
            self.session.scalars(
                select(Alert).where(Alert.incident_id == self.incident.id).order_by(Alert.id)
            )
        )
        self.alert_kinds = {a.id: a.kind for a in alerts}
        self.alert_at = {a.id: as_utc(a.created_at) for a in alerts}
        self.start = min(self.alert_at.values(), default=as_utc(self.incident.created_at))
        self.figures.started_at = iso(self.start) or ""
        audit_rows = self._audit_rows()
        self.fallbacks = {
            d.get("next_id")
            for _a, _b, action, d in audit_rows
            if action == "notification.fallback"
        }
        self._notifications()
        self._answers()
        self._alerts(alerts, audit_rows)
        self._audit(audit_rows)
        self._quorums(alerts)
        self._finish()
        return self.figures

    # --- rows -------------------------------------------------------------------

    def _audit_rows(self) -> list[tuple[str, str, str, dict]]:
        rows = self.session.execute(
            select(AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.detail)
            .where(
                AuditEvent.incident_id == self.incident.id,
                AuditEvent.action.not_in(timeline.NOT_READ),
            )
            .order_by(AuditEvent.id)
            .execution_options(yield_per=BATCH)
        )
        return [(iso(at) or "", actor, action, detail or {}) for at, actor, action, detail in rows]

    def _notifications(self) -> None:
        query = (
            select(
                Notification.id, Notification.alert_id, Notification.responder_id,
                Notification.channel, Notification.status, Notification.step,
                Notification.previous_id, Notification.attempts, Notification.error,
                Notification.created_at, Notification.sent_at, Notification.delivered_at,
                Notification.failed_at, Responder.name, Responder.simulated,
                Responder.agency_id, Team.name,
            )
            .join(Alert, Notification.alert_id == Alert.id)
            .join(Responder, Notification.responder_id == Responder.id)
            .outerjoin(Team, Responder.team_id == Team.id)
            .where(Alert.incident_id == self.incident.id)
            .order_by(Notification.id)
            .execution_options(yield_per=BATCH)
        )  # fmt: skip
        rows = self.figures.notifications
        for i, r in enumerate(self.session.execute(query)):
            (nid, alert_id, rid, channel, status, step, previous_id, attempts, error,
             created, sent, delivered, failed, name, simulated, agency_id, team) = r  # fmt: skip
            person = self.people.get(rid)
            if person is None:
                slug = self.agency_ids.get(agency_id, "")
                person = self.people[rid] = Person(name, bool(simulated), slug, team or "")
            created = as_utc(created)
            self.notified_at[nid] = created
            self.notification_of[nid] = (rid, channel)
            key = (rid, alert_id)
            if key not in self.first_notified or created < self.first_notified[key]:
                self.first_notified[key] = created
            self.last_status[rid][channel] = status
            for acc in (self._agency(person.agency), self._channel(channel), self.total):
                acc.add(status, channel, rid)
            if status == "delivered" and delivered is not None:
                seconds = (as_utc(delivered) - created).total_seconds()
                for acc in (self._agency(person.agency), self._channel(channel), self.total):
                    acc.ttd.append(seconds)
            reason = timeline.scrub(error) if status in FAILED else ""
            if status in FAILED:
                self.failures[(reason or "(no reason given)", channel)] += 1
            rows.append(
                NotificationRow(
                    nid, alert_id, self.alert_kinds.get(alert_id, ""), rid, name,
                    bool(simulated), self.agency_names.get(person.agency, ""), team or "",
                    channel, status, how_sent(step, previous_id, nid in self.fallbacks), step,
                    previous_id, attempts or 0, iso(created) or "", iso(sent), iso(delivered),
                    iso(failed), timeline.scrub(error),
                )
            )  # fmt: skip
            if i % PAUSE_EVERY == PAUSE_EVERY - 1:
                self.pause()

    def _answers(self) -> None:
        query = (
            select(
                Response.id, Response.alert_id, Response.responder_id, Response.notification_id,
                Response.channel, Response.answer, Response.eta_minutes, Response.received_at,
            )
            .join(Alert, Response.alert_id == Alert.id)
            .where(Alert.incident_id == self.incident.id)
            .order_by(Response.received_at, Response.id)
            .execution_options(yield_per=BATCH)
        )  # fmt: skip
        for i, (aid, alert_id, rid, nid, via, answer, eta, received) in enumerate(
            self.session.execute(query)
        ):
            self._answer(aid, alert_id, rid, nid, via, answer, eta, as_utc(received))
            if i % PAUSE_EVERY == PAUSE_EVERY - 1:
                self.pause()

    def _answer(
        self, aid: int, alert_id: int, rid: int, nid: int | None, via: str, answer: str,
        eta: int | None, received: datetime,
    ) -> None:  # fmt: skip
        person = self.people.get(rid) or Person(f"Responder {rid}", False, "", "")
        kind = self.alert_kinds.get(alert_id, "")
        key = (rid, alert_id)
        first = key not in self.answered_pairs
        self.answered_pairs.add(key)
        notified = self.first_notified.get(key)
        since = (received - notified).total_seconds() if notified else None
        through = self.notification_of.get(nid)[1] if nid in self.notification_of else ""
        agency = self._agency(person.agency)
        for acc in (agency, self.total):
            acc.answered.add(rid)
        if through:
            self._channel(through).answered.add(nid)
        if first and kind == "alert" and since is not None:
            for acc in (agency, self.total):
                acc.tta.append(since)
            if through and nid in self.notified_at:
                self._channel(through).tta.append(
                    (received - self.notified_at[nid]).total_seconds()
                )
        self.first_answer.setdefault(rid, received)
        self.latest_answer[rid] = answer
        row = AnswerRow(
            aid, alert_id, kind, rid, person.name, person.simulated,
            self.agency_names.get(person.agency, ""), person.team, answer, via, nid, through,
            iso(received) or "", eta, None if since is None else round(since, 3), first,
        )  # fmt: skip
        self.figures.answers.append(row)
        self.figures.timeline.append(timeline.answer_event(row, person.shown))

    # --- the rest -----------------------------------------------------------------

    def _alerts(self, alerts: list[Alert], audit_rows: list[tuple[str, str, str, dict]]) -> None:
        actors = {
            d.get("alert_id"): actor
            for _at, actor, action, d in audit_rows
            if action in timeline.TOLD_ELSEWHERE
        }
        counts: Counter[int] = Counter(r.alert_id for r in self.figures.notifications)
        reached: dict[int, set[int]] = defaultdict(set)
        for r in self.figures.notifications:
            reached[r.alert_id].add(r.responder_id)
        callouts = 0
        for a in alerts:
            if a.kind == "alert":
                callouts += 1
                label = "First alert" if callouts == 1 else "Further alert"
            else:
                label = ALERT_KIND_LABELS.get(a.kind, a.kind)
            info = AlertInfo(
                a.id, a.kind, label, iso(a.created_at) or "", a.message,
                actors.get(a.id, "system"), counts[a.id], len(reached[a.id]),
            )  # fmt: skip
            self.figures.alerts.append(info)
            text = f"{label} (alert {a.id}) to {info.responders} responders: {a.message}"
            self.figures.timeline.append(Event(info.created_at, "message", "", text, info.actor))

    def _audit(self, audit_rows: list[tuple[str, str, str, dict]]) -> None:
        names = timeline.Names(
            self.agency_names,
            {aid: self.agency_names.get(slug, slug) for aid, slug in self.agency_ids.items()},
            self._named,
        )
        for at, actor, action, detail in audit_rows:
            if action in timeline.TOLD_ELSEWHERE:
                continue
            self.figures.timeline.append(timeline.audit_event(at, actor, action, detail, names))
            if action == "escalation.step":
                slug = detail.get("agency", "")
                self._agency(slug).tally.escalation_steps += 1
                self.figures.escalations.append(
                    EscalationRun(
                        at, self.agency_names.get(slug, slug), detail.get("position", 0),
                        target_label(detail.get("target", "same"), self.agency_names),
                        list(detail.get("channels", [])), detail.get("responders", 0),
                        detail.get("notifications", 0),
                    )
                )  # fmt: skip

    def _named(self, nid: int | None) -> tuple[str, str]:
        found = self.notification_of.get(nid) if nid is not None else None
        person = self.people.get(found[0]) if found else None
        if person is None:
            return (f"notification {nid}", "")
        return person.shown, self.agency_names.get(person.agency, "")

    def _quorums(self, alerts: list[Alert]) -> None:
        for a in alerts:
            if not a.quorum:
                continue
            met = as_utc(a.quorum_met_at) if a.quorum_met_at else None
            label = next(x.label for x in self.figures.alerts if x.id == a.id)
            self.figures.quorums.append(
                QuorumFigure(
                    a.id, f"{label} (alert {a.id})", dict(a.quorum),
                    iso(a.quorum_deadline_at), iso(met),
                    round((met - self.alert_at[a.id]).total_seconds(), 3) if met else None,
                )
            )  # fmt: skip

    def _finish(self) -> None:
        f = self.figures
        simulated = {rid for rid, p in self.people.items() if p.simulated}
        for acc in self.agencies.values():
            acc.tally.answers = dict(
                Counter(self.latest_answer[r] for r in acc.answered if r in self.latest_answer)
            )
            acc.tally.answered_by = self._answered_by(acc.answered)
        self.total.tally.answered_by = self._answered_by(self.total.answered)
        self.total.tally.escalation_steps = len(f.escalations)
        self.total.tally.answers = dict(Counter(self.latest_answer.values()))
        f.total = self.total.finish(simulated, per_responder=True)
        f.agencies = sorted(
            (a.finish(simulated, per_responder=True) for a in self.agencies.values()),
            key=lambda t: t.name,
        )
        order = list(CHANNEL_LABELS)
        f.channels = sorted(
            (a.finish(simulated, per_responder=False) for a in self.channels.values()),
            key=lambda t: (order.index(t.key) if t.key in order else len(order), t.key),
        )
        f.failures = [
            Failure(reason, channel, n)
            for (reason, channel), n in sorted(self.failures.items(), key=lambda kv: -kv[1])
        ]
        f.never_answered = sorted(
            (
                self._silent(rid, p)
                for rid, p in self.people.items()
                if rid not in self.total.answered
            ),
            key=lambda s: (s.agency, s.team, s.name, s.responder_id),
        )
        f.timeline.sort(key=lambda e: e.at)  # stable: same-time events keep their order
        f.summary = summary(f, self.people, self.total.answered)

    def _silent(self, rid: int, p: Person) -> Silent:
        reached = ", ".join(f"{channel_label(c)} {s}" for c, s in self.last_status[rid].items())
        return Silent(
            rid, p.name, self.agency_names.get(p.agency, ""), p.team, p.simulated, reached
        )

    def _answered_by(self, responders: set[int]) -> list[int]:
        waits = sorted(
            (self.first_answer[r] - self.start).total_seconds()
            for r in responders
            if r in self.first_answer
        )
        return [sum(1 for w in waits if w <= m * 60) for m in MARKS_MINUTES]

    def _agency(self, slug: str) -> Accumulator:
        if slug not in self.agencies:
            self.agencies[slug] = Accumulator(Tally(slug, self.agency_names.get(slug, slug or "?")))
        return self.agencies[slug]

    def _channel(self, channel: str) -> Accumulator:
        if channel not in self.channels:
            self.channels[channel] = Accumulator(
                Tally(channel, CHANNEL_LABELS.get(channel, channel))
            )
        return self.channels[channel]


def build_figures(
    session: Session, incident_id: int, *, pause: Callable[[], None] = _no_pause
) -> Figures | None:
    """The incident's figures as its rows stand now; None when there is no such incident.
    `pause` is called every few hundred rows (the hub passes gevent.sleep)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    with no_cyclic_gc():
        return _Build(session, incident, pause).run()
