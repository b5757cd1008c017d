"""Twilio's Messages REST resource, answered the way Twilio answers it.

Errors use Twilio's legacy JSON error shape, which the twilio library turns
into TwilioRestException with the same code as production would give.
The magic test numbers are Twilio's own, so code written against the simulator
handles the same failures the real service reports.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from notifier.simulator.base import API_VERSION, new_sid, rfc2822_now
from notifier.simulator.core import Simulator
from notifier.simulator.server import RECEIVED_AT
from notifier.simulator.store import utc_now_iso

bp = Blueprint("twilio", __name__, url_prefix=f"/{API_VERSION}/Accounts/<account_sid>")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ERRORS: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
}
# Twilio's test numbers for To, and the error each one provokes.
MAGIC_TO = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}


def twilio_error(code: int, status: int = 400, message: str = "") -> tuple[Response, int]:
    body = {
        "code": code,
        "message": message or ERRORS.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return jsonify(body), status


def simulator() -> Simulator:
    sim: Simulator = current_app.extensions["tocsin_simulator"]
    return sim


@bp.before_request
def authenticate() -> tuple[Response, int] | None:
    """Twilio's checks, in Twilio's order: credentials, account, request rate."""
    sim = simulator()
    settings = sim.settings
    auth = request.authorization
    ok = (
        auth is not None
        and hmac.compare_digest(auth.username or "", settings.account_sid)
        and hmac.compare_digest(auth.password or "", settings.auth_token)
    )
    if not ok:
        return twilio_error(20003, 401)
    if request.view_args and request.view_args.get("account_sid") != settings.account_sid:
        return twilio_error(20404, 404)
    if not sim.limiter.allow(settings.account_sid):
        return twilio_error(20429, 429)
    return None


def validate(form: dict[str, str]) -> int | None:
    """The Twilio error code this request earns, or None when Twilio would accept it."""
    to = form.get("To", "").strip()
    if not to:
        return 21604
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return 21603
    if not form.get("Body"):
        return 21602
    if to in MAGIC_TO:
        return MAGIC_TO[to]
    if not E164.match(to):
        return 21211
    return None


def num_segments(body: str) -> int:
    # GSM-7 (approximated as ASCII) fits 160 characters, UCS-2 70; concatenated
    # parts lose room to the header.
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


def message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    sid = new_sid("SM")
    now = rfc2822_now()
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    service = form.get("MessagingServiceSid") or None
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": form["Body"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From") or None,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": str(num_segments(form["Body"])),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # Twilio answers "accepted" when a messaging service still has to pick the sender.
        "status": "queued" if form.get("From") else "accepted",
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": form["To"],
        "uri": f"{base}.json",
    }


@bp.post("/Messages.json")
def create_message(account_sid: str) -> tuple[Response, int]:
    form = request.form.to_dict()
    code = validate(form)
    if code is not None:
        return twilio_error(code)
    sim = simulator()
    resource = message_resource(account_sid, form)
    validity = form.get("ValidityPeriod")
    record = {
        "sid": resource["sid"],
        "to": resource["to"],
        "from": resource["from"],
        "messaging_service_sid": resource["messaging_service_sid"],
        "body": resource["body"],
        "status": resource["status"],
        "status_callback": form.get("StatusCallback") or None,
        "validity_period": int(validity) if validity and validity.isdigit() else None,
        "created_at": utc_now_iso(),
    }
    sim.store.add_resource("messages", record, resource, at=request.environ.get(RECEIVED_AT))
    sim.message_accepted(dict(resource), record["status_callback"])
    return jsonify(resource), 201


@bp.get("/Messages/<sid>.json")
def fetch_message(account_sid: str, sid: str) -> tuple[Response, int]:
    resource = simulator().store.resource(sid) if sid.startswith("SM") else None
    return (jsonify(resource), 200) if resource else twilio_error(20404, 404)
