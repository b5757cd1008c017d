"""REST API for computer-aided dispatch systems: /api/v1, JSON in and out.

A bearer token belongs to one agency (services/tokens.py): it alerts that
agency's responders and reads what they answered, nothing of any other
agency's. Every answer, errors included, is JSON; bad input gets 400 with each
field named and changes nothing. What the token does is audited as
"api:<agency>:<token name>".
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for
from flask import Response as HttpResponse
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from coordinator import live
from coordinator.api import openapi, validate
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import (
    Alert,
    AlertAgency,
    ApiToken,
    CapMessage,
    Incident,
    Notification,
    Responder,
    Response,
    as_utc,
)
from coordinator.services import quorum, tokens
from coordinator.services.alerts import (
    DEFAULT_CHANNELS,
    IncidentForm,
    declare_incident,
    parse_quorum,
    send_alert,
)
from coordinator.services.targeting import Targeting

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
COMPONENTS = openapi.DOCUMENT["components"]
TARGETING = set(COMPONENTS["schemas"]["Targeting"]["properties"])


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


# --- authentication and errors ------------------------------------------------


@bp.before_request
def _authenticate() -> None:
    request.max_content_length = openapi.MAX_BODY
    if request.endpoint == "api.document":
        return
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError(401, "Send the agency's API token: Authorization: Bearer <token>.")
    token = tokens.authenticate(tocsin().db.session, credential.strip())
    if token is None:
        raise ApiError(401, "The API token is unknown or was revoked.")
    g.api_token = token


@bp.after_request
def _note_use(response: HttpResponse) -> HttpResponse:
    token: ApiToken | None = g.get("api_token")
    if token is not None and response.status_code < 400 and tokens.needs_touch(token):
        with tocsin().db.write() as session:
            tokens.touch(session, token.id)
    return response


@bp.errorhandler(ApiError)
def _api_error(e: ApiError):  # type: ignore[no-untyped-def]
    response = error_response(e.status, e.message, e.errors)
    if e.status == 401:
        credential = "Authorization" in request.headers
        response.headers["WWW-Authenticate"] = 'Bearer realm="tocsin"' + (
            ', error="invalid_token"' if credential else ""
        )
    return response


@bp.errorhandler(ValidationError)
def _invalid(e: ValidationError):  # type: ignore[no-untyped-def]
    # The services name targeting fields bare ("teams"); the body nests them.
    errors = {(f"targeting.{k}" if k in TARGETING else k): v for k, v in e.errors.items()}
    return error_response(400, "The request is not valid: see errors.", errors)


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):  # type: ignore[no-untyped-def]
    return http_error(e)


# Flask prefers any handler registered for a status code, even the app's (an HTML
# page), to a class handler: name the codes a request here can meet.
for _code in (400, 404, 405, 413, 415, 500):
    bp.register_error_handler(_code, _http_error)


@bp.errorhandler(Exception)
def _crash(e: Exception):  # type: ignore[no-untyped-def]
    log.exception("API request failed: %s %s", request.method, request.path)
    return error_response(500, "Internal error; nothing was changed.")


def wants_json() -> bool:
    """Errors raised before any view matched (404, 405) are JSON under /api/ too."""
    return request.path == "/api" or request.path.startswith("/api/")


def http_error(e: HTTPException) -> HttpResponse:
    message = e.description or e.name
    if e.code == 404:  # routing found no API path (a missing incident is an ApiError)
        message = "No such API path: see /api/v1/openapi.json."
    response = error_response(e.code or 500, message)
    if e.code == 405 and getattr(e, "valid_methods", None):
        response.headers["Allow"] = ", ".join(e.valid_methods)  # type: ignore[attr-defined]
    return response


def error_response(status: int, message: str, errors: dict[str, str] | None = None) -> HttpResponse:
    response = jsonify(error=message, errors=errors or {})
    response.status_code = status
    return response


@bp.app_errorhandler(405)
def _method_not_allowed(e: HTTPException):  # type: ignore[no-untyped-def]
    """Routing answers 405 before the blueprint is known; the console keeps Werkzeug's page."""
    return http_error(e) if wants_json() else e


# --- routes -------------------------------------------------------------------


@bp.get("/openapi.json")
def document():  # type: ignore[no-untyped-def]
    return jsonify(openapi.DOCUMENT)


