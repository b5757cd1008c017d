"""Responsiveness published: opted-in agencies' drill figures per month, anonymised.

What it holds, per agency that opted in (Agency.publish_responsiveness) and per
calendar month (UTC) of the last MONTHS months: drills, responders notified,
answered rate and median time to answer. Nothing else: no names, numbers,
addresses, positions, incident titles or ids. Agencies that did not opt in are not
there at all.

Drills only (Incident.mode == "drill"), and real people only: simulated responders
(`tocsin drill city`) are a rehearsal, not an agency's responsiveness, so they are
left out, and a month whose drills reached nobody real is not listed. The figures
come from the summaries stored beside each drill's report (closed drills only).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.models import Agency, Incident, IncidentReport, as_utc, utcnow
from coordinator.reports.figures import median, rate

MONTHS = 12
# A month whose drills reached fewer real people than this shows its counts but no
# rate or time: with three people, "answered 67%" says what one of them did.
MIN_PEOPLE = 5
DEFINITIONS = {
    "drills": "Drills of the month that notified at least one of the agency's real "
    "(not simulated) responders.",
    "responders_notified": "Real responders notified, summed over the month's drills.",
    "answered_rate": "Responders who gave any answer / responders notified.",
    "median_time_to_answer_s": "Median, in seconds, over every answer: a responder's first "
    "answer to a drill's call-out minus their first notification of it.",
    "withheld": f"A month whose drills notified fewer than {MIN_PEOPLE} real responders gives "
    "no answered rate or time to answer (null), so that no one person's answer can be told.",
}

LABELS = {
    "drills": "Drills",
    "responders_notified": "Responders notified",
    "answered_rate": "Answered rate",
    "median_time_to_answer_s": "Median time to answer",
    "withheld": "Withheld",
}


@dataclass
class Month:
    month: str  # "2026-11"
    drills: int = 0
    responders_notified: int = 0
    answered: int = 0
    times: list[float] = field(default_factory=list)

    def public(self) -> dict[str, object]:
        withheld = self.responders_notified < MIN_PEOPLE
        middle = None if withheld else median(sorted(self.times))
        answered = None if withheld else rate(self.answered, self.responders_notified)
        return {
            "month": self.month,
            "drills": self.drills,
            "responders_notified": self.responders_notified,
            "answered_rate": _round(answered, 4),
            "median_time_to_answer_s": _round(middle, 1),
            "withheld": withheld,
        }


@dataclass
class PublishedAgency:
    slug: str
    name: str
    months: list[dict[str, object]]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def first_month(now: datetime, months: int = MONTHS) -> str:
    """The first month of the window ending with now's month."""
    year, month = now.year, now.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


def published(session: Session, now: datetime | None = None) -> list[PublishedAgency]:
    """Every opted-in agency (also one without drills yet), by name."""
    now = as_utc(now or utcnow())
    agencies = list(
        session.scalars(
            select(Agency).where(Agency.publish_responsiveness.is_(True)).order_by(Agency.name)
        )
    )
    if not agencies:
        return []
    start = first_month(now)
    per: dict[str, dict[str, Month]] = defaultdict(dict)
    slugs = {a.slug for a in agencies}
    query = (
        select(Incident.created_at, IncidentReport.summary)
        .join(IncidentReport, IncidentReport.incident_id == Incident.id)
        .where(Incident.mode == "drill", Incident.created_at >= now - timedelta(days=31 * MONTHS))
        .execution_options(yield_per=50)
    )
    for created_at, summary in session.execute(query):
        summary = summary or {}
        if summary.get("mode") != "drill":
            continue
        month = (summary.get("started_at") or as_utc(created_at).isoformat())[:7]
        if month < start:
            continue
        for slug, figures in summary.get("agencies", {}).items():
            if slug not in slugs or not figures.get("real_notified"):
                continue
            m = per[slug].setdefault(month, Month(month))
            m.drills += 1
            m.responders_notified += figures["real_notified"]
            m.answered += figures["real_answered"]
            m.times.extend(figures.get("real_tta_s", []))
    return [
        PublishedAgency(a.slug, a.name, [per[a.slug][k].public() for k in sorted(per[a.slug])])
        for a in agencies
    ]


def document(agencies: list[PublishedAgency], now: datetime | None = None) -> dict[str, object]:
    """The JSON the public pages serve."""
    now = as_utc(now or utcnow())
    return {
        "about": "Drill responsiveness of the agencies that chose to publish it: anonymised "
        "monthly aggregates of real responders (simulated ones excluded). Live incidents "
        "are never included.",
        "generated_at": now.isoformat(timespec="seconds"),
        "months": {"from": first_month(now), "to": f"{now.year:04d}-{now.month:02d}"},
        "definitions": DEFINITIONS,
        "agencies": [asdict(a) for a in agencies],
    }
