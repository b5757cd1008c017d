"""Escalation policies: every signed-in user reads them; an admin edits any
agency's, an agency coordinator only its own (coordinator/permissions.py,
"policies.view" and "policies.edit"). The list is public to every role, so
another agency's edit page answers 403, not the rosters' 404.

Also the board's escalation section: the quorum and the next step of each
escalation, rendered with the board (template global `board_escalation`) and
as JSON for the page to fetch after it joined the live room.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import CHANNEL_LABELS, Agency, EscalationStep, Incident
from coordinator.services import escalation, quorum
from coordinator.views.auth import permission_required

bp = Blueprint("policies", __name__)
BLANK_ROWS = 3  # empty rows offered under the steps, to add steps without JavaScript
STEP_FIELD = re.compile(r"^steps-(\d{1,3})-(delay|channels|target)$")


@bp.get("/policies")
@permission_required("policies.view")
def index():  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    agencies = session.scalars(select(Agency).order_by(Agency.name)).all()
    names = {a.slug: a.name for a in agencies}
    rows = [(a, escalation.policy_of(session, a.id), _may_edit(a)) for a in agencies]
    return render_template(
        "policies/index.html",
        rows=rows,
        describe=lambda step: escalation.describe(step, names),
    )


@bp.route("/policies/<slug>", methods=["GET", "POST"])
@permission_required("policies.edit")
def edit(slug: str):  # type: ignore[no-untyped-def]
    agency = _agency(slug)
    if not _may_edit(agency):
        abort(403)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        errors = _save(agency, form)
        if not errors:
            flash(f"Escalation policy of {agency.name} saved.")
            return redirect(url_for("policies.index"))
        rows = [r for r in _step_rows(form) if not r.blank]  # numbered as the errors are
        name, active = form.get("name", ""), form.get("active") == "on"
    else:
        policy = escalation.policy_of(tocsin().db.session, agency.id)
        rows = [_as_row(s) for s in policy.steps] if policy else []
        name = policy.name if policy else f"{agency.name} escalation"
        active = policy.active if policy else True
    return render_template(
        "policies/edit.html",
        agency=agency,
        name=name,
        active=active,
        rows=_padded(rows),
        channels=CHANNEL_LABELS,
        targets=_targets(agency),
        errors=errors,
        max_steps=escalation.MAX_STEPS,
    ), 400 if errors else 200


def _save(agency: Agency, form) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Save the posted policy; the errors when nothing was saved."""
    try:
        steps = escalation.parse_steps(_step_rows(form))
        with tocsin().db.write() as session:
            escalation.save_policy(
                session, agency, form.get("name", ""), form.get("active") == "on", steps,
                f"user:{current_user.username}",
            )  # fmt: skip
    except ValidationError as exc:
        return exc.errors
    return {}


@bp.get("/incidents/<int:incident_id>/escalation")
@permission_required("incidents.view")
def incident_state(incident_id: int):  # type: ignore[no-untyped-def]
    """The board section's state, fetched after joining the room so nothing is missed."""
    if tocsin().db.session.get(Incident, incident_id) is None:
        abort(404)
    return jsonify(board_escalation(incident_id))


@bp.app_template_global()
def board_escalation(incident_id: int) -> dict[str, list[dict[str, object]]]:
    """Quorum lines and escalation lines of an incident, for the board."""
    session = tocsin().db.session
    return {
        "quorums": quorum.for_incident(session, incident_id),
        "escalations": escalation.for_incident(session, incident_id),
    }


def _may_edit(agency: Agency) -> bool:
    """Admins edit every agency's policy, coordinators their own agency's only."""
    return permissions.can(current_user, "policies.edit", agency.id)


def _agency(slug: str) -> Agency:
    found = tocsin().db.session.scalars(select(Agency).where(Agency.slug == slug)).first()
    if found is None:
        abort(404)
    return found


def _step_rows(form) -> list[escalation.StepForm]:  # type: ignore[no-untyped-def]
    """The form's step rows in their order on the page: steps-<i>-delay (minutes),
    steps-<i>-channels (checkboxes), steps-<i>-target."""
    indices = sorted({int(m.group(1)) for key in form if (m := STEP_FIELD.match(key))})
    return [
        escalation.StepForm(
            delay_minutes=form.get(f"steps-{i}-delay", ""),
            channels=form.getlist(f"steps-{i}-channels"),
            target=form.get(f"steps-{i}-target", escalation.SAME),
        )
        for i in indices
    ]


def _as_row(step: EscalationStep) -> escalation.StepForm:
    return escalation.StepForm(f"{step.delay_seconds / 60:g}", list(step.channels), step.target)


def _padded(rows: list[escalation.StepForm]) -> list[escalation.StepForm]:
    room = max(0, escalation.MAX_STEPS - len(rows))
    return rows + [escalation.StepForm("")] * min(BLANK_ROWS, room)


def _targets(agency: Agency) -> list[tuple[str, str]]:
    others = tocsin().db.session.scalars(
        select(Agency).where(Agency.id != agency.id).order_by(Agency.name)
    )
    return [
        (escalation.SAME, escalation.target_label(escalation.SAME)),
        (escalation.BACKUP, escalation.target_label(escalation.BACKUP)),
        *((f"{escalation.AGENCY}{a.slug}", a.name) for a in others),
    ]
