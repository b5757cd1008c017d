"""Endpoints for tests and operators: what the simulator saw, and a way to make a responder talk."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request

from notifier.simulator.core import Simulator
from notifier.simulator.profiles import ProfileError, parse
from notifier.simulator.store import KINDS

bp = Blueprint("sim", __name__, url_prefix="/sim")


def simulator() -> Simulator:
    sim: Simulator = current_app.extensions["tocsin_simulator"]
    return sim


@bp.get("/health")
def health() -> Response:
    return jsonify(ok=True)


@bp.get("/stats")
def stats() -> Response:
    """How many of each kind so far: cheap to poll while thousands arrive."""
    return jsonify(simulator().store.counts())


@bp.get("/accepted")
def accepted() -> Response:
    """When each item of each kind was taken, as epoch seconds."""
    return jsonify(simulator().store.accepted())


@bp.get("/profiles")
def profiles() -> Response:
    """The answer profiles in force and, per profile, what its people did so far."""
    sim = simulator()
    return jsonify(profiles=[p.to_json() for p in sim.profiles.all()], stats=sim.people.stats())


@bp.put("/profiles")
def replace_profiles() -> tuple[Response, int]:
    """Replace every profile (an empty list removes them); people decide afresh."""
    try:
        found = parse(request.get_json(force=True))
    except ProfileError as exc:
        return jsonify(error=str(exc)), 400
    sim = simulator()
    sim.profiles.replace(found)
    sim.people.reset()
    return jsonify(ok=True, profiles=len(found)), 200


@bp.get("/<kind>")
def listing(kind: str) -> Response:
    if kind not in KINDS:
        abort(404)
    return jsonify(simulator().store.list(kind))


@bp.post("/reset")
def reset() -> Response:
    simulator().reset()
    return jsonify(ok=True)


@bp.post("/call-answer")
def call_answer() -> tuple[Response, int]:
    """Press keys on a call that waits at a <Gather> (with --call-answer-mode manual)."""
    data = request.get_json(force=True)
    if not isinstance(data, dict) or not data.get("sid") or not str(data.get("digits", "")):
        return jsonify(error="expected a JSON object with 'sid' and 'digits'"), 400
    outcome = simulator().voice.press(str(data["sid"]), str(data["digits"]))
    status = {"ok": 202, "unknown": 404, "not-waiting": 409}[outcome]
    return jsonify(ok=outcome == "ok", outcome=outcome), status


@bp.post("/inbound")
def inbound() -> tuple[Response, int]:
    data = request.get_json(force=True)  # malformed JSON -> 400 via the app's handler
    if not isinstance(data, dict) or not data.get("from"):
        return jsonify(error="expected a JSON object with 'from' (and 'to', 'body', 'forge')"), 400
    status, text = simulator().inbound(
        str(data["from"]),
        str(data["to"]) if data.get("to") else None,
        str(data.get("body", "")),
        forge=bool(data.get("forge", False)),
    )
    if status is None:
        return jsonify(status=None, body="", error=text), 502
    return jsonify(status=status, body=text), 200
