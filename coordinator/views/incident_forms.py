"""The declare form's fields as an IncidentForm, shared by the declare page and the
first-alert page of an incident opened with nobody alerted (a CAP import)."""

from __future__ import annotations

from coordinator.models import Incident
from coordinator.services.alerts import IncidentForm


def incident_form(form, incident: Incident | None = None) -> IncidentForm:  # type: ignore[no-untyped-def]
    """The posted message and targeting; the incident's own fields (title, kind,
    severity, place, mode, origin) from `incident` when it exists already."""
    if incident is not None:
        described = {
            "title": incident.title, "kind": incident.kind, "severity": incident.severity,
            "lat": str(incident.lat), "lon": str(incident.lon), "mode": incident.mode,
            "origin": incident.origin,
        }  # fmt: skip
    else:
        described = {
            "title": form.get("title", ""), "kind": form.get("kind", ""),
            "severity": form.get("severity", ""), "lat": form.get("lat", ""),
            "lon": form.get("lon", ""), "mode": form.get("mode", "live"),
        }  # fmt: skip
    return IncidentForm(
        **described,
        message=form.get("message", ""),
        agency_slugs=form.getlist("agencies"),
        channels=form.getlist("channels"),
        team_ids=form.getlist("teams"),
        skills=[s for s in form.get("skills", "").replace(";", ",").split(",") if s.strip()],
        on_duty_only=form.get("duty", "on") != "all",
        radius_m=form.get("radius_m", "").strip(),
        quorum=form.get("quorum", ""),
        quorum_minutes=form.get("quorum_minutes", ""),
    )
