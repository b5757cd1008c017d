"""`tocsin bench report`: how long a closed city drill's after-action report takes to
build, and how much memory, as figures, HTML, PDF and CSV.

It writes a drill of N simulated responders into a temporary SQLite database, in
bulk (agencies and teams like the demo city's; SMS, push and email to everyone
with realistic timestamps and some failures; answers after a lognormal delay; an
escalation step by voice; fallbacks; audit entries with their hash chain), closes
it, then times each rendering several times (medians), beside a reference taken
in the same run: one SELECT of every notification and answer row of the incident.
Memory is each phase's tracemalloc peak (a separate pass: tracing slows Python)
and the process's peak RSS.
"""

from __future__ import annotations

import io
import json
import math
import random
import resource
import secrets
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import insert, select

from coordinator import migrate
from coordinator.app import create_app
from coordinator.config import Settings
from coordinator.db import Database
from coordinator.models import (
    Agency,
    Alert,
    AlertAgency,
    AuditEvent,
    Incident,
    Notification,
    Responder,
    Response,
    Team,
)
from coordinator.reports import csv_export, html, pdf
from coordinator.reports.compute import build_figures
from coordinator.reports.figures import Figures
from coordinator.seed import AGENCIES, FIRST, LAST
from coordinator.services.audit import canonical, entry_hash

T = TypeVar("T")
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ANSWER_SHARE = 0.72  # of everyone: answers at all
UNAVAILABLE_SHARE = 0.12  # of answers
SECOND_ANSWER_SHARE = 0.15  # of those who acknowledged: later "en route" too
SMS_FAILED, PUSH_FAILED, EMAIL_FAILED = 0.03, 0.01, 0.01
ESCALATED_AGENCY = "police"  # its silent responders get the voice step after 2 min
ERRORS = {
    "sms": ("Twilio 30003: unreachable destination handset +15550100123", "undelivered"),
    "push": ("ntfy://127.0.0.1:5050/tocsin-12: HTTP 404 Not Found", "failed"),
    "email": ("gave up after 5 attempts: SMTP 451 try again later", "failed"),
}


