"""Stored reports: built by a hub loop as incidents close; drafts computed on the fly.

The loop's only state is the database: an incident is due when it is closed and has
no IncidentReport, or one built before it closed (or of an older format). So a crash
or restart between the close and the build loses nothing, and the next pass
builds it. The figures are computed outside the write transaction (a big drill
takes a second and must not hold SQLite's write lock); the write then checks again
that the report is still due, so two hubs (or a restart mid-build) store it and
audit "report.built" exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import gevent
from gevent.event import Event
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.env import env_float
from coordinator.context import Tocsin
from coordinator.db import Database
from coordinator.models import Incident, IncidentReport, as_utc, utcnow
from coordinator.reports.compute import build_figures
from coordinator.reports.figures import FORMAT, Figures
from coordinator.services import audit

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0
ACTOR = "system:reports"

State = Literal["stored", "draft", "unstored"]


@dataclass
class Loaded:
    figures: Figures
    # stored: the report built when the incident closed; draft: the incident is still
    # open (figures will change); unstored: closed, but the hub has not stored it yet
    state: State


def due_ids(session: Session, limit: int = 20) -> list[int]:
    """Closed incidents whose report is missing or older than their closing."""
    query = (
        select(Incident.id)
        .outerjoin(IncidentReport, IncidentReport.incident_id == Incident.id)
        .where(
            Incident.status == "closed",
            or_(
                IncidentReport.id.is_(None),
                IncidentReport.built_at < Incident.closed_at,
                IncidentReport.format != FORMAT,
            ),
        )
        .order_by(Incident.closed_at, Incident.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def build_and_store(db: Database, incident_id: int, pause=lambda: None) -> bool:  # type: ignore[no-untyped-def]
    """Compute and store one closed incident's report; False when it was not due
    (anymore), e.g. another hub stored it first."""
    figures = build_figures(db.session, incident_id, pause=pause)
    db.session.rollback()  # end the read: the write below starts afresh
    if figures is None or figures.draft:
        return False
    try:
        with db.write() as session:
            incident = session.scalars(
                select(Incident).where(Incident.id == incident_id).with_for_update()
            ).one()
            report = session.scalar(
                select(IncidentReport).where(IncidentReport.incident_id == incident_id)
            )
            if report is not None and not _stale(report, incident):
                return False
            now = utcnow()
            rebuilt = report is not None
            if report is None:
                report = IncidentReport(incident_id=incident_id)
                session.add(report)
            report.built_at = now
            report.format = FORMAT
            report.figures = figures.to_json()
            report.summary = figures.summary
            audit.record(
                session, ACTOR, "report.built", incident_id,
                notifications=len(figures.notifications), answers=len(figures.answers),
                rebuilt=rebuilt,
            )  # fmt: skip
    except IntegrityError:  # another hub inserted it between our check and our insert
        return False
    return True


def _stale(report: IncidentReport, incident: Incident) -> bool:
    closed = incident.closed_at
    return report.format != FORMAT or closed is None or as_utc(report.built_at) < as_utc(closed)


def load(session: Session, incident: Incident, pause=lambda: None) -> Loaded:  # type: ignore[no-untyped-def]
    """The figures a reader gets: the stored report of a closed incident, else
    computed now (a draft while the incident is open)."""
    if incident.status == "closed":
        report = session.scalar(
            select(IncidentReport).where(IncidentReport.incident_id == incident.id)
        )
        if report is not None and not _stale(report, incident):
            return Loaded(Figures.from_json(report.figures), "stored")
    figures = build_figures(session, incident.id, pause=pause)
    assert figures is not None
    return Loaded(figures, "draft" if figures.draft else "unstored")


class ReportBuilder:
    """The hub loop (background.py starts it)."""

    def __init__(self, t: Tocsin, poll: float | None = None) -> None:
        self.db = t.db
        self.poll = poll or env_float("TOCSIN_REPORT_POLL_SECONDS", POLL_SECONDS)

    def run(self, stop: Event) -> None:
        while not stop.is_set():
            try:
                self.build_due()
            except Exception:
                log.exception("reports: unexpected error; retrying")
            finally:
                self.db.remove()
            stop.wait(self.poll)

    def build_due(self) -> int:
        """Build every report that is due; returns how many were stored."""
        stored = 0
        for incident_id in due_ids(self.db.session):
            try:
                # yield to the hub's other greenlets while a big drill's rows stream past
                if build_and_store(self.db, incident_id, pause=lambda: gevent.sleep(0)):
                    stored += 1
                    log.info("reports: stored the report of incident %d", incident_id)
            except Exception:  # one incident's failure must not hold back the others'
                log.exception("reports: incident %d: report not built; retrying", incident_id)
                self.db.session.rollback()
        return stored
