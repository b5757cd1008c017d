"""Provider webhooks: SMS replies, voice calls and delivery receipts from Twilio.

Every request must carry a valid X-Twilio-Signature over our public URL; a
bad or missing one gets 403 and changes nothing.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from broker.messages import EXERCISE_MARKER
from coordinator.context import tocsin
from coordinator.events import update_status
from coordinator.models import ANSWER_LABELS, Notification
from coordinator.services import responses

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
# Twilio's words for message and call progress, mapped to ours.
MESSAGE_STATUS = {
    "queued": "queued",
    "accepted": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
CALL_STATUS = {
    "queued": "queued",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "delivered",
    "answered": "delivered",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}
KEYPRESS = {"1": "acknowledged", "2": "en_route", "3": "unavailable"}
VOICE_MENU = "Press 1 to acknowledge. 2 if you are en route. 3 if you are unavailable. 9 to repeat."


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
        return _plain("From and Body are required.", 400)
    db = tocsin().db
    reply = responses.read_sms_reply(db.session, sender, body)
    notification, answer = reply.notification, reply.answer
    if notification is None:
        return _sms_reply("Tocsin: there is no open alert for this number.")
    if reply.ambiguous:
        return _sms_reply(responses.BOTH_OPEN)
    if answer is None:
        said = f"Tocsin: answer not understood. {responses.SMS_REPLY_HELP}"
        return _sms_reply(_marked(notification, said))
    response, _incident, created = responses.record(
        db, responses.Answer(notification.id, answer, "sms")
    )
    prefix = "recorded" if created else "already recorded"
    said = f"Tocsin: {prefix} {ANSWER_LABELS[response.answer].upper()}. Thank you."
    return _sms_reply(_marked(notification, said))


@bp.post("/twilio/status")
@twilio_signed
def twilio_status():  # type: ignore[no-untyped-def]
    return _receipt(MESSAGE_STATUS.get(request.form.get("MessageStatus", "")), "MessageSid")


@bp.post("/twilio/call-status")
@twilio_signed
def twilio_call_status():  # type: ignore[no-untyped-def]
    return _receipt(CALL_STATUS.get(request.form.get("CallStatus", "")), "CallSid")


@bp.post("/twilio/voice")
@twilio_signed
def twilio_voice():  # type: ignore[no-untyped-def]
    """The TwiML a call fetches when answered: the alert read twice, then a keypress."""
    return _twiml(_voice_menu(_notification()))


@bp.post("/twilio/voice/keypress")
@twilio_signed
def twilio_keypress():  # type: ignore[no-untyped-def]
    n = _notification()
    digit = request.form.get("Digits", "")
    answer = KEYPRESS.get(digit)
    if answer is None:
        twiml = _voice_menu(n, intro="" if digit == "9" else "Sorry, that key is not an answer.")
        return _twiml(twiml)
    responses.record(tocsin().db, responses.Answer(n.id, answer, "voice"))
    twiml = VoiceResponse()
    twiml.say(_marked(n, f"Recorded: {ANSWER_LABELS[answer]}. Thank you. Goodbye."))
    twiml.hangup()
    return _twiml(twiml)


def _voice_menu(n: Notification, intro: str = "") -> VoiceResponse:
    """The alert read twice, then the menu. A drill says the EXERCISE words before
    the alert and after it, each time, so nobody who hangs up half-way or joins
    late takes it for a real call-out."""
    incident, alert = n.alert.incident, n.alert
    text = (
        f"Tocsin emergency alert. {incident.severity} {incident.kind.replace('_', ' ')}: "
        f"{incident.title}. {alert.message}"
    )
    if _is_drill(n):
        text = f"{EXERCISE_MARKER}. {text} {EXERCISE_MARKER}."
    twiml = VoiceResponse()
    gather = twiml.gather(
        num_digits=1,
        action=f"{tocsin().settings.public_url}/hooks/twilio/voice/keypress?n={n.id}",
        method="POST",
        timeout=8,
    )
    if intro:
        gather.say(intro)
    gather.say(text)
    gather.pause(length=1)
    gather.say(f"I repeat. {text}")
    gather.say(VOICE_MENU)
    twiml.say(_marked(n, "No answer was recorded. Goodbye."))
    twiml.hangup()
    return twiml


def _is_drill(n: Notification) -> bool:
    return n.alert.incident.mode == "drill"


def _marked(n: Notification, text: str) -> str:
    """What Tocsin says back about a drill's notification starts with the EXERCISE words."""
    return f"{EXERCISE_MARKER}. {text}" if _is_drill(n) else text


def _notification() -> Notification:
    raw = request.args.get("n", "")
    n = tocsin().db.session.get(Notification, int(raw)) if raw.isdigit() else None
    if n is None:
        abort(400, "unknown notification")
    return n


def _receipt(status: str | None, sid_field: str) -> Response:
    notification_id = request.args.get("n", "")
    if not notification_id.isdigit() or status is None:
        return _plain("unknown notification or status", 400)
    error = request.form.get("ErrorCode") or None
    update_status(
        tocsin(),
        int(notification_id),
        status,
        provider_id=request.form.get(sid_field),
        error=f"Twilio error {error}" if error else _call_error(),
    )
    return Response("", status=204)


def _call_error() -> str | None:
    status = request.form.get("CallStatus", "")
    return f"call {status}" if status in ("busy", "no-answer", "failed", "canceled") else None


def _sms_reply(message: str) -> Response:
    reply = MessagingResponse()
    reply.message(message)
    return _twiml(reply)


def _twiml(twiml: VoiceResponse | MessagingResponse) -> Response:
    return Response(str(twiml), mimetype="application/xml")


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")
