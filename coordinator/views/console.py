"""The commander's console: incidents, declaring one, its board and map."""

from __future__ import annotations

from typing import NamedTuple

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from coordinator import live, permissions
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import (
    ANSWER_LABELS,
    CHANNEL_LABELS,
    FAILED,
    INCIDENT_KINDS,
    SEVERITIES,
    Agency,
    Alert,
    Incident,
    Notification,
    Responder,
    Response,
    Team,
    as_utc,
    utcnow,
)
from coordinator.services import incidents, message_templates
from coordinator.services.alerts import (
    DEFAULT_CHANNELS,
    IncidentForm,
    declare_incident,
    validate_incident,
)
from coordinator.services.targeting import Preview, preview
from coordinator.views.auth import permission_required
from coordinator.views.incident_forms import incident_form
from maps.incident_map import MapIncident, MapResponder, RenderedMap, build_incident_map

bp = Blueprint("console", __name__)


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
@permission_required("incidents.send")
def new_incident():  # type: ignore[no-untyped-def]
    """Declare: fill in, preview who is reached on which channel, then send.

    Buttons say what a POST does: "template" puts the chosen template's text in
    the message, "preview" shows the recipients, "send" declares. Everything
    works without JavaScript.
    """
    t = tocsin()
    session = t.db.session
    agencies = session.scalars(select(Agency).order_by(Agency.name)).all()
    teams = session.scalars(select(Team).order_by(Team.agency_id, Team.name)).all()
    errors: dict[str, str] = {}
    form = request.form.copy() if request.method == "POST" else request.form
    shown: Preview | None = None
    action = form.get("action", "send")
    if request.method == "POST":
        data = incident_form(form)
        try:
            if action == "template":
                form["message"] = _template_text(form)
            elif action == "preview":
                shown = _preview(data)
            else:
                with t.db.write() as write:
                    incident = declare_incident(write, data, current_user, t.links)
                t.outbox_written.set()
                return redirect(url_for("console.board", incident_id=incident.id))
        except ValidationError as exc:
            errors = exc.errors
    return render_template(
        "console/new_incident.html",
        agencies=agencies,
        teams=teams,
        kinds=INCIDENT_KINDS,
        severities=SEVERITIES,
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        all_templates=_templates_by_kind(),
        form=form,
        errors=errors,
        preview=shown,
    ), 400 if errors else 200


def _preview(data: IncidentForm) -> Preview:
    """Every field is checked as for sending, so a clean preview means a clean send."""
    lat, lon, targeting, _quorum, _minutes = validate_incident(data)
    return preview(
        tocsin().db.session, targeting, lat, lon, data.channels, drill=data.mode == "drill"
    )


def _template_text(form) -> str:  # type: ignore[no-untyped-def]
    raw = form.get("template", "")
    session = tocsin().db.session
    template = session.get(message_templates.Template, int(raw)) if raw.isdigit() else None
    if template is None:
        raise ValidationError({"template": "Pick a template first."})
    return message_templates.render(template, form)


def _first_template_text(session, kind: str, incident: Incident) -> str:  # type: ignore[no-untyped-def]
    found = message_templates.for_kind(session, kind)
    return message_templates.render(found[0], incident) if found else ""


def _templates_by_kind() -> dict[str, list]:
    grouped: dict[str, list] = {}
    for tpl in tocsin().db.session.scalars(
        select(message_templates.Template).order_by(message_templates.Template.name)
    ):
        grouped.setdefault(tpl.kind, []).append(tpl)
    return grouped


@bp.get("/incidents/<int:incident_id>")
@login_required
def board(incident_id: int):  # type: ignore[no-untyped-def]
    """The commander's board: counts per agency and channel, every responder,
    quorum, queues, the next escalation step and the map, on one page."""
    return _board_page(incident_id)


def _board_page(incident_id: int, errors: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Everything is rendered on the server, so the board reads without
    JavaScript; board.js then keeps it live from the incident's room."""
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
    latest = _latest(incident_id)
    answers = latest.answers
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
        breakdown=breakdown(incident_id),
        columns=BREAKDOWN_COLUMNS,
        channel_labels=CHANNEL_LABELS,
        map=map_for(incident, [row["responder"] for row in responders.values()], latest),
        utc=as_utc,
        rendered_at=utcnow(),
        labels=ANSWER_LABELS,
        can_send=_can_send() and incident.status != "closed",
        can_change=permissions.allowed(current_user, "incidents.change_status"),
        update_text=_first_template_text(session, "update", incident),
        stand_down_text=_first_template_text(session, "stand_down", incident),
        status_words=incidents.STATUS_WORDS,
        errors=errors or {},
    )