class Drill:
    """Rows of one closed drill, written in bulk (a statement per table)."""

    def __init__(self, db: Database, responders: int, seed: int = 9) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.n = responders
        self.audit: list[dict] = []
        self.notifications: list[dict] = []
        self.responses: list[dict] = []

    def build(self) -> int:
        with self.db.write() as s:
            teams = self._city(s)
            people = self._people(s, teams)
            incident = Incident(
                title="City drill: chemical release", kind="chemical", severity="major",
                lat=51.45, lon=-2.58, mode="drill", status="closed", origin="console",
                created_at=T0, stood_down_at=T0 + timedelta(minutes=25),
                closed_at=T0 + timedelta(minutes=30),
            )  # fmt: skip
            s.add(incident)
            s.flush()
            alert = Alert(
                incident_id=incident.id, message="EXERCISE: chemical release, report in.",
                channels=["sms", "push", "email"], kind="alert", created_at=T0,
            )  # fmt: skip
            s.add(alert)
            s.flush()
            s.execute(insert(AlertAgency), [{"alert_id": alert.id, "agency_id": a}
                                            for a in {p[1] for p in people}])  # fmt: skip
            self._log(T0, "user:commander", "incident.declared", incident.id,
                      mode="drill", origin="console")  # fmt: skip
            self._fan_out(incident.id, alert.id, people)
            self._log(T0 + timedelta(minutes=25), "user:commander", "incident.status",
                      incident.id, before="open", after="stood_down")  # fmt: skip
            self._log(T0 + timedelta(minutes=30), "user:commander", "incident.status",
                      incident.id, before="stood_down", after="closed")  # fmt: skip
            s.execute(insert(Notification), self.notifications)
            s.execute(insert(Response), self.responses)
            self._chain(s)
            return incident.id

    def _city(self, s) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        teams = []
        for slug, (name, team_names) in AGENCIES.items():
            agency = Agency(slug=slug, name=name)
            s.add(agency)
            s.flush()
            for team_name in team_names:
                team = Team(agency_id=agency.id, name=team_name)
                s.add(team)
                s.flush()
                teams.append((agency.id, team.id))
        self.police = s.scalar(select(Agency.id).where(Agency.slug == ESCALATED_AGENCY))
        return teams

    def _people(self, s, teams: list[tuple[int, int]]) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
        rows = [
            {"id": i, "agency_id": teams[i % len(teams)][0], "team_id": teams[i % len(teams)][1],
             "name": f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)} {i}", "on_duty": True,
             "language": "en", "skills": [], "simulated": True}
            for i in range(1, self.n + 1)
        ]  # fmt: skip
        s.execute(insert(Responder), rows)
        return [(r["id"], r["agency_id"]) for r in rows]

    def _fan_out(self, incident_id: int, alert_id: int, people: list[tuple[int, int]]) -> None:
        rng = self.rng
        self._log(T0, "user:commander", "alert.sent", incident_id, alert_id=alert_id,
                  kind="alert", notifications=3 * len(people))  # fmt: skip
        spread = len(people) / 200  # the fan-out takes a while: 200 rows a second
        for rid, agency_id in people:
            created = T0 + timedelta(seconds=rng.uniform(0, spread))
            ids = {c: self._notification(alert_id, rid, c, created) for c in ERRORS}
            sms = self.notifications[ids["sms"] - 1]
            if sms["status"] in ("failed", "undelivered"):
                self._fallback(incident_id, alert_id, rid, sms)
            if rng.random() < ANSWER_SHARE:
                self._answers(incident_id, alert_id, rid, ids, created)
            elif agency_id == self.police:
                at = T0 + timedelta(seconds=120)
                self._notification(alert_id, rid, "voice", at, step=1)
        steps = sum(1 for n in self.notifications if n["step"] == 1)
        self._log(
            T0 + timedelta(seconds=120), "system:escalation", "escalation.step", incident_id,
            alert_id=alert_id, agency=ESCALATED_AGENCY, position=1, target="same",
            channels=["voice"], responders=steps, notifications=steps,
        )  # fmt: skip

    def _notification(
        self, alert_id: int, rid: int, channel: str, created: datetime, *,
        step: int | None = None, previous_id: int | None = None,
    ) -> int:  # fmt: skip
        rng = self.rng
        nid = len(self.notifications) + 1
        sent = created + timedelta(seconds=rng.lognormvariate(math.log(1.5), 0.6))
        row = {
            "id": nid, "alert_id": alert_id, "responder_id": rid, "channel": channel,
            "address": f"{channel}:{rid}", "status": "sent", "error": None, "attempts": 1,
            "step": step, "previous_id": previous_id, "created_at": created, "updated_at": sent,
            "sent_at": sent, "delivered_at": None, "failed_at": None,
        }  # fmt: skip
        failed = {"sms": SMS_FAILED, "push": PUSH_FAILED, "email": EMAIL_FAILED}.get(channel, 0.1)
        if rng.random() < failed:
            error, status = ERRORS.get(channel, ("no-answer", "failed"))
            row.update(status=status, error=error, failed_at=sent + timedelta(seconds=3))
            if status == "failed":
                row["sent_at"] = None
        elif channel in ("sms", "voice"):
            delivered = sent + timedelta(seconds=rng.lognormvariate(math.log(4), 0.5))
            row.update(status="delivered", delivered_at=delivered, updated_at=delivered)
        self.notifications.append(row)
        return nid

    def _fallback(self, incident_id: int, alert_id: int, rid: int, failed: dict) -> None:
        at = failed["failed_at"]
        nxt = self._notification(alert_id, rid, "voice", at, previous_id=failed["id"])
        self._log(at, "system:fallback", "notification.fallback", incident_id,
                  failed_id=failed["id"], failed_channel="sms", next_id=nxt,
                  next_channel="voice")  # fmt: skip

    def _answers(self, incident_id: int, alert_id: int, rid: int, ids: dict, created) -> None:  # type: ignore[no-untyped-def]
        rng = self.rng
        at = created + timedelta(seconds=rng.lognormvariate(math.log(90), 0.8))
        via = rng.choice(("sms", "link", "push"))
        through = ids["email"] if via == "link" else ids[via]
        answer = "unavailable" if rng.random() < UNAVAILABLE_SHARE else "acknowledged"
        answers = [(answer, at)]
        if answer == "acknowledged" and rng.random() < SECOND_ANSWER_SHARE:
            answers.append(("en_route", at + timedelta(seconds=rng.uniform(30, 300))))
        for answer, when in answers:
            self.responses.append({
                "id": len(self.responses) + 1, "alert_id": alert_id, "responder_id": rid,
                "notification_id": through, "channel": via, "answer": answer,
                "eta_minutes": rng.randint(5, 25) if answer == "en_route" else None,
                "received_at": when,
            })  # fmt: skip
            self._log(when, f"responder:{rid}", "response.recorded", incident_id, answer=answer,
                      channel=via, notification_id=through)  # fmt: skip

    def _log(self, at: datetime, actor: str, action: str, incident_id: int, **detail) -> None:  # type: ignore[no-untyped-def]
        self.audit.append({"at": at, "actor": actor, "action": action,
                           "incident_id": incident_id, "detail": detail})  # fmt: skip

    def _chain(self, s) -> None:  # type: ignore[no-untyped-def]
        """The audit entries in time order, each hashed onto the one before (as
        services/audit.py chains them), in one statement."""
        prev = s.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
        rows = []
        for entry in sorted(self.audit, key=lambda e: e["at"]):
            detail = json.loads(canonical(entry["detail"]))
            digest = entry_hash(prev, entry["at"], entry["actor"], entry["action"],
                                entry["incident_id"], detail)  # fmt: skip
            rows.append({**entry, "detail": detail, "prev_hash": prev, "hash": digest})
            prev = digest
        s.execute(insert(AuditEvent), rows)


