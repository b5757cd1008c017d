"""The small per-agency figures stored beside a report (IncidentReport.summary), for
drills compared and the public responsiveness page: they never parse whole reports.

Real people's times to answer are kept apart from simulated responders', because
the public page counts only real people.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from coordinator.reports.figures import Figures
from coordinator.reports.tally import Person


def summary(figures: Figures, people: dict[int, Person], answered: set[int]) -> dict:
    real_tta: dict[str, list[float]] = defaultdict(list)
    for row in figures.answers:
        if row.first and row.alert_kind == "alert" and not row.simulated:
            person = people.get(row.responder_id)
            real_tta[person.agency if person else ""].append(
                round(row.seconds_since_notified or 0.0, 1)
            )
    real_notified: Counter[str] = Counter()
    real_answered: Counter[str] = Counter()
    for rid, p in people.items():
        if not p.simulated:
            real_notified[p.agency] += 1
            real_answered[p.agency] += rid in answered
    agencies = {}
    for t in figures.agencies:
        agencies[t.key] = {
            "name": t.name, "notified": t.responders, "simulated": t.simulated,
            "answered": t.answered, "answered_rate": t.answered_rate,
            "median_tta_s": t.time_to_answer.median,
            "real_notified": real_notified[t.key], "real_answered": real_answered[t.key],
            "real_tta_s": sorted(real_tta[t.key]),
        }  # fmt: skip
    return {"mode": figures.incident.mode, "started_at": figures.started_at, "agencies": agencies}
