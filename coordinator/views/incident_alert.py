"""Alerting an incident that is already open: the first alert of one that was
opened without (a CAP import), and the stand-down message to everyone alerted
of one that was stood down without (a CAP Cancel).

The alert form has the declare form's targeting, quorum and channels
(templates/console/_targeting.html) and is checked by the same rules
(services/alerts.py validate_incident), so its preview is what is sent.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import live
from coordinator.context import tocsin
from coordinator.errors import ValidationError
from coordinator.models import CHANNEL_LABELS, Agency, Incident, Team
from coordinator.services import cap_import, incidents
from coordinator.services.alerts import (
    DEFAULT_CHANNELS,
    send_alert,
    validate_incident,
)
from coordinator.services.targeting import Preview, preview
from coordinator.views.auth import permission_required
from coordinator.views.incident_forms import incident_form

bp = Blueprint("incident_alert", __name__)


@bp.route("/incidents/<int:incident_id>/alert", methods=["GET", "POST"])
@permission_required("incidents.send")
def alert(incident_id: int):  # type: ignore[no-untyped-def]
    """Choose agencies, teams and channels, preview, then send ("preview" / "send")."""
    t = tocsin()
    session = t.db.session
    incident = _incident(session, incident_id)
    errors: dict[str, str] = {}
    shown: Preview | None = None
    form = request.form
    if request.method == "POST":
        data = incident_form(form, incident)
        try:
            if incident.status != "open":
                what = incidents.STATUS_WORDS[incident.status]
                raise ValidationError({"incident": f"The incident is {what}: it alerts nobody."})
            _lat, _lon, targeting, quorum, minutes = validate_incident(data)
            if form.get("action") == "preview":
                shown = preview(session, targeting, incident.lat, incident.lon, data.channels,
                                drill=incident.mode == "drill")  # fmt: skip
            else:
                with t.db.write() as write:
                    sent = send_alert(
                        write, _incident(write, incident_id), data.message.strip(), targeting,
                        data.channels, current_user, t.links, quorum=quorum,
                        quorum_minutes=minutes, actor=f"user:{current_user.username}",
                    )  # fmt: skip
                t.outbox_written.set()
                live.alert_sent(incident_id, sent)
                flash("Alert sent.")
                return redirect(url_for("console.board", incident_id=incident_id))
        except ValidationError as exc:
            errors = exc.errors
    else:  # the text of a CAP document received since the last alert, if any
        waiting = cap_import.waiting(session, incident)
        form = request.args.copy()
        form["message"] = cap_import.text_of(waiting, t.settings.cap_language) if waiting else ""
    return render_template(
        "console/incident_alert.html",
        incident=incident,
        agencies=session.scalars(select(Agency).order_by(Agency.name)).all(),
        teams=session.scalars(select(Team).order_by(Team.agency_id, Team.name)).all(),
        channels=CHANNEL_LABELS,
        default_channels=DEFAULT_CHANNELS,
        form=form,
        errors=errors,
        preview=shown,
    ), 400 if errors else 200


@bp.post("/incidents/<int:incident_id>/stand-down-message")
@permission_required("incidents.change_status")
def stand_down_message(incident_id: int):  # type: ignore[no-untyped-def]
    """Tell everyone alerted to stand down, after the incident was stood down."""
    t = tocsin()
    try:
        with t.db.write() as session:
            incident = _incident(session, incident_id)
            if incident.status != "stood_down":
                raise ValidationError({"status": "Stand the incident down first."})
            sent = incidents.follow_up(
                session, incident, request.form.get("message", ""), "stand_down",
                current_user, t.links,
            )  # fmt: skip
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
        return redirect(url_for("console.board", incident_id=incident_id)), 303
    t.outbox_written.set()
    live.alert_sent(incident_id, sent)
    flash("Stand-down message sent to everyone alerted.")
    return redirect(url_for("console.board", incident_id=incident_id))


def _incident(session, incident_id: int) -> Incident:  # type: ignore[no-untyped-def]
    incident = session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident
