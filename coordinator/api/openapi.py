"""The OpenAPI document of /api/v1, served at /api/v1/openapi.json.

Written by hand next to the views. Request bodies are checked against these
very schemas (validate.py), so every limit written here is a limit enforced;
the domain checks behind them (unknown team, 0,0 as a location) answer 400 too.
"""

from __future__ import annotations

from typing import Any

from broker.messages import CHANNELS
from coordinator.models import ANSWERS, INCIDENT_KINDS, INCIDENT_STATUSES, SEVERITIES
from coordinator.services.alerts import DEFAULT_CHANNELS, MAX_MESSAGE, MAX_QUORUM_MINUTES
from coordinator.services.targeting import MAX_RADIUS_M

MAX_ID = 2**31 - 1
MAX_BODY = 64 * 1024
# Text responders read: no control characters but tab and line breaks (PostgreSQL
# refuses NUL, and none of them belongs in an SMS).
TEXT = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"
NO_CONTROLS = "Must not hold control characters."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(_ref("Error"), description, **extra)


def _text(max_length: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": TEXT,
        "x-pattern-message": NO_CONTROLS,
        "description": description,
    }


TIME = {"type": "string", "format": "date-time"}
MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Targeting": {
        "type": "object",
        "additionalProperties": False,
        "description": "Who of the token's agency is alerted; absent fields: everyone on duty.",
        "properties": {
            "teams": {
                "type": "array",
                "maxItems": 50,
                "uniqueItems": True,
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                "description": "Team ids of the token's agency; absent or empty: every team.",
            },
            "skills": {
                "type": "array",
                "maxItems": 20,
                "uniqueItems": True,
                "items": {
                    "type": "string",
                    "pattern": "^[A-Za-z][A-Za-z0-9_]{0,39}$",
                    "x-pattern-message": "A skill is a word such as paramedic or first_aid.",
                },
                "description": "Responders with any of these skills; absent or empty: anyone.",
            },
            "on_duty_only": {"type": "boolean", "default": True},
            "radius_m": {
                "type": "number",
                "minimum": 1,
                "maximum": MAX_RADIUS_M,
                "description": "Only responders known to be this close to the incident.",
            },
        },
    },
    "Quorum": {
        "type": "object",
        "description": 'Responders needed, by skill ("any" counts everyone): {"firefighter": 4}.',
        "maxProperties": 10,
        "propertyNames": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9_]{0,39}$",
            "x-pattern-message": "A skill is a lower-case word such as firefighter.",
        },
        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 9999},
    },
    "Channels": {
        "type": "array",
        "minItems": 1,
        "maxItems": len(CHANNELS),
        "uniqueItems": True,
        "items": {"type": "string", "enum": list(CHANNELS)},
        "default": list(DEFAULT_CHANNELS),
        "description": "Sent at once on these; someone with none of them gets their first "
        "contact point.",
    },
    "IncidentCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "kind", "severity", "lat", "lon", "message"],
        "properties": {
            "title": _text(200, "What the incident is called on every message."),
            "kind": {"type": "string", "enum": list(INCIDENT_KINDS)},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "message": _text(MAX_MESSAGE, "What responders must know."),
            "mode": {"type": "string", "enum": ["live", "drill"], "default": "live"},
            "channels": _ref("Channels"),
            "agencies": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
                "description": "May only name the token's own agency (403 otherwise); "
                "absent: the token's agency.",
            },
            "targeting": _ref("Targeting"),
            "quorum": _ref("Quorum"),
            "quorum_minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_QUORUM_MINUTES,
                "description": "The next escalation step runs if the quorum is not met by then.",
            },
        },
    },
    "AlertCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["message"],
        "properties": {
            "message": _text(MAX_MESSAGE, "What responders must know."),
            "channels": _ref("Channels"),
            "targeting": _ref("Targeting"),
            "quorum": _ref("Quorum"),
            "quorum_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_QUORUM_MINUTES},
        },
    },
    "Links": {
        "type": "object",
        "required": ["self", "alerts", "answers"],
        "properties": {
            "self": {"type": "string"},
            "alerts": {"type": "string"},
            "answers": {"type": "string"},
        },
    },
    "Incident": {
        "type": "object",
        "required": [
            "id",
            "title",
            "kind",
            "severity",
            "lat",
            "lon",
            "mode",
            "status",
            "created_at",
            "links",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "kind": {"type": "string", "enum": list(INCIDENT_KINDS)},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "mode": {"type": "string", "enum": ["live", "drill"]},
            "status": {"type": "string", "enum": list(INCIDENT_STATUSES)},
            "created_at": TIME,
            "links": _ref("Links"),
        },
    },
    "AlertSummary": {
        "type": "object",
        "required": ["id", "incident_id", "kind", "notifications", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "incident_id": {"type": "integer"},
            "kind": {"type": "string"},
            "notifications": {
                "type": "integer",
                "minimum": 0,
                "description": "Notifications written: responders x channels.",
            },
            "quorum": COUNTS,
            "created_at": TIME,
        },
    },
    "IncidentCreated": {
        "allOf": [
            _ref("Incident"),
            {
                "type": "object",
                "required": ["alert"],
                "properties": {"alert": _ref("AlertSummary")},
            },
        ]
    },
    "QuorumProgress": {
        "type": "object",
        "required": ["alert_id", "needed", "answered", "met", "deadline_at", "met_at"],
        "properties": {
            "alert_id": {"type": "integer"},
            "needed": COUNTS,
            "answered": {
                **COUNTS,
                "description": "Responders whose latest answer to the alert says they are "
                "coming, by skill, over everyone the alert reached.",
            },
            "met": {"type": "boolean"},
            "deadline_at": MAYBE_TIME,
            "met_at": MAYBE_TIME,
        },
    },
    "IncidentStatus": {
        "allOf": [
            _ref("Incident"),
            {
                "type": "object",
                "required": ["agency", "responders", "notifications", "answers", "quorum"],
                "properties": {
                    "agency": {"type": "string"},
                    "responders": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "The agency's responders alerted.",
                    },
                    "notifications": {
                        "type": "object",
                        "additionalProperties": COUNTS,
                        "description": "Per channel, notifications by status.",
                    },
                    "answers": {**COUNTS, "description": "Responders by their latest answer."},
                    "quorum": {"type": "array", "items": _ref("QuorumProgress")},
                },
            },
        ]
    },
    "Answer": {
        "type": "object",
        "required": [
            "responder_id",
            "responder",
            "alert_id",
            "answer",
            "eta_minutes",
            "channel",
            "received_at",
        ],
        "properties": {
            "responder_id": {"type": "integer"},
            "responder": {"type": "string"},
            "alert_id": {"type": "integer"},
            "answer": {"type": "string", "enum": list(ANSWERS)},
            "eta_minutes": {"type": ["integer", "null"]},
            "channel": {"type": "string"},
            "received_at": TIME,
        },
    },
    "Answers": {
        "type": "object",
        "required": ["incident_id", "agency", "answers"],
        "properties": {
            "incident_id": {"type": "integer"},
            "agency": {"type": "string"},
            "answers": {"type": "array", "items": _ref("Answer")},
        },
    },
    "CapImported": {
        "allOf": [
            _ref("Incident"),
            {
                "type": "object",
                "required": ["origin", "cap", "alerts"],
                "properties": {
                    "origin": {"type": "string"},
                    "cap": {
                        "type": "object",
                        "required": ["id", "sender", "identifier", "msg_type", "status", "action"],
                        "properties": {
                            "id": {"type": "integer"},
                            "sender": {"type": "string"},
                            "identifier": {"type": "string"},
                            "msg_type": {"type": "string", "enum": ["Alert", "Update", "Cancel"]},
                            "status": {"type": "string", "enum": ["Actual", "Exercise"]},
                            "action": {
                                "type": "string",
                                "enum": ["opened", "updated", "stood_down", "recorded"],
                                "description": "What the document did to the incident.",
                            },
                        },
                    },
                    "alerts": {
                        "type": "array",
                        "items": _ref("AlertSummary"),
                        "description": "Alerts sent at once by agencies' CAP routing rules "
                        "(none unless a rule matches the event).",
                    },
                },
            },
        ]
    },
    "Error": {
        "type": "object",
        "required": ["error", "errors"],
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": 'What is wrong with each field: {"lat": "Must be at most 90."}',
            },
        },
    },
}

