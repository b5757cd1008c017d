"""Live updates to consoles over Socket.IO: one room per incident."""

from __future__ import annotations

import math
import time

import gevent
from flask import request
from flask_login import current_user
from flask_socketio import join_room

from coordinator.extensions import socketio
from coordinator.models import ANSWER_LABELS, Alert, Notification, Response, as_utc
from coordinator.queues import CONSOLES


def room(incident_id: int) -> str:
    return f"incident:{incident_id}"


def notification_payload(n: Notification) -> dict[str, object]:
    return {
        "id": n.id,
        "responder_id": n.responder_id,
        "channel": n.channel,
        "status": n.status,
        "error": n.error,
    }


def response_payload(r: Response) -> dict[str, object]:
    return {
        "responder_id": r.responder_id,
        "alert_id": r.alert_id,
        # The message answered through: the board counts a link answer for its channel.
        "notification_id": r.notification_id,
        "answer": r.answer,
        "label": ANSWER_LABELS[r.answer],
        "channel": r.channel,
        "eta_minutes": r.eta_minutes,
        "lat": r.lat,
        "lon": r.lon,
        "at": r.received_at.isoformat(),
    }


def notifications_changed(incident_id: int, payloads: list[dict[str, object]]) -> None:
    """New statuses, as many as one batch of reports changed: one message, not one each."""
    socketio.emit("notifications", payloads, to=room(incident_id))


def introduced_payload(
    n: Notification, name: str, agency: str, lat: float | None, lon: float | None
) -> dict[str, object]:
    """A notification with whom it reached and where they are on the roster, so a
    page with no row or marker for them yet (a backup team, another agency
    brought in by an escalation step) can add them."""
    return {
        **notification_payload(n),
        "responder_name": name,
        "agency_name": agency,
        "lat": lat,
        "lon": lon,
    }


def notification_added(incident_id: int, n: Notification) -> None:
    """A fallback or replay created a notification the board has not seen."""
    r = n.responder
    payload = introduced_payload(n, r.name, r.agency.name, r.lat, r.lon)
    socketio.emit("notification_added", payload, to=room(incident_id))


class Gathered:
    """One kind of event to a room, sent as lists: at once when the room has
    been quiet for `window` seconds, else gathered until the window ends.

    Sending is what a busy hub spends its time on: each message goes to every
    console in the room (500 consoles: ~25 ms of CPU per message). A lone answer
    still leaves at once; a hundred a second leave as ~20 lists, not 100
    messages, and wait at most `window`.
    """

    def __init__(self, event: str, window: float) -> None:
        self.event = event
        self.window = window
        self._pending: dict[str, list[dict[str, object]]] = {}
        self._sent_at: dict[str, float] = {}
        self._timers: dict[str, gevent.Greenlet] = {}

    def add(self, to: str, payload: dict[str, object]) -> None:
        pending = self._pending.get(to)
        if pending is not None:
            pending.append(payload)
            return
        wait = self._sent_at.get(to, -math.inf) + self.window - time.monotonic()
        if wait <= 0:
            self._send(to, [payload])
        else:
            self._pending[to] = [payload]
            self._timers[to] = gevent.spawn_later(wait, self._flush, to)

    def clear(self) -> None:
        """Forget what was sent and drop what waits (tests start each app afresh)."""
        for greenlet in self._timers.values():
            greenlet.kill(block=False)
        self._timers.clear()
        self._pending.clear()
        self._sent_at.clear()

    def _flush(self, to: str) -> None:
        self._timers.pop(to, None)
        self._send(to, self._pending.pop(to))

    def _send(self, to: str, payloads: list[dict[str, object]]) -> None:
        self._sent_at[to] = time.monotonic()
        socketio.emit(self.event, payloads, to=to)


# Answers reach consoles as "responses" lists, gathered for up to 50 ms.
RESPONSES = Gathered("responses", window=0.05)


def response_recorded(incident_id: int, r: Response) -> None:
    RESPONSES.add(room(incident_id), response_payload(r))


def alert_sent(incident_id: int, alert: Alert) -> None:
    """A new alert, update or stand-down of the incident (after its commit): the
    board shows its message and when it went."""
    at = as_utc(alert.created_at).isoformat()
    payload = {"id": alert.id, "kind": alert.kind, "message": alert.message, "at": at}
    socketio.emit("alert", payload, to=room(incident_id))


def quorum_changed(incident_id: int, payload: dict[str, object]) -> None:
    """How far an alert's quorum is met (services/quorum.py payload)."""
    socketio.emit("quorum", payload, to=room(incident_id))


def escalation_changed(
    incident_id: int, payload: dict[str, object], added: list[dict[str, object]]
) -> None:
    """A step ran or an escalation stopped: what is next and when, and the
    notifications the step created (each with responder_name and agency_name)."""
    socketio.emit("escalation", {**payload, "notifications": added}, to=room(incident_id))


@socketio.on("join")
def on_join(data: object) -> dict[str, object]:
    """A console page joins its incident's room; only signed-in users may."""
    if not current_user.is_authenticated:
        return {"ok": False, "error": "sign in first"}
    if not isinstance(data, dict) or not isinstance(data.get("incident_id"), int):
        return {"ok": False, "error": "incident_id must be an integer"}
    join_room(room(data["incident_id"]), sid=request.sid)  # type: ignore[attr-defined]
    join_room(CONSOLES, sid=request.sid)  # type: ignore[attr-defined]
    return {"ok": True}
