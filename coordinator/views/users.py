"""Console accounts: admins create them, set role and agency, reset passwords and
deactivate them.

A coordinator belongs to one agency and everyone else to none, so an agency
scope is never left undefined. An admin cannot take away their own admin role
or deactivate themselves: the last admin must not lock everyone out. Nothing
is ever deleted (the audit log names users); a deactivated user cannot sign in
and their open sessions end at their next request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import generate_password_hash

from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import ROLES, Agency, User
from coordinator.permissions import ROLES_WITH_AGENCY
from coordinator.services import audit
from coordinator.views.auth import permission_required

bp = Blueprint("users", __name__, url_prefix="/users")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200


@dataclass(frozen=True)
class UserForm:
    role: str
    agency: str  # slug, empty: none
    username: str = ""  # only when creating
    password: str = ""  # only when creating


@bp.get("")
@permission_required("users.manage")
def index():  # type: ignore[no-untyped-def]
    users = tocsin().db.session.scalars(
        select(User).options(selectinload(User.agency)).order_by(User.username)
    )
    return render_template("users/index.html", users=list(users))


@bp.route("/new", methods=["GET", "POST"])
@permission_required("users.manage")
def new():  # type: ignore[no-untyped-def]
    return _form(None)


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@permission_required("users.manage")
def edit(user_id: int):  # type: ignore[no-untyped-def]
    return _form(user_id)


@bp.post("/<int:user_id>/password")
@permission_required("users.manage")
def reset_password(user_id: int):  # type: ignore[no-untyped-def]
    t = tocsin()
    password = request.form.get("password", "")
    problem = password_problem(password, _user(t.db.session, user_id).username)
    if problem:
        return _form(user_id, {"password": problem})
    with t.db.write() as session:
        user = _user(session, user_id)
        user.password_hash = generate_password_hash(password)
        audit.record(session, _actor(), "user.password_reset", user=user.username)
    flash(f"New password set for {user.username}.")
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/active")
@permission_required("users.manage")
def set_active(user_id: int):  # type: ignore[no-untyped-def]
    """active=0 deactivates (cannot sign in), active=1 reactivates."""
    wanted = request.form.get("active", "")
    if wanted not in ("0", "1"):
        return _form(user_id, {"active": "Say active=1 or active=0."})
    if wanted == "0" and user_id == current_user.id:
        return _form(user_id, {"active": "You cannot deactivate your own account."})
    with tocsin().db.write() as session:
        user = _user(session, user_id)
        if user.active != (wanted == "1"):
            user.active = wanted == "1"
            action = "user.reactivated" if user.active else "user.deactivated"
            audit.record(session, _actor(), action, user=user.username)
    flash(f"{user.username} is {'active' if user.active else 'deactivated'}.")
    return redirect(url_for("users.index"))


def password_problem(password: str, username: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"The password must have at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"The password must have at most {MAX_PASSWORD} characters."
    if password.strip().lower() == username.lower():
        return "The password must not be the user name."
    return None


def validate(session: Session, form: UserForm, user: User | None) -> Agency | None:
    """The agency the user will belong to; raises ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    if user is None:
        if not USERNAME.match(form.username):
            errors["username"] = (
                "User name: 3-80 lowercase letters, digits, dots, dashes or underscores."
            )
        elif session.scalar(select(User.id).where(User.username == form.username)):
            errors["username"] = f"User {form.username!r} exists."
        problem = password_problem(form.password, form.username)
        if problem:
            errors["password"] = problem
    if form.role not in ROLES:
        errors["role"] = f"Role must be one of {', '.join(ROLES)}."
    elif user is not None and user.id == current_user.id and form.role != user.role:
        errors["role"] = "You cannot change your own role; ask another admin."
    agency = (
        session.scalar(select(Agency).where(Agency.slug == form.agency)) if form.agency else None
    )
    if form.agency and agency is None:
        errors["agency"] = f"Unknown agency {form.agency!r}."
    elif form.role in ROLES_WITH_AGENCY and agency is None and "agency" not in errors:
        errors["agency"] = "An agency coordinator must belong to an agency."
    elif form.role in ROLES and form.role not in ROLES_WITH_AGENCY and agency is not None:
        errors["agency"] = f"Only agency coordinators belong to an agency, not a {form.role}."
    if errors:
        raise ValidationError(errors)
    return agency


def _form(user_id: int | None, errors: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    t = tocsin()
    user = _user(t.db.session, user_id) if user_id is not None else None
    errors = dict(errors or {})
    posted = request.method == "POST" and request.endpoint in ("users.new", "users.edit")
    form = request.form if posted else _fields(user)
    if posted:
        data = UserForm(
            role=form.get("role", ""),
            agency=form.get("agency", ""),
            username=form.get("username", "").strip(),
            password=form.get("password", ""),
        )
        try:
            saved = _save(data, user_id)
        except ValidationError as exc:
            errors = exc.errors
        else:
            flash(f"User {saved.username} saved.")
            return redirect(url_for("users.index"))
    agencies = t.db.session.scalars(select(Agency).order_by(Agency.name)).all()
    return render_template(
        "users/form.html",
        user=user,
        form=form,
        roles=ROLES,
        agencies=agencies,
        errors=errors,
        min_password=MIN_PASSWORD,
    ), 400 if errors else 200


def _save(data: UserForm, user_id: int | None) -> User:
    with tocsin().db.write() as session:
        user = _user(session, user_id) if user_id is not None else None
        agency = validate(session, data, user)
        agency_slug = agency.slug if agency else None
        if user is None:
            user = User(
                username=data.username,
                password_hash=generate_password_hash(data.password),
                role=data.role,
                agency_id=agency.id if agency else None,
                active=True,
            )
            session.add(user)
            audit.record(
                session, _actor(), "user.created",
                user=data.username, role=data.role, agency=agency_slug,
            )  # fmt: skip
        elif (user.role, user.agency_id) != (data.role, agency.id if agency else None):
            audit.record(
                session, _actor(), "user.changed", user=user.username,
                role=[user.role, data.role],
                agency=[user.agency.slug if user.agency else None, agency_slug],
            )  # fmt: skip
            user.role, user.agency_id = data.role, agency.id if agency else None
    return user


def _fields(user: User | None) -> dict[str, str]:
    if user is None:
        return {"role": "dispatcher"}
    return {"role": user.role, "agency": user.agency.slug if user.agency else ""}


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _actor() -> str:
    return f"user:{current_user.username}"