INCIDENT_ID = {
    "name": "incident_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
UNAUTHORIZED = _error(
    "No token, or an unknown or revoked one.",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
)
FORBIDDEN = _error("The incident or agency named is not the token's agency's.")
NOT_FOUND = _error("No such incident.")
BAD_BODY = {
    "400": _error("The body is not valid JSON, or a field is wrong: errors names each."),
    "413": _error(f"The body is larger than {MAX_BODY // 1024} KiB."),
    "415": _error("The body is not application/json."),
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


CAP_MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")
CAP_BODY = {
    "required": True,
    "description": "A CAP 1.2 <alert> document (OASIS), up to 1 MiB; no DOCTYPE.",
    "content": {media: {"schema": {"type": "string", "minLength": 1}} for media in CAP_MEDIA_TYPES},
}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
        }
    },
    "/api/v1/incidents": {
        "post": {
            "operationId": "createIncident",
            "summary": "Declare an incident and alert the token's agency.",
            "requestBody": _body("IncidentCreate"),
            "responses": {
                "201": _json(
                    _ref("IncidentCreated"),
                    "Declared; the alert is on its way.",
                    headers={
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "The incident's status URL.",
                        }
                    },
                ),
                **BAD_BODY,
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
            },
        }
    },
    "/api/v1/cap": {
        "post": {
            "operationId": "importCap",
            "summary": "Import a CAP 1.2 message for the token's agency: an Alert opens an "
            "incident without alerting anyone (unless a CAP routing rule matches its event); "
            "an Update or Cancel changes the incident an imported message it references opened.",
            "requestBody": CAP_BODY,
            "responses": {
                "201": _json(
                    _ref("CapImported"),
                    "An Alert opened the incident.",
                    headers={
                        "Location": {
                            "schema": {"type": "string"},
                            "description": "The incident's status URL.",
                        }
                    },
                ),
                "200": _json(_ref("CapImported"), "An Update or Cancel changed the incident."),
                "400": _error(
                    "Not valid CAP 1.2, or refused (status Test, a reference to nothing "
                    "imported, ...): errors names each problem's element, with its line."
                ),
                "401": UNAUTHORIZED,
                "409": _error("The same message (sender and identifier) was imported before."),
                "413": _error("The document is larger than 1 MiB."),
                "415": _error(f"The body is not {', '.join(CAP_MEDIA_TYPES)}."),
            },
        }
    },
    "/api/v1/incidents/{incident_id}": {
        "get": {
            "operationId": "getIncident",
            "summary": "Status, notifications, answers and quorum, for the token's agency.",
            "parameters": [INCIDENT_ID],
            "responses": {
                "200": _json(_ref("IncidentStatus"), "The incident as the agency sees it."),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        }
    },
    "/api/v1/incidents/{incident_id}/alerts": {
        "post": {
            "operationId": "sendAlert",
            "summary": "A further alert to the token's agency on an open incident it is part of.",
            "parameters": [INCIDENT_ID],
            "requestBody": _body("AlertCreate"),
            "responses": {
                "201": _json(_ref("AlertSummary"), "Sent."),
                **BAD_BODY,
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
                "409": _error("The incident is stood down or closed."),
            },
        }
    },
    "/api/v1/incidents/{incident_id}/answers": {
        "get": {
            "operationId": "getAnswers",
            "summary": "Every answer of the agency's responders, oldest first.",
            "parameters": [INCIDENT_ID],
            "responses": {
                "200": _json(_ref("Answers"), "The answers."),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
                "404": NOT_FOUND,
            },
        }
    },
}

DESCRIPTION = """\
For computer-aided dispatch systems. Every call but this document's needs
`Authorization: Bearer <token>`; an admin makes a token for one agency on the
console (Admin > API tokens) or with `tocsin api-token create`. A token alerts
and reads only its own agency's responders. Errors are JSON
`{"error": "...", "errors": {"field": "message"}}`; a path that does not exist
answers 404, a method a path does not take 405, both as JSON.
"""

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tocsin API", "version": "1.0.0", "description": DESCRIPTION},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An agency's token."}
        },
    },
    "security": [{"bearer": []}],
}
