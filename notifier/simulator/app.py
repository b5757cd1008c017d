"""The simulator's Flask app: Twilio's REST API plus the /sim endpoints, JSON everywhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from notifier.simulator import calls_api, ops_api, push_api, twilio_api
from notifier.simulator.core import Simulator

log = logging.getLogger("tocsin.simulator")


def create_app(sim: Simulator) -> Flask:
    app = Flask("tocsin-simulator")
    app.extensions["tocsin_simulator"] = sim
    app.register_blueprint(twilio_api.bp)
    app.register_blueprint(calls_api.bp)
    app.register_blueprint(ops_api.bp)
    app.register_blueprint(push_api.bp)
    app.register_error_handler(HTTPException, http_error)
    app.after_request(log_request)
    return app


# Twilio's codes for these, so a twilio client that hits a wrong path gets a readable error.
TWILIO_CODES = {404: 20404, 405: 20004}


def http_error(exc: HTTPException) -> tuple[Response, int]:
    status = exc.code or 500
    code = TWILIO_CODES.get(status, status)
    body = {
        "code": code,
        "message": exc.description,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return jsonify(body), status


def log_request(response: Response) -> Response:
    # One line per request, with the sid or error code of Twilio API answers.
    detail = ""
    if request.blueprint in ("twilio", "twilio_calls"):
        payload = response.get_json(silent=True)
        if isinstance(payload, dict):
            detail = str(payload.get("sid") or payload.get("code") or "")
    log.info("http %s %s %s %s", request.method, request.path, response.status_code, detail)
    return response
