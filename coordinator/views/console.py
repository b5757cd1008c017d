"""The commander's console: incidents, declaring one, its board and map."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from coordinator import live
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import (
    ANSWER_LABELS,
    CHANNEL_LABELS,
    INCIDENT_KINDS,
    SEVERITIES,
    Agency,
    Alert,
    Incident,
    Notification,
    Responder,
    Response,
)
from coordinator.services.alerts import DEFAULT_CHANNELS, IncidentForm, declare_incident
from coordinator.views.auth import roles_required
from maps.incident_map import MapIncident, MapResponder, build_incident_map

bp = Blueprint("console", __name__)
SENDERS = ("admin", "commander", "dispatcher")


@bp.get("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    incidents = (
        tocsin()
        .db.session.scalars(select(Incident).order_by(Incident.created_at.desc()).limit(100))
        .all()
    )
    return render_template("console/index.html", incidents=incidents, can_send=_can_send())


@bp.route("/incidents/new", methods=["GET", "POST"])
@roles_required(*SENDERS)
def new_incident():  # type: ignore[no-untyped-def]
    t = tocsin()
    agencies = t.db.session.scalars(select(Agency).order_by(Agency.name)).all()
    errors: dict[str, str] = {}
    form = request.form
    if request.method == "POST":
        data = IncidentForm(
            title=form.get("title", ""),
            kind=form.get("kind", ""),
            severity=form.get("severity", ""),
            lat=form.get("lat", ""),
            lon=form.get("lon", ""),
            message=form.get("message", ""),
            agency_slugs=form.getlist("agencies"),
            mode=form.get("mode", "live"),
            channels=form.getlist("channels"),
        )
        try:
            with t.db.write() as session:
                incident = declare_incident(session, data, current_user, t.links)
        except ValidationError as exc:
            errors = exc.errors
        else:
            t.outbox_written.set()
            return redirect(url_for("console.board", incident_id=incident.id))
    return render_template(
        "console/new_incident.html",
        agencies=agencies,
        kinds=INCIDENT_KINDS,
        severities=SEVERITIES,
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        form=form,
        errors=errors,
    ), 400 if errors else 200


@bp.get("/incidents/<int:incident_id>")
@login_required
def board(incident_id: int):  # type: ignore[no-untyped-def]
    session = tocsin().db.session
    incident = _incident(incident_id)
    rows = session.execute(
        select(Notification, Responder)
        .join(Notification.alert)
        .join(Responder, Notification.responder_id == Responder.id)
        .where(Alert.incident_id == incident_id)
        .options(selectinload(Responder.agency))
        .order_by(Responder.agency_id, Responder.name, Notification.channel)
    ).all()
    answers = _latest_answers(incident_id)
    responders: dict[int, dict] = {}
    for n, r in rows:
        entry = responders.setdefault(
            r.id, {"responder": r, "notifications": [], "answer": answers.get(r.id)}
        )
        entry["notifications"].append(n)
    counts = dict(
        session.execute(
            select(Notification.status, func.count())
            .join(Notification.alert)
            .where(Alert.incident_id == incident_id)
            .group_by(Notification.status)
        ).all()
    )
    return render_template(
        "console/board.html",
        incident=incident,
        responders=list(responders.values()),
        counts=counts,
        labels=ANSWER_LABELS,
    )


@bp.get("/incidents/<int:incident_id>/state")
@login_required
def state(incident_id: int):  # type: ignore[no-untyped-def]
    """The board's live state; a page fetches it after joining the room so
    that nothing emitted between rendering and joining is missed."""
    _incident(incident_id)
    session = tocsin().db.session
    notifications = session.scalars(
        select(Notification).join(Notification.alert).where(Alert.incident_id == incident_id)
    ).all()
    responses = session.scalars(
        select(Response)
        .join(Alert, Response.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .order_by(Response.received_at, Response.id)
    ).all()
    return jsonify(
        notifications=[live.notification_payload(n) for n in notifications],
        responses=[live.response_payload(r) for r in responses],
    )


@bp.get("/incidents/<int:incident_id>/map")
@login_required
def incident_map(incident_id: int):  # type: ignore[no-untyped-def]
    t = tocsin()
    incident = _incident(incident_id)
    answers = _latest_answers(incident_id)
    alerted = t.db.session.scalars(
        select(Responder)
        .where(
            Responder.id.in_(
                select(Notification.responder_id)
                .join(Notification.alert)
                .where(Alert.incident_id == incident_id)
            )
        )
        .options(selectinload(Responder.agency))
    ).all()
    rendered = build_incident_map(
        MapIncident(incident.id, incident.title, incident.lat, incident.lon, incident.radius_m),
        [
            MapResponder(r.id, r.name, r.agency.name, r.lat, r.lon, answers.get(r.id))
            for r in alerted
        ],
        static_url="/static/maps",
        tile_url=t.settings.tile_url or None,
        tile_attribution=t.settings.tile_attribution,
    )
    return render_template("console/map.html", incident=incident, map=rendered)


def _incident(incident_id: int) -> Incident:
    incident = tocsin().db.session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident


def _latest_answers(incident_id: int) -> dict[int, str]:
    rows = (
        tocsin()
        .db.session.execute(
            select(Response.responder_id, Response.answer)
            .join(Alert, Response.alert_id == Alert.id)
            .where(Alert.incident_id == incident_id)
            .order_by(Response.received_at, Response.id)
        )
        .all()
    )
    return {responder_id: answer for responder_id, answer in rows}


def _can_send() -> bool:
    return current_user.role in SENDERS
