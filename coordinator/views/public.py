"""Pages anyone may read without signing in: drill responsiveness, published by opt-in.

No route here has login_required, and nothing here reads a person: the figures
are monthly aggregates of opted-in agencies' drills (coordinator/reports/public.py).
An agency that did not opt in is a 404, the same as one that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from coordinator.context import tocsin
from coordinator.reports import formatting as fmt
from coordinator.reports import public

bp = Blueprint("public", __name__, url_prefix="/public")


def _document() -> dict[str, object]:
    return public.document(public.published(tocsin().db.session))


@bp.get("/responsiveness")
def responsiveness():  # type: ignore[no-untyped-def]
    return render_template(
        "reports/public.html",
        doc=_document(),
        labels=public.LABELS,
        fmt=fmt,
        min_people=public.MIN_PEOPLE,
    )


@bp.get("/responsiveness.json")
def responsiveness_json():  # type: ignore[no-untyped-def]
    return _json(_document())


@bp.get("/responsiveness/<slug>.json")
def agency_json(slug: str):  # type: ignore[no-untyped-def]
    agencies = [a for a in public.published(tocsin().db.session) if a.slug == slug]
    if not agencies:  # not opted in, or no such agency: the same answer
        return jsonify(error="No published responsiveness for this agency."), 404
    return _json(public.document(agencies))


def _json(doc: dict[str, object]):  # type: ignore[no-untyped-def]
    response = jsonify(doc)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # open data: any site may read it
    return response
