"""Tocsin's words <-> CAP's, both ways (docs/cap.md has the tables).

Chosen so that an export imported again gives back the same kind and severity.
"""

from __future__ import annotations

from collections.abc import Sequence

# incident kind -> CAP categories written on export
KIND_CATEGORIES: dict[str, list[str]] = {
    "fire": ["Fire"],
    "chemical": ["CBRNE"],
    "flood": ["Met"],
    "collision": ["Transport"],
    "mass_casualty": ["Health", "Rescue"],
    "storm": ["Met"],
    "other": ["Other"],
}
# incident kind -> <event> written on export (an imported incident keeps its own event)
KIND_EVENTS: dict[str, str] = {
    "fire": "Fire",
    "chemical": "Chemical incident",
    "flood": "Flood",
    "collision": "Collision",
    "mass_casualty": "Mass casualty incident",
    "storm": "Storm",
    "other": "Incident",
}
# On import, the first of these categories the document names gives the kind;
# none of them: "other". Met is a storm unless the event says flood.
CATEGORY_KINDS: list[tuple[str, str]] = [
    ("CBRNE", "chemical"),
    ("Fire", "fire"),
    ("Health", "mass_casualty"),
    ("Transport", "collision"),
    ("Met", "storm"),
]
SEVERITY_TO_CAP = {
    "minor": "Minor",
    "moderate": "Moderate",
    "major": "Severe",
    "critical": "Extreme",
}
# CAP "Unknown" is read as moderate: someone must look, nobody is told it is minor.
SEVERITY_FROM_CAP = {v: k for k, v in SEVERITY_TO_CAP.items()} | {"Unknown": "moderate"}


def kind_for(categories: Sequence[str], event: str) -> str:
    if "flood" in event.lower():
        return "flood"
    for category, kind in CATEGORY_KINDS:
        if category in categories:
            return kind
    return "other"


def severity_for(cap_severity: str) -> str:
    return SEVERITY_FROM_CAP.get(cap_severity, "moderate")
