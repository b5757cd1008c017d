"""POST /api/v1/cap: a CAP 1.2 document from a computer-aided dispatch system or a
warning service, imported for the token's agency (services/cap_import.py).

The body is the XML itself (application/cap+xml, application/xml or text/xml),
up to 1 MiB. A document that is not valid CAP 1.2, or is refused, answers 400
naming each problem's line and element; the same message twice answers 409;
nothing is created either way. The token's agency may then read the incident
and send its first alert through the API, as it may for incidents it declared.
"""

from __future__ import annotations

from flask import g, jsonify, request

from coordinator import cap, live
from coordinator.api.views import ApiError, _alert_json, _incident_json, bp
from coordinator.context import tocsin
from coordinator.models import ApiToken
from coordinator.services import cap_import, tokens

MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")


@bp.post("/cap")
def import_cap():  # type: ignore[no-untyped-def]
    token: ApiToken = g.api_token
    request.max_content_length = cap.MAX_BYTES
    if request.mimetype not in MEDIA_TYPES:
        raise ApiError(415, f"Send the CAP document as {', '.join(MEDIA_TYPES)}.")
    try:
        document = cap.read_document(request.get_data(cache=False))
    except cap.CapError as exc:
        raise ApiError(400, f"The document is not valid CAP 1.2: {exc}", exc.errors) from None
    t = tocsin()
    try:
        with t.db.write() as session:
            done = cap_import.import_document(
                session, document, actor=tokens.actor(token), links=t.links,
                language=t.settings.cap_language, agency_id=token.agency_id,
            )  # fmt: skip
            payload = _incident_json(done.incident) | {
                "origin": done.incident.origin,
                "cap": {
                    "id": done.message.id, "sender": done.message.sender,
                    "identifier": done.message.identifier, "msg_type": done.message.msg_type,
                    "status": done.message.status, "action": done.action,
                },
                "alerts": [_alert_json(session, a) for a in done.alerts],
            }  # fmt: skip
            alerts = list(done.alerts)
    except cap_import.CapDuplicate as exc:
        raise ApiError(409, str(exc), exc.errors) from None
    except cap.CapError as exc:
        raise ApiError(400, f"The document was refused: {exc}", exc.errors) from None
    if alerts:
        t.outbox_written.set()
        for alert in alerts:
            live.alert_sent(payload["id"], alert)
    response = jsonify(payload)
    response.status_code = 201 if done.action == "opened" else 200
    response.headers["Location"] = payload["links"]["self"]
    return response
