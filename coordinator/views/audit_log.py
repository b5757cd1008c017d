"""The audit log on the console: newest first, for admins, read only.

`tocsin audit verify` checks the hash chain; this page only shows it.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from coordinator.context import tocsin
from coordinator.models import AuditEvent
from coordinator.views.auth import roles_required

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE = 200
MAX_ID = 2**31 - 1


@bp.get("")
@roles_required("admin")
def index():  # type: ignore[no-untyped-def]
    errors: dict[str, str] = {}
    incident_id = _number("incident", errors)
    before = _number("before", errors)
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE)
    if incident_id is not None:
        query = query.where(AuditEvent.incident_id == incident_id)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    events = [] if errors else tocsin().db.session.scalars(query).all()
    return render_template(
        "admin/audit.html",
        events=events,
        incident_id=incident_id,
        errors=errors,
        older=events[-1].id if len(events) == PAGE else None,
    ), 400 if errors else 200


def _number(name: str, errors: dict[str, str]) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        errors[name] = f"{name.capitalize()} must be a number such as 12, not {raw[:40]!r}."
        return None
    return int(raw)
