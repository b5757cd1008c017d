"""An incident's after-action report: the page, its charts, the PDF and the CSVs.

A closed incident's report is the one stored when it closed (coordinator/reports/
store.py); an open one's is a draft computed at each request. Every rendering of
one request reads one Figures object. Downloads (PDF, CSV) are audited as
"report.exported": they leave the system.
"""

from __future__ import annotations

import gevent
from flask import Blueprint, Response, abort, url_for
from flask_login import current_user
from sqlalchemy import select

from coordinator import permissions
from coordinator.context import tocsin
from coordinator.models import Agency, Incident
from coordinator.reports import charts, csv_export, html, pdf, store
from coordinator.services import audit
from coordinator.views.auth import permission_required

bp = Blueprint("reports", __name__)
TABLES = ("notifications", "answers")


def _incident(incident_id: int) -> Incident:
    incident = tocsin().db.session.get(Incident, incident_id)
    if incident is None:
        abort(404)
    return incident


def _loaded(incident: Incident) -> store.Loaded:
    # a draft of a big drill streams thousands of rows: let the hub's other greenlets run
    return store.load(tocsin().db.session, incident, pause=lambda: gevent.sleep(0))


@bp.get("/incidents/<int:incident_id>/report")
@permission_required("reports.view")
def report(incident_id: int):  # type: ignore[no-untyped-def]
    incident = _incident(incident_id)
    loaded = _loaded(incident)
    return html.page(
        loaded.figures,
        incident,
        loaded.state,
        chart_src=lambda c: url_for(".chart", incident_id=incident_id, name=c.name),
        links=_links(incident, [a.key for a in loaded.figures.agencies]),
    )


def _links(incident: Incident, slugs: list[str]) -> dict[str, object]:
    links: dict[str, object] = {
        "board": url_for("console.board", incident_id=incident.id),
        "pdf": url_for(".report_pdf", incident_id=incident.id),
        "notifications_csv": url_for(".report_csv", incident_id=incident.id, table="notifications"),
        "answers_csv": url_for(".report_csv", incident_id=incident.id, table="answers"),
        "compare": [],
    }
    if incident.mode == "drill":
        agencies = tocsin().db.session.scalars(select(Agency).where(Agency.slug.in_(slugs)))
        links["compare"] = [
            (a.name, url_for("compare.drills", slug=a.slug))
            for a in sorted(agencies, key=lambda a: a.name)
            if permissions.can(current_user, "drills.compare", a.id)
        ]
    return links


@bp.get("/incidents/<int:incident_id>/report/charts/<name>.svg")
@permission_required("reports.view")
def chart(incident_id: int, name: str):  # type: ignore[no-untyped-def]
    if name not in charts.NAMES:
        abort(404)
    loaded = _loaded(_incident(incident_id))
    found = charts.chart(loaded.figures, name)
    assert found is not None
    response = Response(found.svg(), mimetype="image/svg+xml")
    # a stored report never changes; a draft does at every answer
    response.headers["Cache-Control"] = (
        "private, max-age=3600" if loaded.state == "stored" else "no-store"
    )
    return response


@bp.get("/incidents/<int:incident_id>/report.pdf")
@permission_required("reports.view")
def report_pdf(incident_id: int):  # type: ignore[no-untyped-def]
    incident = _incident(incident_id)
    loaded = _loaded(incident)
    body = pdf.render(loaded.figures)
    _exported(incident_id, "pdf", loaded)
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{_name(incident_id, loaded)}.pdf"'},
    )


@bp.get("/incidents/<int:incident_id>/report/<any(notifications, answers):table>.csv")
@permission_required("reports.view")
def report_csv(incident_id: int, table: str):  # type: ignore[no-untyped-def]
    incident = _incident(incident_id)
    loaded = _loaded(incident)
    _exported(incident_id, "csv", loaded, table=table)
    filename = f"{_name(incident_id, loaded)}-{table}.csv"
    return Response(
        csv_export.stream(loaded.figures, table),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _name(incident_id: int, loaded: store.Loaded) -> str:
    return f"incident-{incident_id}-report" + ("-draft" if loaded.state == "draft" else "")


def _exported(incident_id: int, form: str, loaded: store.Loaded, **detail: object) -> None:
    with tocsin().db.write() as session:
        audit.record(
            session, f"user:{current_user.username}", "report.exported", incident_id,
            format=form, draft=loaded.state == "draft", **detail,
        )  # fmt: skip