@bp.post("/incidents/<int:incident_id>/follow-up")
@permission_required("incidents.send")
def follow_up(incident_id: int):  # type: ignore[no-untyped-def]
    """An update to everyone the incident's alerts reached, where they were reached."""
    t = tocsin()
    kind = "update"
    try:
        with t.db.write() as session:
            incident = _incident_in(session, incident_id)
            alert = incidents.follow_up(
                session, incident, request.form.get("message", ""), kind, current_user, t.links
            )
    except ValidationError as exc:
        return _board_error(incident_id, exc)
    t.outbox_written.set()
    live.alert_sent(incident_id, alert)
    flash("Update sent to everyone alerted.")
    return redirect(url_for("console.board", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/status")
@permission_required("incidents.change_status")
def change_status(incident_id: int):  # type: ignore[no-untyped-def]
    """Stand down (with an optional message to everyone alerted), reopen or close."""
    t = tocsin()
    status = request.form.get("status", "")
    try:
        with t.db.write() as session:
            incident = _incident_in(session, incident_id)
            alert = None
            if status == "stood_down":
                alert = incidents.stand_down(
                    session, incident, request.form.get("message", ""), current_user, t.links
                )
            else:
                incidents.change_status(session, incident, status, current_user)
    except ValidationError as exc:
        return _board_error(incident_id, exc)
    t.outbox_written.set()
    if alert is not None:
        live.alert_sent(incident_id, alert)
    flash(f"Incident {incidents.STATUS_WORDS.get(status, status)}.")
    return redirect(url_for("console.board", incident_id=incident_id))


def _incident_in(session, incident_id: int) -> Incident:  # type: ignore[no-untyped-def]
    incident = session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident


def _board_error(incident_id: int, exc: ValidationError):  # type: ignore[no-untyped-def]
    return _board_page(incident_id, exc.errors), 400


@bp.get("/incidents/<int:incident_id>/state")
@login_required
def state(incident_id: int):  # type: ignore[no-untyped-def]
    """The board's live state; a page fetches it after joining the room so
    that nothing emitted between rendering and joining is missed.

    Notifications carry their responder's and agency's names, as escalation
    events do: one reaching someone the page has no row for (an escalation
    step that ran before the page joined) still gets a row and is counted.
    """
    _incident(incident_id)
    session = tocsin().db.session
    notifications = session.execute(
        select(Notification, Responder.name, Agency.name, Responder.lat, Responder.lon)
        .join(Notification.alert)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Alert.incident_id == incident_id)
        .order_by(Notification.id)
    ).all()
    responses = session.scalars(
        select(Response)
        .join(Alert, Response.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .order_by(Response.received_at, Response.id)
    ).all()
    return jsonify(
        notifications=[live.introduced_payload(*row) for row in notifications],
        responses=[live.response_payload(r) for r in responses],
        breakdown=breakdown(incident_id),
    )


# --- the board's counts per agency and per channel ---------------------------

BREAKDOWN_COLUMNS = ("notifications", "sent", "delivered", "failed", "answered")
# Accepted by the provider. An undelivered message was sent and then failed:
# it counts in both columns.
SENT = ("sent", "delivered", "undelivered")
Tallies = dict[str, dict[str, int]]


def breakdown(incident_id: int) -> dict[str, Tallies]:
    """The board's counts, {"agencies": {name: tally}, "channels": {channel: tally}}.

    notifications: every message of the incident's alerts, queued and cancelled ones too;
    sent: accepted by the provider (sent, delivered or undelivered);
    delivered: delivery confirmed (SMS and calls report it, email and push stop at sent);
    failed: refused by the provider or undelivered;
    answered: per agency, responders who gave any answer; per channel, the messages an
    answer came back through (a link in an email counts for email, not as a channel "link").
    Agencies are keyed by name, as the escalation events name them. board.js keeps the
    same figures live by the same rules.
    """
    agencies: Tallies = {}
    channels: Tallies = {}
    for agency, channel, status, count in _status_counts(incident_id):
        _add_status(_tally(agencies, agency), status, count)
        _add_status(_tally(channels, channel), status, count)
    for agency, count in _answered_by_agency(incident_id):
        _tally(agencies, agency)["answered"] = count
    for channel, count in _answered_by_channel(incident_id):
        _tally(channels, channel)["answered"] = count
    return {
        "agencies": dict(sorted(agencies.items())),
        "channels": dict(sorted(channels.items(), key=lambda kv: _channel_rank(kv[0]))),
    }


def _status_counts(incident_id: int) -> list[tuple[str, str, str, int]]:
    """(agency name, channel, status, notifications) of the incident's alerts."""
    session = tocsin().db.session
    rows = session.execute(
        select(Agency.name, Notification.channel, Notification.status, func.count())
        .select_from(Notification)
        .join(Alert, Notification.alert_id == Alert.id)
        .join(Responder, Notification.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Alert.incident_id == incident_id)
        .group_by(Agency.name, Notification.channel, Notification.status)
    )
    return [(agency, channel, status, count) for agency, channel, status, count in rows]


def _answered_by_agency(incident_id: int) -> list[tuple[str, int]]:
    """Distinct responders with any answer, per agency."""
    session = tocsin().db.session
    rows = session.execute(
        select(Agency.name, func.count(func.distinct(Response.responder_id)))
        .select_from(Response)
        .join(Alert, Response.alert_id == Alert.id)
        .join(Responder, Response.responder_id == Responder.id)
        .join(Agency, Responder.agency_id == Agency.id)
        .where(Alert.incident_id == incident_id)
        .group_by(Agency.name)
    )
    return [(agency, count) for agency, count in rows]


def _answered_by_channel(incident_id: int) -> list[tuple[str, int]]:
    """Distinct notifications answered through, per the notification's channel."""
    session = tocsin().db.session
    rows = session.execute(
        select(Notification.channel, func.count(func.distinct(Response.notification_id)))
        .select_from(Response)
        .join(Notification, Response.notification_id == Notification.id)
        .join(Alert, Notification.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .group_by(Notification.channel)
    )
    return [(channel, count) for channel, count in rows]


def _tally(tallies: Tallies, key: str) -> dict[str, int]:
    return tallies.setdefault(key, dict.fromkeys(BREAKDOWN_COLUMNS, 0))


def _add_status(tally: dict[str, int], status: str, count: int) -> None:
    tally["notifications"] += count
    tally["sent"] += count if status in SENT else 0
    tally["delivered"] += count if status == "delivered" else 0
    tally["failed"] += count if status in FAILED else 0


def _channel_rank(channel: str) -> tuple[int, str]:
    """The console's usual channel order; a channel it does not know goes last."""
    order = list(CHANNEL_LABELS)
    return (order.index(channel) if channel in order else len(order), channel)


@bp.get("/incidents/<int:incident_id>/map")
@login_required
def incident_map(incident_id: int):  # type: ignore[no-untyped-def]
    incident = _incident(incident_id)
    return render_template("console/map.html", incident=incident, map=map_for(incident))


def map_for(
    incident: Incident, alerted: list[Responder] | None = None, latest: Latest | None = None
) -> RenderedMap:
    """The incident's map (for the map page and the board): everyone its alerts
    reached, coloured by their latest answer, where they last shared their position
    (else at their roster position), as the live updates would have left them.
    The board passes what it has already read (responders with their agency, latest)."""
    t = tocsin()
    latest = latest or _latest(incident.id)
    if alerted is None:
        alerted = list(
            t.db.session.scalars(
                select(Responder)
                .where(
                    Responder.id.in_(
                        select(Notification.responder_id)
                        .join(Notification.alert)
                        .where(Alert.incident_id == incident.id)
                    )
                )
                .options(selectinload(Responder.agency))
            )
        )
    return build_incident_map(
        MapIncident(incident.id, incident.title, incident.lat, incident.lon, incident.radius_m),
        [
            MapResponder(
                r.id,
                r.name,
                r.agency.name,
                *latest.positions.get(r.id, (r.lat, r.lon)),
                latest.answers.get(r.id),
            )
            for r in alerted
        ],
        static_url="/static/maps",
        tile_url=t.settings.tile_url or None,
        tile_attribution=t.settings.tile_attribution,
    )


def _incident(incident_id: int) -> Incident:
    incident = tocsin().db.session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident


class Latest(NamedTuple):
    """Per responder, as the live updates leave the map: the latest answer to the
    incident, and the last position shared with one (an answer without a
    position leaves it be)."""

    answers: dict[int, str]
    positions: dict[int, tuple[float, float]]


def _latest(incident_id: int) -> Latest:
    rows = tocsin().db.session.execute(
        select(Response.responder_id, Response.answer, Response.lat, Response.lon)
        .join(Alert, Response.alert_id == Alert.id)
        .where(Alert.incident_id == incident_id)
        .order_by(Response.received_at, Response.id)
    )
    latest = Latest({}, {})
    for responder_id, answer, lat, lon in rows:
        latest.answers[responder_id] = answer
        if lat is not None and lon is not None:
            latest.positions[responder_id] = (lat, lon)
    return latest


def _can_send() -> bool:
    return permissions.allowed(current_user, "incidents.send")
