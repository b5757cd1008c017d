"""Responder pages opened from an answer link.

GET only shows the page (mail scanners open links); POST records. The page
works without JavaScript: plain forms with large buttons.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy.orm import joinedload

from coordinator.context import tocsin
from coordinator.errors import LinkError, ValidationError
from coordinator.models import ANSWER_LABELS, ANSWERS, Notification, Response
from coordinator.services import responses

bp = Blueprint("respond", __name__)


@bp.route("/r/<token>", methods=["GET", "POST"])
def answer(token: str):  # type: ignore[no-untyped-def]
    t = tocsin()
    try:
        notification_id = t.links.notification_id(token)
    except LinkError as exc:
        return render_template("error.html", title="Link not valid", message=str(exc)), 400
    # The page shows the alert, its incident and the responder: one query, not four.
    notification = t.db.session.get(
        Notification,
        notification_id,
        options=[*responses.WITH_ALERT, joinedload(Notification.responder)],
    )
    if notification is None:
        message = "This alert no longer exists."
        return render_template("error.html", title="Link not valid", message=message), 404
    recorded: Response | None = None
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            recorded, _incident_id, _created = responses.record(t.db, _answer(notification))
        except ValidationError as exc:
            errors, status = exc.errors, 400
    return render_template(
        "respond.html",
        notification=notification,
        incident=notification.alert.incident,
        alert=notification.alert,
        answers=ANSWERS,
        labels=ANSWER_LABELS,
        recorded=recorded,
        errors=errors,
        form=request.form if errors else {},  # a refused answer keeps what was typed
    ), status


def _answer(notification: Notification) -> responses.Answer:
    form = request.form
    errors: dict[str, str] = {}
    eta = _number(form.get("eta_minutes"), int, "eta_minutes", "ETA", errors)
    lat = _number(form.get("lat"), float, "position", "Latitude", errors)
    lon = _number(form.get("lon"), float, "position", "Longitude", errors)
    if errors:
        raise ValidationError(errors)
    return responses.Answer(
        notification.id, form.get("answer", ""), "link", eta_minutes=eta, lat=lat, lon=lon
    )


def _number(raw: str | None, kind: type, field: str, name: str, errors: dict[str, str]):  # type: ignore[no-untyped-def]
    """An optional number; a blank field is None, anything unreadable is an error."""
    if raw is None or not raw.strip():
        return None
    try:
        return kind(raw)
    except ValueError:
        whole = " whole" if kind is int else ""
        errors[field] = f"{name} must be a{whole} number, not {raw.strip()[:20]!r}."
        return None