@bp.post("/incidents")
def create_incident():  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    body = _body("IncidentCreate")
    slug = token.agency.slug
    others = sorted(set(body.get("agencies", [slug])) - {slug})
    if others:
        raise ApiError(
            403, f"A {slug} token alerts only {slug}, not {', '.join(others)}.",
            {"agencies": f"Only {slug}."},
        )  # fmt: skip
    form = _incident_form(body, slug)
    t = tocsin()
    with t.db.write() as session:
        incident = declare_incident(session, form, None, t.links, actor=tokens.actor(token))
        payload = _incident_json(incident) | {"alert": _alert_json(session, incident.alerts[-1])}
    t.outbox_written.set()
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = payload["links"]["self"]
    return response


@bp.post("/incidents/<int:incident_id>/alerts")
def create_alert(incident_id: int):  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    body = _body("AlertCreate")
    message = body["message"].strip()
    if not message:
        raise ValidationError({"message": "The message is empty: write what responders must know."})
    targeting, needed, minutes = _alert_parts(body, token.agency.slug)
    t = tocsin()
    with t.db.write() as session:
        incident = _incident_for(session, token, incident_id)
        if incident.status != "open":
            raise ApiError(409, f"Incident {incident.id} is {incident.status.replace('_', ' ')}.")
        alert = send_alert(
            session, incident, message, targeting, body.get("channels", list(DEFAULT_CHANNELS)),
            None, t.links, quorum=needed, quorum_minutes=minutes, actor=tokens.actor(token),
        )  # fmt: skip
        payload = _alert_json(session, alert)
    t.outbox_written.set()
    live.alert_sent(incident_id, alert)
    response = jsonify(payload)
    response.status_code = 201
    return response


@bp.get("/incidents/<int:incident_id>")
def incident_status(incident_id: int):  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    session = tocsin().db.session
    incident = _incident_for(session, token, incident_id)
    mine = Responder.agency_id == token.agency_id
    notifications: dict[str, dict[str, int]] = {}
    for channel, status, count in session.execute(
        select(Notification.channel, Notification.status, func.count())
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .where(Alert.incident_id == incident.id, mine)
        .group_by(Notification.channel, Notification.status)
    ):
        notifications.setdefault(channel, {})[status] = count
    responders = session.scalar(
        select(func.count(func.distinct(Notification.responder_id)))
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .where(Alert.incident_id == incident.id, mine)
    )
    latest = {r.responder_id: r.answer for r in _answers(session, incident.id, token.agency_id)}
    answers: dict[str, int] = {}
    for answer in latest.values():
        answers[answer] = answers.get(answer, 0) + 1
    return jsonify(
        _incident_json(incident)
        | {
            "agency": token.agency.slug,
            "responders": responders or 0,
            "notifications": notifications,
            "answers": answers,
            "quorum": _quorum_progress(session, incident.id, token.agency_id),
        }
    )


@bp.get("/incidents/<int:incident_id>/answers")
def incident_answers(incident_id: int):  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    session = tocsin().db.session
    incident = _incident_for(session, token, incident_id)
    rows = _answers(session, incident.id, token.agency_id)
    return jsonify(
        incident_id=incident.id,
        agency=token.agency.slug,
        answers=[
            {"responder_id": r.responder_id, "responder": r.responder.name,
             "alert_id": r.alert_id, "answer": r.answer, "eta_minutes": r.eta_minutes,
             "channel": r.channel, "received_at": _iso(r.received_at)}
            for r in rows
        ],
    )  # fmt: skip


# --- helpers ------------------------------------------------------------------


def _body(schema: str) -> dict[str, Any]:
    """The JSON object sent, checked against the document's schema."""
    if not request.is_json:
        raise ApiError(415, "Send the body as JSON, with Content-Type: application/json.")
    try:
        body = json.loads(request.get_data(cache=True), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "The body is not valid JSON.", {"body": "Not valid JSON."}) from None
    validate.check(body, COMPONENTS["schemas"][schema], COMPONENTS)
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _incident_form(body: dict[str, Any], slug: str) -> IncidentForm:
    targeting = body.get("targeting", {})
    needed = body.get("quorum", {})
    return IncidentForm(
        title=body["title"],
        kind=body["kind"],
        severity=body["severity"],
        lat=str(body["lat"]),
        lon=str(body["lon"]),
        message=body["message"],
        agency_slugs=[slug],
        mode=body.get("mode", "live"),
        origin="api",
        channels=list(body.get("channels", DEFAULT_CHANNELS)),
        team_ids=[str(int(t)) for t in targeting.get("teams", [])],
        skills=list(targeting.get("skills", [])),
        on_duty_only=targeting.get("on_duty_only", True),
        radius_m=str(targeting["radius_m"]) if "radius_m" in targeting else "",
        quorum=", ".join(f"{skill}: {int(n)}" for skill, n in needed.items()),
        quorum_minutes=str(int(body["quorum_minutes"])) if "quorum_minutes" in body else "",
    )


