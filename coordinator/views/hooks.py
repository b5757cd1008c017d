"""Provider webhooks: inbound SMS replies and delivery receipts from Twilio.

Every request must carry a valid X-Twilio-Signature over our public URL; a
bad or missing one gets 403 and changes nothing.
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator

from coordinator.context import tocsin
from coordinator.events import update_status
from coordinator.models import ANSWER_LABELS
from coordinator.services import responses
from coordinator.services.alerts import SMS_REPLY_HELP

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
# Twilio's words for delivery receipts, mapped to ours.
TWILIO_STATUS = {
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}


def twilio_signed(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        t = tocsin()
        token = t.settings.twilio_auth_token
        url = t.settings.public_url + request.full_path.rstrip("?")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not RequestValidator(token).validate(url, request.form, signature):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.post("/twilio/sms")
@twilio_signed
def twilio_sms():  # type: ignore[no-untyped-def]
    sender = request.form.get("From", "").strip()
    body = request.form.get("Body")
    if not sender or body is None:
        return _twiml(None, status=400, error="From and Body are required.")
    answer = responses.parse_sms(body)
    db = tocsin().db
    notification = responses.latest_sms_notification(db.session, sender)
    if notification is None:
        return _twiml("Tocsin: there is no open alert for this number.")
    if answer is None:
        return _twiml(f"Tocsin: answer not understood. {SMS_REPLY_HELP}")
    response, _incident, created = responses.record(
        db, responses.Answer(notification.id, answer, "sms")
    )
    label = ANSWER_LABELS[response.answer].upper()
    prefix = "already recorded" if not created else "recorded"
    return _twiml(f"Tocsin: {prefix} {label}. Thank you.")


@bp.post("/twilio/status")
@twilio_signed
def twilio_status():  # type: ignore[no-untyped-def]
    notification_id = request.args.get("n", "")
    status = TWILIO_STATUS.get(request.form.get("MessageStatus", ""))
    if not notification_id.isdigit() or status is None:
        return Response("unknown notification or status\n", status=400, mimetype="text/plain")
    error = request.form.get("ErrorCode") or None
    update_status(
        tocsin().db,
        int(notification_id),
        status,
        provider_id=request.form.get("MessageSid"),
        error=f"Twilio error {error}" if error else None,
    )
    return Response("", status=204)


def _twiml(message: str | None, *, status: int = 200, error: str | None = None) -> Response:
    if error:
        return Response(error + "\n", status=status, mimetype="text/plain")
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
        status=status,
        mimetype="application/xml",
    )
