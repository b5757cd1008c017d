"""Message templates per incident kind, with placeholders filled from the incident.

A commander under pressure should start from a tested wording ("Chemical
release at {location}: stay upwind") rather than a blank box. Placeholders are
checked when a template is saved, so a typo is caught by whoever writes the
template, not discovered in the middle of an incident.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.errors import ValidationError
from coordinator.models import INCIDENT_KINDS, Incident, Template

# Template kinds: an incident kind, or a follow-up that fits any incident.
FOLLOW_UP_KINDS = ("update", "stand_down")
TEMPLATE_KINDS = (*INCIDENT_KINDS, *FOLLOW_UP_KINDS)
PLACEHOLDERS = {
    "title": "the incident's title",
    "kind": "fire, flood, …",
    "severity": "minor … critical",
    "location": "latitude, longitude",
    "radius": "the targeted radius, e.g. 2 km (empty when none)",
    "incident_id": "the incident's number",
    "declared_at": "when it was declared (UTC)",
}
MAX_BODY = 1000
MAX_NAME = 120


@dataclass(frozen=True)
class TemplateForm:
    kind: str
    name: str
    body: str


def placeholders_of(body: str) -> list[str]:
    """The placeholder names in body; raises ValidationError for broken braces."""
    try:
        return [field for _, field, _, _ in string.Formatter().parse(body) if field is not None]
    except ValueError as exc:
        raise ValidationError(
            {"body": f"Braces do not match ({exc}); write {{{{ or }}}} for a literal brace."}
        ) from exc


def validate(form: TemplateForm) -> TemplateForm:
    errors: dict[str, str] = {}
    name, body = form.name.strip(), form.body.strip()
    if form.kind not in TEMPLATE_KINDS:
        errors["kind"] = f"Kind must be one of {', '.join(TEMPLATE_KINDS)}."
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"The name is longer than {MAX_NAME} characters."
    if not body:
        errors["body"] = "The template is empty."
    elif len(body) > MAX_BODY:
        errors["body"] = f"The template is longer than {MAX_BODY} characters."
    else:
        try:
            fields = placeholders_of(body)
        except ValidationError as exc:
            errors.update(exc.errors)
        else:
            unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
            if unknown:
                errors["body"] = (
                    f"Unknown placeholder {', '.join('{' + u + '}' for u in unknown)}; use "
                    f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}."
                )
    if errors:
        raise ValidationError(errors)
    return TemplateForm(form.kind, name, body)


def save(session: Session, form: TemplateForm, template: Template | None = None) -> Template:
    """Create (template None) or change a template; names are unique per kind."""
    form = validate(form)
    clash = session.scalar(
        select(Template.id).where(Template.kind == form.kind, Template.name == form.name)
    )
    if clash is not None and (template is None or clash != template.id):
        raise ValidationError({"name": f"A {form.kind} template named {form.name!r} exists."})
    if template is None:
        template = Template(kind=form.kind, name=form.name, body=form.body)
        session.add(template)
    else:
        template.kind, template.name, template.body = form.kind, form.name, form.body
    session.flush()
    return template


def values(incident: Incident | Mapping[str, object]) -> dict[str, str]:
    """Placeholder values from an incident, or from a form not yet declared."""
    if isinstance(incident, Mapping):
        get = incident.get
    else:
        get = lambda k, d=None: getattr(incident, k, d)  # noqa: E731
    radius = get("radius_m")
    declared = get("created_at")
    lat, lon = get("lat"), get("lon")
    try:
        location = f"{float(lat):.5f}, {float(lon):.5f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        location = ""
    try:
        radius_text = f"{float(radius) / 1000:g} km" if radius not in (None, "") else ""  # type: ignore[arg-type]
    except (TypeError, ValueError):
        radius_text = ""
    return {
        "title": str(get("title") or ""),
        "kind": str(get("kind") or "").replace("_", " "),
        "severity": str(get("severity") or ""),
        "location": location,
        "radius": radius_text,
        "incident_id": str(get("id") or ""),
        "declared_at": f"{declared:%Y-%m-%d %H:%M} UTC" if declared else "",
    }


def render(template: Template | str, incident: Incident | Mapping[str, object]) -> str:
    body = template.body if isinstance(template, Template) else template
    return body.format_map(values(incident))


def for_kind(session: Session, kind: str) -> list[Template]:
    return list(
        session.scalars(select(Template).where(Template.kind == kind).order_by(Template.name))
    )


DEMO_TEMPLATES = (
    ("chemical", "Chemical release",
     "Chemical release: {title}. Location {location}. Approach from upwind only; "
     "hazmat teams lead. Confirm availability."),
    ("fire", "Structure fire",
     "{severity} fire: {title} at {location}. All available crews respond. Confirm availability."),
    ("flood", "Flooding",
     "Flooding: {title} around {location} ({radius}). Boats and pumps to the staging area."),
    ("mass_casualty", "Mass casualty",
     "Mass casualty incident: {title} at {location}. Major incident declared; "
     "report to the casualty clearing station."),
    ("update", "Situation update", "Update on {title}: "),
    ("stand_down", "Stand down",
     "Stand down: {title}. No further action needed. Thank you for responding."),
)  # fmt: skip


def seed_demo_templates(session: Session) -> None:
    for kind, name, body in DEMO_TEMPLATES:
        session.add(Template(kind=kind, name=name, body=body))