def _alert_parts(body: dict[str, Any], slug: str) -> tuple[Targeting, dict[str, int], int | None]:
    wanted = body.get("targeting", {})
    targeting = Targeting.parse(
        [slug], [int(t) for t in wanted.get("teams", [])], wanted.get("skills", []),
        wanted.get("on_duty_only", True), wanted.get("radius_m"),
    )  # fmt: skip
    needed = parse_quorum(", ".join(f"{k}: {int(n)}" for k, n in body.get("quorum", {}).items()))
    minutes = int(body["quorum_minutes"]) if "quorum_minutes" in body else None
    return targeting, needed, minutes


def _incident_for(session: Session, token: ApiToken, incident_id: int) -> Incident:
    """The incident, when the token's agency was alerted for it (404, 403 otherwise)."""
    incident = session.get(Incident, incident_id) if incident_id <= openapi.MAX_ID else None
    if incident is None:
        raise ApiError(404, f"There is no incident {incident_id}.")
    alerted = (
        exists()
        .where(AlertAgency.alert_id == Alert.id)
        .where(Alert.incident_id == incident.id, AlertAgency.agency_id == token.agency_id)
    )
    # an incident the agency's token imported from CAP, alerted or not yet (api/cap.py)
    imported = exists().where(
        CapMessage.incident_id == incident.id, CapMessage.agency_id == token.agency_id
    )
    involved = session.scalar(select(or_(alerted, imported)))
    if not involved:
        raise ApiError(403, f"Incident {incident.id} did not alert {token.agency.slug}.")
    return incident


def _answers(session: Session, incident_id: int, agency_id: int) -> list[Response]:
    return list(
        session.scalars(
            select(Response)
            .join(Alert, Response.alert_id == Alert.id)
            .join(Responder, Response.responder_id == Responder.id)
            .where(Alert.incident_id == incident_id, Responder.agency_id == agency_id)
            .order_by(Response.received_at, Response.id)
        )
    )


def _quorum_progress(session: Session, incident_id: int, agency_id: int) -> list[dict[str, Any]]:
    """How far each quorum of the agency's alerts is met (services/quorum.py: counted
    over everyone the alert reached, each with their latest answer)."""
    alerts = session.scalars(
        select(Alert)
        .join(AlertAgency, AlertAgency.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id, AlertAgency.agency_id == agency_id)
        .order_by(Alert.id)
    ).all()
    progress = []
    for alert in (a for a in alerts if a.quorum):
        found = quorum.progress(session, alert)
        progress.append(
            {"alert_id": alert.id, "needed": {c.skill: c.needed for c in found.counts},
             "answered": {c.skill: c.have for c in found.counts}, "met": found.met,
             "deadline_at": _iso(alert.quorum_deadline_at), "met_at": _iso(alert.quorum_met_at)}
        )  # fmt: skip
    return progress


def _incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "kind": incident.kind,
        "severity": incident.severity,
        "lat": incident.lat,
        "lon": incident.lon,
        "mode": incident.mode,
        "status": incident.status,
        "created_at": _iso(incident.created_at),
        "links": {
            "self": url_for("api.incident_status", incident_id=incident.id),
            "alerts": url_for("api.create_alert", incident_id=incident.id),
            "answers": url_for("api.incident_answers", incident_id=incident.id),
        },
    }


def _alert_json(session: Session, alert: Alert) -> dict[str, Any]:
    count = session.scalar(
        select(func.count()).select_from(Notification).where(Notification.alert_id == alert.id)
    )
    return {
        "id": alert.id,
        "incident_id": alert.incident_id,
        "kind": alert.kind,
        "notifications": count or 0,
        "quorum": alert.quorum,
        "created_at": _iso(alert.created_at),
    }


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return as_utc(at).isoformat()
