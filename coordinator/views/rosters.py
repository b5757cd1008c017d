"""Roster pages: agencies, teams, responders and their contact points (the CSV
import: views/roster_import.py).

Every route checks the role first (coordinator/permissions.py, 403) and then
the agency of the object named in the URL (404: a coordinator cannot even
learn which ids another agency has). A team or responder is looked up within
the agency of the URL, so /rosters/police/responders/<a fire responder> is a
404 for everyone.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import CHANNEL_LABELS, Agency, Responder, Team
from coordinator.services import rosters
from coordinator.views.auth import permission_required

bp = Blueprint("rosters", __name__, url_prefix="/rosters")
SHOWN = 500  # responders listed at once; a search narrows a larger roster


@bp.app_context_processor
def _permissions() -> dict:
    """`can('rosters.read')` in every template, so navigation follows the same table."""

    def can(action: str, agency_id: int | None = None) -> bool:
        return permissions.can(current_user, action, agency_id)

    return {"can": can}


@bp.app_errorhandler(RequestEntityTooLarge)
def _too_large(_e: Exception):  # type: ignore[no-untyped-def]
    limit = (request.max_content_length or 0) // (1024 * 1024)
    message = f"The upload is larger than {limit} MB; nothing was changed. Split the file."
    return render_template("error.html", title="File too large", message=message), 413


# --- agencies ---------------------------------------------------------------


@bp.get("")
@permission_required("rosters.read")
def index():  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    agencies = [
        a
        for a in session.scalars(select(Agency).order_by(Agency.name))
        if permissions.can(current_user, "rosters.read", a.id)
    ]
    sizes = dict(
        session.execute(
            select(Responder.agency_id, func.count()).group_by(Responder.agency_id)
        ).all()
    )
    return render_template("rosters/index.html", agencies=agencies, sizes=sizes)


@bp.route("/new", methods=["GET", "POST"])
@permission_required("agencies.manage")
def new_agency():  # type: ignore[no-untyped-def]
    return _agency_form(None)


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@permission_required("agencies.manage")
def edit_agency(slug: str):  # type: ignore[no-untyped-def]
    return _agency_form(slug)


def _agency_form(slug: str | None):  # type: ignore[no-untyped-def]
    t = tocsin()
    agency = agency_or_404(t.db.session, slug, "agencies.manage") if slug else None
    form = request.form if request.method == "POST" else _fields(agency, "slug", "name")
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = rosters.AgencyForm(slug=form.get("slug", ""), name=form.get("name", ""))
        try:
            with t.db.write() as session:
                target = agency_or_404(session, slug, "agencies.manage") if slug else None
                saved = rosters.save_agency(session, data, actor(), target)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Agency {saved.name} saved.")
            return redirect(url_for("rosters.agency", slug=saved.slug))
    return render_template(
        "rosters/agency_form.html", agency=agency, form=form, errors=errors
    ), 400 if errors else 200


@bp.get("/<slug>")
@permission_required("rosters.read")
def agency(slug: str):  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    agency = agency_or_404(session, slug, "rosters.read")
    query = request.args.get("q", "").strip()
    found = select(Responder).where(Responder.agency_id == agency.id)
    if query:
        found = found.where(func.lower(Responder.name).contains(query.lower(), autoescape=True))
    # `tocsin drill city` may add thousands of simulated responders: they can be left out.
    sim = request.args.get("sim", "")
    if sim in ("hide", "only"):
        found = found.where(Responder.simulated.is_(sim == "only"))
    simulated = session.scalar(
        select(func.count()).where(Responder.agency_id == agency.id, Responder.simulated.is_(True))
    )
    total = session.scalar(select(func.count()).select_from(found.subquery()))
    responders = session.scalars(
        found.options(selectinload(Responder.contact_points), selectinload(Responder.team))
        .order_by(Responder.name, Responder.id)
        .limit(SHOWN)
    ).all()
    members = dict(
        session.execute(
            select(Responder.team_id, func.count())
            .where(Responder.agency_id == agency.id)
            .group_by(Responder.team_id)
        ).all()
    )
    return render_template(
        "rosters/agency.html",
        agency=agency,
        teams=_teams(session, agency),
        members=members,
        responders=responders,
        total=total,
        query=query,
        sim=sim,
        simulated=simulated,
        shown=SHOWN,
        can_write=permissions.can(current_user, "rosters.write", agency.id),
        channels=CHANNEL_LABELS,
    )


# --- teams ------------------------------------------------------------------


@bp.route("/<slug>/teams/new", methods=["GET", "POST"])
@permission_required("rosters.write")
def new_team(slug: str):  # type: ignore[no-untyped-def]
    return _team_form(slug, None)


@bp.route("/<slug>/teams/<int:team_id>", methods=["GET", "POST"])
@permission_required("rosters.write")
def edit_team(slug: str, team_id: int):  # type: ignore[no-untyped-def]
    return _team_form(slug, team_id)


@bp.post("/<slug>/teams/<int:team_id>/delete")
@permission_required("rosters.write")
def delete_team(slug: str, team_id: int):  # type: ignore[no-untyped-def]
    try:
        with tocsin().db.write() as session:
            team = _team(session, agency_or_404(session, slug, "rosters.write"), team_id)
            name = team.name
            rosters.delete_team(session, team, actor())
    except ValidationError as exc:
        return _refused(exc, slug)
    flash(f"Team {name} deleted.")
    return redirect(url_for("rosters.agency", slug=slug))


def _team_form(slug: str, team_id: int | None):  # type: ignore[no-untyped-def]
    t = tocsin()
    agency = agency_or_404(t.db.session, slug, "rosters.write")
    team = _team(t.db.session, agency, team_id) if team_id is not None else None
    form = request.form if request.method == "POST" else _team_fields(team)
    errors: dict[str, str] = {}
    if request.method == "POST":
        data = rosters.TeamForm(form.get("name", ""), form.get("backup_team_id", ""))
        try:
            with t.db.write() as session:
                here = agency_or_404(session, slug, "rosters.write")
                target = _team(session, here, team_id) if team_id is not None else None
                saved = rosters.save_team(session, here, data, actor(), target)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"Team {saved.name} saved.")
            return redirect(url_for("rosters.agency", slug=slug))
    return render_template(
        "rosters/team_form.html",
        agency=agency,
        team=team,
        teams=[x for x in _teams(t.db.session, agency) if team is None or x.id != team.id],
        form=form,
        errors=errors,
    ), 400 if errors else 200


def _team_fields(team: Team | None) -> dict[str, str]:
    if team is None:
        return {}
    return {"name": team.name, "backup_team_id": str(team.backup_team_id or "")}


# --- responders -------------------------------------------------------------


@bp.route("/<slug>/responders/new", methods=["GET", "POST"])
@permission_required("rosters.write")
def new_responder(slug: str):  # type: ignore[no-untyped-def]
    return _responder_form(slug, None)


@bp.route("/<slug>/responders/<int:responder_id>", methods=["GET", "POST"])
@permission_required("rosters.write")
def edit_responder(slug: str, responder_id: int):  # type: ignore[no-untyped-def]
    return _responder_form(slug, responder_id)


@bp.post("/<slug>/responders/<int:responder_id>/delete")
@permission_required("rosters.write")
def delete_responder(slug: str, responder_id: int):  # type: ignore[no-untyped-def]
    try:
        with tocsin().db.write() as session:
            here = agency_or_404(session, slug, "rosters.write")
            responder = _responder(session, here, responder_id)
            name = responder.name
            rosters.delete_responder(session, responder, actor())
    except ValidationError as exc:
        return _refused(exc, slug)
    flash(f"{name} deleted.")
    return redirect(url_for("rosters.agency", slug=slug))


@bp.post("/<slug>/responders/<int:responder_id>/duty")
@permission_required("rosters.write")
def duty(slug: str, responder_id: int):  # type: ignore[no-untyped-def]
    """Set on duty (on_duty=1) or off duty (on_duty=0) in one click from the roster."""
    wanted = request.form.get("on_duty", "")
    if wanted not in ("0", "1"):
        message = "Say on_duty=1 (on duty) or on_duty=0 (off duty); nothing was changed."
        return render_template("error.html", title="Not changed", message=message), 400
    with tocsin().db.write() as session:
        responder = _responder(session, agency_or_404(session, slug, "rosters.write"), responder_id)
        rosters.set_on_duty(session, responder, wanted == "1", actor())
        flash(f"{responder.name} is {'on' if wanted == '1' else 'off'} duty.")
    return redirect(url_for("rosters.agency", slug=slug, q=request.args.get("q") or None))


def _responder_form(slug: str, responder_id: int | None):  # type: ignore[no-untyped-def]
    t = tocsin()
    agency = agency_or_404(t.db.session, slug, "rosters.write")
    responder = _responder(t.db.session, agency, responder_id) if responder_id is not None else None
    form = request.form if request.method == "POST" else _responder_fields(responder)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            data = _responder_data(form)
            with t.db.write() as session:
                here = agency_or_404(session, slug, "rosters.write")
                target = None if responder_id is None else _responder(session, here, responder_id)
                saved = rosters.save_responder(session, here, data, actor(), target)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"{saved.name} saved.")
            return redirect(url_for("rosters.agency", slug=slug))
    return render_template(
        "rosters/responder_form.html",
        agency=agency,
        responder=responder,
        teams=_teams(t.db.session, agency),
        form=form,
        rows=_point_rows(form),
        channels=CHANNEL_LABELS,
        errors=errors,
    ), 400 if errors else 200


def _responder_data(form) -> rosters.ResponderForm:  # type: ignore[no-untyped-def]
    """The form's fields; contact point rows sorted by their order numbers, empty rows
    left out."""
    ordered: list[tuple[int, int, tuple[str, str]]] = []
    for i in range(rosters.MAX_POINTS):
        address = form.get(f"address-{i}", "").strip()
        if not address:
            continue
        order = form.get(f"order-{i}", "").strip() or str(i + 1)
        if not order.isdigit():
            raise ValidationError({"points": f"Order must be a number, not {order!r}."})
        ordered.append((int(order), i, (form.get(f"channel-{i}", ""), address)))
    return rosters.ResponderForm(
        name=form.get("name", ""),
        team_id=form.get("team_id", ""),
        skills=form.get("skills", ""),
        on_duty=form.get("on_duty") in ("1", "on", "yes"),
        language=form.get("language", ""),
        lat=form.get("lat", ""),
        lon=form.get("lon", ""),
        points=[point for _, _, point in sorted(ordered)],
    )


def _responder_fields(responder: Responder | None) -> dict[str, str]:
    if responder is None:
        return {"on_duty": "1", "language": "en", "channel-0": "sms"}
    fields = {
        "name": responder.name,
        "team_id": str(responder.team_id or ""),
        "skills": ", ".join(responder.skills or []),
        "on_duty": "1" if responder.on_duty else "",
        "language": responder.language,
        "lat": "" if responder.lat is None else str(responder.lat),
        "lon": "" if responder.lon is None else str(responder.lon),
    }
    for i, point in enumerate(responder.contact_points):
        fields |= {f"channel-{i}": point.channel, f"address-{i}": point.address}
        fields[f"order-{i}"] = str(i + 1)
    return fields


def _point_rows(form) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The contact point rows the form shows: those filled in and two empty ones."""
    filled = [i for i in range(rosters.MAX_POINTS) if form.get(f"address-{i}")]
    count = min(rosters.MAX_POINTS, max(filled, default=-1) + 3)
    return [
        {
            "index": str(i),
            "channel": form.get(f"channel-{i}", ""),
            "address": form.get(f"address-{i}", ""),
            "order": form.get(f"order-{i}", "") or str(i + 1),
        }
        for i in range(count)
    ]


# --- lookups: the agency's objects or 404 ----------------------------------


def agency_or_404(session: Session, slug: str, action: str) -> Agency:
    """The agency of the URL, if the user may do `action` to it; else 404."""
    agency = session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None or not permissions.can(current_user, action, agency.id):
        abort(404)
    return agency


def _team(session: Session, agency: Agency, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.agency_id != agency.id:
        abort(404)
    return team


def _responder(session: Session, agency: Agency, responder_id: int) -> Responder:
    responder = session.get(Responder, responder_id)
    if responder is None or responder.agency_id != agency.id:
        abort(404)
    return responder


def _teams(session: Session, agency: Agency) -> list[Team]:
    return list(
        session.scalars(
            select(Team)
            .where(Team.agency_id == agency.id)
            .options(selectinload(Team.backup_team))
            .order_by(Team.name)
        )
    )


def _fields(obj, *names: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {n: getattr(obj, n) for n in names} if obj is not None else {}


def _refused(exc: ValidationError, slug: str):  # type: ignore[no-untyped-def]
    message = " ".join(exc.errors.values())
    return render_template("rosters/refused.html", message=message, slug=slug), 409


def actor() -> str:
    return f"user:{current_user.username}"
