"""Drills compared: an agency's last drills side by side, from their stored reports.

Only drills (Incident.mode == "drill") with a stored report, so a live incident's
figures never appear here; each drill's figures are that agency's own within it
(the summary stored beside the report, coordinator/reports/compute.py), never a
whole-incident figure. A drill still open has no stored report yet and is left out
until it closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.models import DrillSchedule, Incident, IncidentReport, as_utc
from coordinator.reports import formatting as fmt
from coordinator.reports.charts import TrendPoint
from coordinator.reports.tables import Table

DEFAULT_LAST = 12
MAX_LAST = 100


@dataclass
class DrillRow:
    incident_id: int
    at: str  # the first alert (the drill's declaration when it has none)
    title: str
    schedule: str | None
    notified: int
    simulated: int
    answered: int
    answered_rate: float | None
    median_tta_s: float | None


def last_drills(session: Session, slug: str, last: int = DEFAULT_LAST) -> list[DrillRow]:
    """The agency's `last` most recent drills with a report, newest first."""
    query = (
        select(Incident.id, Incident.title, Incident.created_at, DrillSchedule.name,
               IncidentReport.summary)
        .join(IncidentReport, IncidentReport.incident_id == Incident.id)
        .outerjoin(DrillSchedule, Incident.drill_schedule_id == DrillSchedule.id)
        .where(Incident.mode == "drill")
        .order_by(Incident.created_at.desc(), Incident.id.desc())
        .execution_options(yield_per=50)
    )  # fmt: skip
    rows: list[DrillRow] = []
    with session.execute(query) as result:  # closed early: a server-side cursor on PostgreSQL
        for incident_id, title, created_at, schedule, summary in result:
            figures = (summary or {}).get("agencies", {}).get(slug)
            if not figures or summary.get("mode") != "drill":
                continue  # the agency took no part (or an old report without a summary)
            rows.append(
                DrillRow(
                    incident_id,
                    summary.get("started_at") or as_utc(created_at).isoformat(),
                    title, schedule, figures["notified"], figures["simulated"],
                    figures["answered"], figures["answered_rate"], figures["median_tta_s"],
                )
            )  # fmt: skip
            if len(rows) >= last:
                break
    return rows


def table(rows: list[DrillRow]) -> Table:
    return Table(
        "drills", "Drills, newest first",
        ["Date (UTC)", "Drill", "Schedule", "Notified", "Simulated", "Answered",
         "Answered rate", "Median time to answer"],
        ["at", "title", "schedule", "notified", "simulated", "answered", "answered_rate",
         "median_tta"],
        [[fmt.when(r.at), r.title, r.schedule or fmt.NONE, fmt.count(r.notified),
          fmt.count(r.simulated), fmt.count(r.answered), fmt.percent(r.answered_rate),
          fmt.duration(r.median_tta_s)] for r in rows],
        [str(r.incident_id) for r in rows], numeric=frozenset({3, 4, 5, 6, 7}),
    )  # fmt: skip


def trend_points(rows: list[DrillRow]) -> list[TrendPoint]:
    """Oldest first, as a trend reads."""
    return [
        TrendPoint(f"{fmt.day(r.at)} #{r.incident_id}", r.answered_rate, r.median_tta_s)
        for r in reversed(rows)
    ]
