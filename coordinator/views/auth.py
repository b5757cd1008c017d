"""Signing in and out of the console."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.models import User
from coordinator.services import audit

bp = Blueprint("auth", __name__)


def roles_required(*roles: str):  # type: ignore[no-untyped-def]
    """The view needs a signed-in user with one of these roles (403 otherwise)."""

    def decorate(view):  # type: ignore[no-untyped-def]
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def permission_required(action: str):  # type: ignore[no-untyped-def]
    """The view needs a signed-in user whose role coordinator/permissions.py allows
    the action (403 otherwise); the view still checks the object's agency."""
    return roles_required(*permissions.roles_for(action))


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        db = tocsin().db
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user and user.active and check_password_hash(user.password_hash, password):
            login_user(user)
            with db.write() as session:
                audit.record(session, f"user:{user.username}", "user.login")
            return redirect(_safe_next(request.args.get("next")))
        error = "Wrong user name or password."
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    logout_user()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("console.index")
