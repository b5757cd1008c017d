"""CAP 1.2 on the console: the upload page, each alert's XML, and what the board
shows of an incident that came from CAP (template global `cap_board`).

Parsing and building are coordinator/cap/; importing and exporting are
services/cap_import.py and services/cap_export.py, shared with the API and CLI.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coordinator import cap, live
from coordinator.context import tocsin
from coordinator.models import Alert, Incident
from coordinator.services import cap_export, cap_import
from coordinator.views.auth import permission_required

bp = Blueprint("cap", __name__)
CAP_MEDIA_TYPE = "application/cap+xml"
ACTIONS = {
    "opened": "opened: nobody has been alerted yet",
    "updated": "updated from the CAP Update: nothing was sent",
    "stood_down": "stood down by the CAP Cancel",
    "recorded": "unchanged: the document is kept with it",
}


@bp.route("/cap/import", methods=["GET", "POST"])
@permission_required("cap.import")
def upload():  # type: ignore[no-untyped-def]
    """A CAP 1.2 file, or its text pasted: an Alert opens an incident, an Update or
    Cancel applies to the incident it references. A refused document creates nothing."""
    if request.method == "GET":
        return render_template("cap/import.html", problems=[], pasted="")
    data = _posted()
    t = tocsin()
    try:
        document = cap.read_document(data)
        with t.db.write() as session:
            done = cap_import.import_document(
                session, document, actor=f"user:{current_user.username}", links=t.links,
                language=t.settings.cap_language, user=current_user,
            )  # fmt: skip
            incident_id, action, alerts = done.incident.id, done.action, done.alerts
    except cap.CapError as exc:
        pasted = request.form.get("xml", "")
        page = render_template("cap/import.html", problems=exc.problems, pasted=pasted)
        return page, 400
    if alerts:
        t.outbox_written.set()
        for alert in alerts:
            live.alert_sent(incident_id, alert)
    sent = f" {len(alerts)} alert(s) sent by CAP routing rules." if alerts else ""
    flash(f"CAP {document.alert.msg_type} imported: incident {ACTIONS[action]}.{sent}")
    return redirect(url_for("console.board", incident_id=incident_id))


def _posted() -> bytes:
    upload = request.files.get("document")
    if upload is not None and upload.filename:
        return upload.read(cap.MAX_BYTES + 1)
    return request.form.get("xml", "").strip().encode("utf-8")


@bp.get("/incidents/<int:incident_id>/cap.xml")
@permission_required("incidents.view")
def incident_xml(incident_id: int):  # type: ignore[no-untyped-def]
    """The incident's latest alert as CAP 1.2."""
    incident = tocsin().db.session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    try:
        alert = cap_export.latest_alert(incident)
    except cap_export.NoAlertYet as exc:
        return render_template("error.html", title="No alert yet", message=str(exc)), 404
    return _xml(alert.id)


@bp.get("/alerts/<int:alert_id>/cap.xml")
@permission_required("incidents.view")
def alert_xml(alert_id: int):  # type: ignore[no-untyped-def]
    if tocsin().db.session.get(Alert, alert_id) is None:
        abort(404)
    return _xml(alert_id)


def _xml(alert_id: int) -> Response:
    t = tocsin()
    identity = cap_export.Identity.from_settings(t.settings)
    with t.db.write() as session:  # the first export of an alert is kept
        alert = session.get(Alert, alert_id)
        assert alert is not None
        text = cap_export.document_for(session, alert, identity, f"user:{current_user.username}")
    response = Response(text, mimetype=CAP_MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'inline; filename="tocsin-alert-{alert_id}.xml"'
    return response


@bp.app_template_global()
def cap_board(incident: Incident) -> dict[str, object]:
    """The board's CAP part: the documents imported for the incident, and the text
    of the latest one received since the last alert, ready for a sender to send."""
    t = tocsin()
    session = t.db.session
    waiting = cap_import.waiting(session, incident)
    return {
        "imported": cap_import.imported(session, incident.id),
        "waiting": waiting,
        "waiting_text": cap_import.text_of(waiting, t.settings.cap_language) if waiting else "",
    }
