"""Roster CSV import: a dry run checks every row and changes nothing; only a clean
dry run offers Import, which checks the same file again and writes all of it in
one transaction (services/roster_csv.py). The checked file travels signed in the
form, so nothing is kept on the server between the two."""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from coordinator.context import tocsin
from coordinator.models import Agency
from coordinator.services import roster_csv
from coordinator.views.auth import permission_required
from coordinator.views.rosters import actor, agency_or_404

bp = Blueprint("roster_import", __name__, url_prefix="/rosters")
STAGED_SALT = "tocsin.roster-import"
STAGED_MAX_AGE = 3600  # seconds between a clean dry run and its import


@bp.route("/<slug>/import", methods=["GET", "POST"])
@permission_required("rosters.write")
def import_csv(slug: str):  # type: ignore[no-untyped-def]
    """A dry run checks every row and changes nothing; only a clean dry run offers
    Import, which checks the same file again and writes all of it in one transaction."""
    t = tocsin()
    agency = agency_or_404(t.db.session, slug, "rosters.write")
    if request.method == "GET":
        return _import_page(agency)
    if request.form.get("action") == "import":
        return _import(slug)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(agency, missing="Choose a CSV file to check."), 400
    data = upload.read(roster_csv.MAX_BYTES + 1)
    plan = _plan_or_too_large(t.db.session, agency, data)
    staged = _stage(slug, data) if plan.clean else None
    return _import_page(agency, plan, staged, upload.filename), 200 if plan.clean else 400


@bp.get("/<slug>/import/template.csv")
@permission_required("rosters.write")
def import_template(slug: str):  # type: ignore[no-untyped-def]
    agency = agency_or_404(tocsin().db.session, slug, "rosters.write")
    return Response(
        roster_csv.template_csv(agency),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{agency.slug}-roster.csv"'},
    )


def _import(slug: str):  # type: ignore[no-untyped-def]
    t = tocsin()
    data = _unstage(slug, request.form.get("staged", ""))
    if data is None:
        agency = agency_or_404(t.db.session, slug, "rosters.write")
        expired = "This check has expired or was changed; check the file again."
        return _import_page(agency, missing=expired), 400
    with t.db.write() as session:
        agency = agency_or_404(session, slug, "rosters.write")
        plan = roster_csv.check(session, agency, data)  # the roster may have changed since
        if plan.clean:
            roster_csv.apply(session, agency, plan, actor())
    if not plan.clean:
        return _import_page(agency, plan), 400
    flash(f"Imported {plan.created} new and updated {plan.updated} responders.")
    return redirect(url_for("rosters.agency", slug=slug))


def _plan_or_too_large(session: Session, agency: Agency, data: bytes) -> roster_csv.Plan:
    if len(data) > roster_csv.MAX_BYTES:
        limit = roster_csv.MAX_BYTES // (1024 * 1024)
        return roster_csv.Plan(
            errors=[roster_csv.RowError(None, [f"The file is over {limit} MB."])]
        )
    return roster_csv.check(session, agency, data)


def _import_page(
    agency: Agency,
    plan: roster_csv.Plan | None = None,
    staged: str | None = None,
    filename: str = "",
    missing: str = "",
) -> str:
    return render_template(
        "rosters/import.html",
        agency=agency,
        plan=plan,
        staged=staged,
        filename=filename,
        missing=missing,
        columns=roster_csv.COLUMNS,
        max_rows=roster_csv.MAX_ROWS,
        max_mb=roster_csv.MAX_BYTES // (1024 * 1024),
    )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        tocsin().settings.secret_key,
        salt=STAGED_SALT,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def _stage(slug: str, data: bytes) -> str:
    """The checked file, signed for this agency and user, carried by the Import form
    (nothing is kept on the server between the dry run and the import)."""
    return _serializer().dumps({"a": slug, "u": current_user.id, "csv": data.decode("utf-8")})


def _unstage(slug: str, token: str) -> bytes | None:
    try:
        staged = _serializer().loads(token, max_age=STAGED_MAX_AGE)
    except BadSignature:
        return None
    if staged.get("a") != slug or staged.get("u") != current_user.id:
        return None
    return staged["csv"].encode("utf-8")