def reference(db: Database, incident_id: int) -> int:
    """Just read every notification and answer row of the incident."""
    session = db.session
    n = session.execute(
        select(Notification.__table__).join(Alert).where(Alert.incident_id == incident_id)
    ).all()
    r = session.execute(
        select(Response.__table__).join(Alert).where(Alert.incident_id == incident_id)
    ).all()
    db.remove()
    return len(n) + len(r)


def _timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """The median time of `runs` calls, and the last call's result."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _traced_peak(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _csv(figures: Figures) -> int:
    size = 0
    for table in csv_export.TABLES:
        out = io.StringIO()
        csv_export.write(figures, table, out)
        size += len(out.getvalue().encode())
    return size


def main(responders: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-report-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        incident_id = Drill(db, responders).build()
        setup = time.perf_counter() - started
        app = create_app(_settings(url))
        try:
            _measure(app, db, incident_id, responders, runs, setup)
        finally:
            app.extensions["tocsin"].db.dispose()
            db.dispose()


def _measure(app, db: Database, incident_id: int, responders: int, runs: int, setup: float):  # type: ignore[no-untyped-def]
    echo = click.echo
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    incident = db.session.get(Incident, incident_id)
    reference(db, incident_id)  # untimed: the first read warms SQLite's page cache
    ref, rows = _timed(lambda: reference(db, incident_id), runs)

    def figures() -> Figures:
        found = build_figures(db.session, incident_id)
        db.session.rollback()
        assert found is not None
        return found

    t_fig, f = _timed(figures, runs)
    t_html, page = _timed(lambda: html.standalone(app, f, incident, "stored"), runs)
    t_pdf, document = _timed(lambda: pdf.render(f), runs)
    t_csv, csv_bytes = _timed(lambda: _csv(f), runs)
    stored = f.to_json()
    t_load, _ = _timed(lambda: Figures.from_json(stored), runs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before tracing's own
    peaks = {
        "figures": _traced_peak(figures),
        "html": _traced_peak(lambda: html.standalone(app, f, incident, "stored")),
        "pdf": _traced_peak(lambda: pdf.render(f)),
        "csv": _traced_peak(lambda: _csv(f)),
    }
    echo(f"drill: {responders:,} responders, {len(f.notifications):,} notifications, "
         f"{len(f.answers):,} answers, {len(f.timeline):,} timeline events, "
         f"{len(f.never_answered):,} never answered (written in {setup:.1f} s)")  # fmt: skip
    echo(f"sizes: figures JSON {len(stored) / 2**20:.1f} MiB, HTML {len(page) / 2**20:.1f} MiB, "
         f"PDF {len(document) / 2**20:.1f} MiB, CSV {csv_bytes / 2**20:.1f} MiB")  # fmt: skip
    echo(f"reference: SELECT of every notification and answer row ({rows:,} rows): "
         f"median {ref:.3f} s over {runs} runs")  # fmt: skip
    for name, seconds in (("figures", t_fig), ("html", t_html), ("pdf", t_pdf), ("csv", t_csv)):
        echo(f"  {name:8} median {seconds:7.3f} s  {seconds / ref:6.1f}x the reference  "
             f"tracemalloc peak {peaks[name]:6.1f} MiB")  # fmt: skip
    echo(f"  a stored report read back (JSON to Figures): median {t_load:.3f} s")
    echo(f"process peak RSS {rss:.0f} MiB over the timed runs ({start_rss:.0f} MiB before "
         "the first: Python, Flask, SQLAlchemy, matplotlib, fpdf2, the drill written)")  # fmt: skip
    echo(f"report: {responders} responders, figures {t_fig:.2f} s, html {t_html:.2f} s, "
         f"pdf {t_pdf:.2f} s, csv {t_csv:.2f} s, peak {rss:.0f} MiB")  # fmt: skip


def _settings(url: str) -> Settings:
    return Settings(
        database_url=url, amqp_url="", amqp_prefix="", secret_key=secrets.token_urlsafe(32),
        public_url="http://127.0.0.1:5000", link_ttl_hours=24, tile_url="",
        tile_attribution="", twilio_auth_token="", cookie_secure=False,
    )  # fmt: skip
