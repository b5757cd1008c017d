"""CAP routing rules on the console (services/cap_rules.py): an admin sets any
agency's, an agency coordinator only their own ("cap.rules" in
coordinator/permissions.py; another agency's page and rules answer 404, as the
rosters do: a rule names teams and says how an agency is reached)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import CHANNEL_LABELS, Agency, CapRoutingRule, Team
from coordinator.services import cap_rules
from coordinator.services.alerts import DEFAULT_CHANNELS
from coordinator.views.auth import permission_required

bp = Blueprint("cap_rules", __name__, url_prefix="/cap/rules")


@bp.get("")
@permission_required("cap.rules")
def index():  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    agencies = [
        a
        for a in session.scalars(select(Agency).order_by(Agency.name))
        if permissions.can(current_user, "cap.rules", a.id)
    ]
    rules = {a.id: cap_rules.rules_of(session, a.id) for a in agencies}
    return render_template("cap/rules_index.html", agencies=agencies, rules=rules)


@bp.route("/<slug>", methods=["GET", "POST"])
@permission_required("cap.rules")
def agency_rules(slug: str):  # type: ignore[no-untyped-def]
    agency = _agency(slug)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = cap_rules.RuleForm(
            event=request.form.get("event", ""),
            team_id=request.form.get("team_id", ""),
            channels=request.form.getlist("channels"),
        )
        try:
            with tocsin().db.write() as session:
                rule = cap_rules.create(session, agency, form, _actor())
                said = cap_rules.describe(rule)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Rule made: {said}.")
            return redirect(url_for("cap_rules.agency_rules", slug=slug))
    return _page(agency, errors), 400 if errors else 200


@bp.post("/<slug>/<int:rule_id>/active")
@permission_required("cap.rules")
def switch(slug: str, rule_id: int):  # type: ignore[no-untyped-def]
    active = request.form.get("active", "")
    if active not in ("0", "1"):
        return _page(_agency(slug), {"active": "Switch a rule on (1) or off (0)."}), 400
    with tocsin().db.write() as session:
        rule = _rule(session, slug, rule_id)
        cap_rules.set_active(session, rule, active == "1", _actor())
        said = f"Rule {cap_rules.describe(rule)} is {'on' if rule.active else 'off'}."
    flash(said)
    return redirect(url_for("cap_rules.agency_rules", slug=slug))


@bp.post("/<slug>/<int:rule_id>/delete")
@permission_required("cap.rules")
def delete(slug: str, rule_id: int):  # type: ignore[no-untyped-def]
    with tocsin().db.write() as session:
        rule = _rule(session, slug, rule_id)
        said = cap_rules.describe(rule)
        cap_rules.delete(session, rule, _actor())
    flash(f"Rule deleted: {said}.")
    return redirect(url_for("cap_rules.agency_rules", slug=slug))


def _page(agency: Agency, errors: dict[str, str]) -> str:
    session = tocsin().db.session
    return render_template(
        "cap/rules.html",
        agency=agency,
        rules=cap_rules.rules_of(session, agency.id),
        teams=session.scalars(select(Team).where(Team.agency_id == agency.id).order_by(Team.name)),
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        describe=cap_rules.describe,
        errors=errors,
        form=request.form if errors else {},
    )


def _agency(slug: str) -> Agency:
    """The agency, when the user may set its rules (404 otherwise, even if it exists)."""
    agency = tocsin().db.session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None or not permissions.can(current_user, "cap.rules", agency.id):
        abort(404)
    return agency


def _rule(session, slug: str, rule_id: int) -> CapRoutingRule:  # type: ignore[no-untyped-def]
    agency = _agency(slug)
    rule = session.get(CapRoutingRule, rule_id)
    if rule is None or rule.agency_id != agency.id:
        abort(404)
    return rule


def _actor() -> str:
    return f"user:{current_user.username}"
