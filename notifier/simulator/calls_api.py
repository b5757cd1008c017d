"""Twilio's Calls REST resource: create, fetch and hang up outbound calls.

Validation and test numbers follow Twilio's voice API, so a hub written
against the simulator handles the errors production reports.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from notifier.simulator.base import API_VERSION, new_sid, rfc2822_now
from notifier.simulator.calls import Call, requested_events
from notifier.simulator.server import RECEIVED_AT
from notifier.simulator.store import utc_now_iso
from notifier.simulator.twilio_api import E164, authenticate, simulator, twilio_error

bp = Blueprint("twilio_calls", __name__, url_prefix=f"/{API_VERSION}/Accounts/<account_sid>")
bp.before_request(authenticate)

VOICE_ERRORS: dict[int, str] = {
    13224: "Twilio does not support calling this number or the number is invalid",
    21201: "No 'To' number is specified",
    21205: "Url parameter is required and must be an absolute http(s) URL",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21213: "No 'From' number is specified",
    21214: "'To' phone number cannot be reached",
    21215: "Geo Permission configuration is not permitting call",
    21216: "Call blocked by Twilio blocklist",
    21609: "Invalid StatusCallback url",
}
# Twilio's test numbers for voice, and the error each one provokes.
MAGIC_TO = {
    "+15005550001": 21211,
    "+15005550002": 21214,
    "+15005550003": 21215,
    "+15005550004": 21216,
    "+15005550009": 13224,
}
MAGIC_FROM = {"+15005550001": 21212}


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate(form: dict[str, str]) -> int | None:
    """The Twilio error code this request earns, or None when Twilio would place the call."""
    to, origin = form.get("To", "").strip(), form.get("From", "").strip()
    if not to:
        return 21201
    if not origin:
        return 21213
    if not form.get("Twiml") and not is_http_url(form.get("Url", "")):
        return 21205
    if form.get("StatusCallback") and not is_http_url(form["StatusCallback"]):
        return 21609
    if to in MAGIC_TO:
        return MAGIC_TO[to]
    if origin in MAGIC_FROM:
        return MAGIC_FROM[origin]
    return None if E164.match(to) else 21211


def call_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    sid = new_sid("CA")
    now = rfc2822_now()
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    subresources = ("notifications", "recordings", "events", "payments", "streams")
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": now,
        "date_updated": now,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": form["From"],
        "from_formatted": form["From"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "stir_verstat": None,
        "status": "queued",
        "subresource_uris": {name: f"{base}/{name.title()}.json" for name in subresources},
        "to": form["To"],
        "to_formatted": form["To"],
        "trunk_sid": None,
        "uri": f"{base}.json",
    }


@bp.post("/Calls.json")
def create_call(account_sid: str) -> tuple[Response, int]:
    form = request.form.to_dict()
    code = validate(form)
    if code is not None:
        return twilio_error(code, message=VOICE_ERRORS.get(code, ""))
    resource = call_resource(account_sid, form)
    call = Call(
        resource=dict(resource),
        url=form.get("Url") or None,
        method=form.get("Method", "POST").upper(),
        twiml=form.get("Twiml") or None,
        status_callback=form.get("StatusCallback") or None,
        callback_method=form.get("StatusCallbackMethod", "POST").upper(),
        events=requested_events(request.form.getlist("StatusCallbackEvent")),
        machine_detection=bool(form.get("MachineDetection")),
    )
    timeout = form.get("Timeout", "")
    record = {
        "sid": call.sid,
        "to": resource["to"],
        "from": resource["from"],
        "url": call.url,
        "twiml": call.twiml,
        "status_callback": call.status_callback,
        "status_callback_events": sorted(call.events),
        "timeout": int(timeout) if timeout.isdigit() else 60,
        "machine_detection": form.get("MachineDetection") or None,
        "status": "queued",
        "duration": None,
        "waiting": False,  # at a <Gather>, for keys from POST /sim/call-answer
        "twiml_fetched": [],
        "said": [],
        "digits_sent": [],
        "errors": [],
        "created_at": utc_now_iso(),
    }
    sim = simulator()
    sim.store.add_resource("calls", record, resource, at=request.environ.get(RECEIVED_AT))
    sim.voice.call_accepted(call)
    return jsonify(resource), 201


@bp.get("/Calls/<sid>.json")
def fetch_call(account_sid: str, sid: str) -> tuple[Response, int]:
    resource = simulator().store.resource(sid) if sid.startswith("CA") else None
    return (jsonify(resource), 200) if resource else twilio_error(20404, 404)


@bp.post("/Calls/<sid>.json")
def update_call(account_sid: str, sid: str) -> tuple[Response, int]:
    """Hang up (Status=completed) or cancel (Status=canceled) a call still in progress."""
    sim = simulator()
    status = request.form.get("Status", "")
    if status in ("completed", "canceled") and sid.startswith("CA"):
        sim.voice.hang_up(sid)
    return fetch_call(account_sid, sid)
