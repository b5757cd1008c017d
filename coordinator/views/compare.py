"""Drills compared, per agency, and the agency's choice to publish its responsiveness.

/agencies lists the agencies the user may look at (a coordinator: their own);
/agencies/<slug>/drills puts that agency's last drills side by side. Another
agency's page is a 404 for a coordinator, as everywhere (coordinator/permissions.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.models import Agency
from coordinator.reports import charts, compare
from coordinator.services import audit
from coordinator.views.auth import permission_required

bp = Blueprint("compare", __name__, url_prefix="/agencies")
PUBLISH_VALUES = {"1": True, "0": False}


def _agency(slug: str, action: str = "drills.compare") -> Agency:
    agency = tocsin().db.session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None or not permissions.can(current_user, action, agency.id):
        abort(404)  # another agency's page does not exist for a coordinator
    return agency


@bp.get("")
@permission_required("drills.compare")
def index():  # type: ignore[no-untyped-def]
    agencies = [
        a
        for a in tocsin().db.session.scalars(select(Agency).order_by(Agency.name))
        if permissions.can(current_user, "drills.compare", a.id)
    ]
    return render_template("reports/agencies.html", agencies=agencies)


def _last() -> int | None:
    """?last=N, 1..MAX_LAST; None when it is not a whole number in range."""
    raw = request.args.get("last", str(compare.DEFAULT_LAST)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= compare.MAX_LAST:
        return None
    return int(raw)


@bp.get("/<slug>/drills")
@permission_required("drills.compare")
def drills(slug: str):  # type: ignore[no-untyped-def]
    agency = _agency(slug)
    last = _last()
    if last is None:
        message = f"last: a whole number of drills from 1 to {compare.MAX_LAST}."
        return render_template("error.html", title="Bad request", message=message), 400
    rows = compare.last_drills(tocsin().db.session, agency.slug, last)
    chart = charts.trend(agency.name, compare.trend_points(rows))
    return render_template(
        "reports/compare.html",
        agency=agency,
        last=last,
        table=compare.table(rows),
        chart=chart,
        chart_src=url_for(".trend", slug=agency.slug, last=last),
        can_publish=permissions.can(current_user, "responsiveness.publish", agency.id),
    )


@bp.get("/<slug>/drills/trend.svg")
@permission_required("drills.compare")
def trend(slug: str):  # type: ignore[no-untyped-def]
    agency = _agency(slug)
    last = _last()
    if last is None:
        abort(400)
    rows = compare.last_drills(tocsin().db.session, agency.slug, last)
    svg = charts.trend(agency.name, compare.trend_points(rows)).svg()
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


@bp.post("/<slug>/publish")
@permission_required("responsiveness.publish")
def publish(slug: str):  # type: ignore[no-untyped-def]
    """Opt in to the public responsiveness page, or out of it; audited."""
    agency = _agency(slug, "responsiveness.publish")
    raw = request.form.get("publish", "")
    if raw not in PUBLISH_VALUES:
        message = "publish: 1 to publish the agency's drill responsiveness, 0 to stop."
        return render_template("error.html", title="Bad request", message=message), 400
    wanted = PUBLISH_VALUES[raw]
    with tocsin().db.write() as session:
        row = session.get(Agency, agency.id)
        assert row is not None
        if row.publish_responsiveness != wanted:
            row.publish_responsiveness = wanted
            audit.record(
                session, f"user:{current_user.username}", "agency.publish_responsiveness",
                agency=row.slug, published=wanted,
            )  # fmt: skip
    flash(
        f"{agency.name}'s drill responsiveness is "
        + ("now published." if wanted else "no longer published.")
    )
    return redirect(url_for(".drills", slug=agency.slug))
