"""Push endpoints apprise can notify: ntfy and Gotify, plus a raw Web Push sink.

apprise's `ntfy://host:port/topic` posts JSON to the server root (or, with an
attachment, the body to /<topic>); `gotify://host:port/token` posts JSON to
/message. Each accepted push is kept for GET /sim/pushes.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from notifier.simulator import ntfy
from notifier.simulator.core import Simulator
from notifier.simulator.server import RECEIVED_AT
from notifier.simulator.store import utc_now_iso

bp = Blueprint("push", __name__)

TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
NTFY_HEADERS = ("Title", "Priority", "Tags", "Actions", "Click", "Icon", "Delay", "Email")
OTHER_HEADERS = ("Authorization", "User-Agent", "Content-Type", "X-Markdown", "X-Gotify-Key")
WEBPUSH_HEADERS = ("TTL", "Urgency", "Topic", "Content-Encoding", "Authorization")
_ids = itertools.count(1)


def simulator() -> Simulator:
    sim: Simulator = current_app.extensions["tocsin_simulator"]
    return sim


def headers_of_interest(names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.headers[name] for name in names if name in request.headers}


def keep(service: str, target: str, **fields: Any) -> dict[str, Any]:
    record = {"id": next(_ids), "service": service, "target": target, **fields}
    record["received_at"] = utc_now_iso()
    simulator().store.add("pushes", record, at=request.environ.get(RECEIVED_AT))
    return record


@bp.route("/", methods=["POST", "PUT"])
def ntfy_json() -> tuple[Response, int]:
    """ntfy's publish-as-JSON: the topic and every field in one JSON object."""
    data = request.get_json(force=True)  # malformed JSON -> 400 via the app's handler
    if not isinstance(data, dict) or not TOPIC.match(str(data.get("topic", ""))):
        return ntfy_error(40009, "invalid request: topic invalid")
    return ntfy_publish(str(data["topic"]), data, str(data.get("message", "")))


@bp.route("/<topic>", methods=["GET", "POST", "PUT"])
def ntfy_topic(topic: str) -> tuple[Response, int]:
    """ntfy's plain publish: the body is the message (or an attachment), fields in headers."""
    if request.method == "GET" or not TOPIC.match(topic):
        abort(404)  # no subscriber side here
    raw = request.get_data()
    filename = request.args.get("filename") or request.headers.get("X-Filename")
    attachment = None
    if filename or b"\0" in raw:
        attachment = {"filename": filename or "attachment", "size": len(raw)}
        message = request.args.get("message") or request.headers.get("X-Message", "")
    else:
        message = raw.decode("utf-8", "replace")
    return ntfy_publish(topic, {"attachment": attachment}, message)


def ntfy_field(data: dict[str, Any], name: str) -> Any:
    """A publishing field from the JSON body, the X- header, the plain header or the query."""
    for value in (
        data.get(name.lower()),
        request.headers.get("X-" + name),
        request.headers.get(name),
        request.args.get(name.lower()),
    ):
        if value not in (None, ""):
            return value
    return None


def ntfy_publish(topic: str, data: dict[str, Any], message: str) -> tuple[Response, int]:
    try:
        actions = ntfy.parse_actions(ntfy_field(data, "Actions"))
    except ntfy.ActionsError as exc:
        return ntfy_error(40018, f"invalid request: actions invalid: {exc}")
    tags = ntfy_field(data, "Tags") or []
    record = keep(
        "ntfy",
        topic,
        title=ntfy_field(data, "Title") or "",
        body=message,
        priority=ntfy.priority(ntfy_field(data, "Priority")),
        tags=tags if isinstance(tags, list) else [t.strip() for t in str(tags).split(",")],
        click=ntfy_field(data, "Click"),
        actions=actions,
        attachment=data.get("attachment"),
        headers=headers_of_interest(tuple("X-" + h for h in NTFY_HEADERS) + OTHER_HEADERS),
    )
    simulator().push_received(topic, record)
    fields = ("title", "priority", "tags", "click", "actions")
    body = {"id": f"sim{record['id']}", "time": int(time.time()), "event": "message"}
    body.update({"topic": topic, "message": message}, **{f: record[f] for f in fields})
    return jsonify(body), 200


def ntfy_error(code: int, text: str) -> tuple[Response, int]:
    return jsonify(code=code, http=400, error=text), 400


@bp.post("/message")
def gotify_message() -> tuple[Response, int]:
    """Gotify's message API: an application token in X-Gotify-Key or ?token=."""
    token = request.headers.get("X-Gotify-Key") or request.args.get("token")
    if not token:
        error = "you need to provide a valid access token or user credentials to access this api"
        return jsonify(error="Unauthorized", errorCode=401, errorDescription=error), 401
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(data, dict):
        return jsonify(error="Bad Request", errorCode=400, errorDescription="not an object"), 400
    extras = data.get("extras") if isinstance(data.get("extras"), dict) else {}
    click = dig(extras, "client::notification", "click", "url")
    record = keep(
        "gotify",
        token,
        title=str(data.get("title") or ""),
        body=str(data.get("message") or ""),
        priority=int(data.get("priority") or 0),
        click=click,
        actions=[{"action": "view", "label": "click", "url": click}] if click else [],
        extras=extras,
        headers=headers_of_interest(OTHER_HEADERS),
    )
    fields = ("title", "priority", "extras")
    body = {"id": record["id"], "appid": 1, "message": record["body"], "date": utc_now_iso()}
    body.update({f: record[f] for f in fields})
    return jsonify(body), 200


def dig(data: Any, *keys: str) -> Any:
    """data[k1][k2]... or None when any level is missing or not an object."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


@bp.post("/push/webpush/<subscription>")
def webpush(subscription: str) -> tuple[Response, int]:
    """A push service endpoint: the payload is encrypted for the browser, so it is kept raw."""
    raw = request.get_data()
    keep(
        "webpush",
        subscription,
        title="",
        body="",
        priority=None,
        actions=[],
        raw_base64=base64.b64encode(raw).decode("ascii"),
        size=len(raw),
        headers=headers_of_interest(WEBPUSH_HEADERS + ("Content-Type", "User-Agent")),
    )
    return Response(status=201, headers={"Location": request.path}), 201
