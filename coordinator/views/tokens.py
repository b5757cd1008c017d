"""API tokens on the console: an admin lists, makes and revokes them.

A new token is shown once, in the answer to the POST that made it: never
flashed (the session cookie is signed, not encrypted), never stored.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import Agency, ApiToken
from coordinator.services import tokens
from coordinator.views.auth import roles_required

bp = Blueprint("tokens", __name__, url_prefix="/admin/tokens")
ADMINS = ("admin",)


@bp.get("")
@roles_required(*ADMINS)
def index():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("")
@roles_required(*ADMINS)
def create():  # type: ignore[no-untyped-def]
    t = tocsin()
    agency, name = request.form.get("agency", ""), request.form.get("name", "")
    try:
        with t.db.write() as session:
            token, plaintext = tokens.create(session, agency, name, _actor())
    except ValidationError as exc:
        return _page(errors=exc.errors), 400
    response = _page(created=token, plaintext=plaintext)
    # The only copy of the token: no cache may keep it.
    return response, 201, {"Cache-Control": "no-store"}


@bp.post("/<int:token_id>/revoke")
@roles_required(*ADMINS)
def revoke(token_id: int):  # type: ignore[no-untyped-def]
    try:
        with tocsin().db.write() as session:
            token = tokens.revoke(session, token_id, _actor())
            said = f"Token {token.name!r} of {token.agency.name} is revoked."
    except ValidationError as exc:
        flash(next(iter(exc.errors.values())), "error")
    else:
        flash(said)
    return redirect(url_for("tokens.index"))


def _page(
    errors: dict[str, str] | None = None,
    created: ApiToken | None = None,
    plaintext: str | None = None,
) -> str:
    session = tocsin().db.session
    return render_template(
        "admin/tokens.html",
        tokens=tokens.all_tokens(session),
        agencies=session.scalars(select(Agency).order_by(Agency.name)).all(),
        errors=errors or {},
        form=request.form if errors else {},
        created=created,
        plaintext=plaintext,
        prefix=tokens.PREFIX,
    )


def _actor() -> str:
    return f"user:{current_user.username}"
